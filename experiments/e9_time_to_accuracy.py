"""Experiment 9 (issue 19): Fashion-MNIST to 93% test accuracy in minutes on 2 cores,
DAWNBench-style. The recipe is a command a user can copy (RECIPE, run with `superconv train`);
this script runs it as a user would, times the whole command (wall time, the build excluded), and
keeps the run file's accuracy after every epoch. With --pytorch it then runs
`benchmarks/compare_pytorch --time-to-accuracy-only` on the same recipe: the training seconds to
the target of PyTorch and of superconv, fed the same augmented batches in the same order.

    python3 experiments/e9_time_to_accuracy.py [--quick] [--pytorch 1] [--target 0.93]
"""
import json
import pathlib
import re
import shlex
import shutil
import subprocess
import time

from common import ROOT, arguments, scale

# ResNet-20 (the paper's Caffe network), batch 128, random 2-pixel crops and flips, one cycle in
# PyTorch's OneCycleLR form (three linear phases, peak lr 1, momentum 0.95 -> 0.85), SGD in
# PyTorch's form, weight decay 1e-4, 18 epochs; an evaluation of the test set after each epoch.
RECIPE = ("--depth 20 --variant caffe --batch 128 --augment crop2,flip --form pytorch --policy onecycle_cosine "
          "--three-phase 1 --anneal linear --max-lr 1 --weight-decay 1e-4 --eval-every 1 --threads 2")


def cpu_model():
    """The CPU's name with its family and model (a VM's name may say only "AMD EPYC")."""
    with open("/proc/cpuinfo") as f:
        fields = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    return f"{fields.get('model name', 'unknown')} family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"


def main():
    args = arguments(__doc__, epochs=18, target=0.93, pytorch=0)
    folder = pathlib.Path(args.out) / "e9_time_to_accuracy"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "cli"
    shutil.rmtree(out, ignore_errors=True)
    epochs = scale(args, args.epochs, 1)
    command = (f"superconv train {RECIPE} --epochs {epochs} --out {out}" + (" --subset 512" if args.quick else ""))
    subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "build"], check=True, capture_output=True)
    started = time.time()
    subprocess.run([str(ROOT / ".build" / "release" / "superconv"), *shlex.split(command)[1:], "--quiet"], check=True)
    wall = time.time() - started
    import h5py
    with h5py.File(out / "run.h5", "r") as f:
        e = f["evaluations"]
        curve = [dict(iteration=int(i), accuracy=float(a), seconds=float(t))
                 for i, a, t in zip(e["iteration"][()], e["accuracy"][()], e["time"][()])]
    reached = next((point for point in curve if point["accuracy"] >= args.target), None)
    summary = dict(command=command.replace(str(out), "runs/tta"), wall_seconds=wall, curve=curve, target=args.target,
                   reached=reached, final_accuracy=curve[-1]["accuracy"], cpu=cpu_model(), epochs=epochs)
    print(f"{100 * summary['final_accuracy']:.2f}% after {epochs} epochs in {wall:.0f} s; "
          + (f"{100 * args.target:g}% first at iteration {reached['iteration']} ({reached['seconds']:.0f} s)" if reached
             else f"{100 * args.target:g}% not reached"), flush=True)
    if args.pytorch:
        recipe = ["--time-to-accuracy-only", "--target", str(args.target), "--epochs", str(epochs), "--depth", "20",
                  "--variant", "caffe", "--batch", "128", "--max-lr", "1", "--weight-decay", "1e-4",
                  "--augment", "crop2,flip", "--eval-every", "468", "--threads", "2"]
        table = subprocess.run([str(ROOT / "benchmarks" / "compare_pytorch"), *recipe], check=True,
                               capture_output=True, text=True).stdout
        rows = {}
        for line in table.splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 4 and cells[0] in ("superconv", "pytorch"):
                rows[cells[0]] = dict(iteration=cells[1], seconds=float(cells[2]),
                                      accuracy=float(re.sub(r"%.*", "", cells[3])) / 100)
        summary["comparison"] = dict(command="benchmarks/compare_pytorch " + " ".join(recipe), rows=rows, output=table)
        print(table, flush=True)
    (folder / "time_to_accuracy.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
