"""The main job: is super-convergence visible on Fashion-MNIST here?

1. an LR range test on the paper's ResNet (its suggestion and super-convergence verdict);
2. one cycle (PyTorch's OneCycleLR form, three linear phases) against the paper's
   piecewise-constant schedule (multistep from 0.35, x0.1 at 50% and 75%) with the same budget;
3. a comparison table, run files and PNG figures.

    python3 bindings/python/examples/superconvergence.py [--train 20000] [--epochs 2] [--out docs/demo]
"""
import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import superconv as sc  # noqa: E402
from superconv import plot  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=20000, help="training images (stratified subset)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--variant", default="caffe")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--max-lr", type=float, default=1.0, help="one-cycle peak (the paper's 3 is for batch 1000)")
    parser.add_argument("--out", default="docs/demo", help="folder for run files and figures")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    train = sc.Dataset(format="idx", images=f"{DATA}/train-images-idx3-ubyte.gz", labels=f"{DATA}/train-labels-idx1-ubyte.gz")
    test = sc.Dataset(format="idx", images=f"{DATA}/t10k-images-idx3-ubyte.gz", labels=f"{DATA}/t10k-labels-idx1-ubyte.gz")
    loader = sc.Loader(train, batch=args.batch, seed=1, normalize="pixel", subset=args.train, subset_mode="stratified")
    test_loader = sc.Loader(test, batch=500, shuffle=0, normalize="pixel")
    test_loader.copy_normalization(loader)
    model_spec = dict(depth=args.depth, variant=args.variant, input="1x28x28", classes=10, seed=1)
    print(f"superconv {sc.version()}, {sc.get_num_threads()} threads; ResNet-{args.depth} ({args.variant}), "
          f"{len(loader) * args.batch} training images, batch {args.batch}")

    # 1. The range test, on the paper's linear sweep to 3.
    started = time.time()
    x, y = sc.Loader(train, batch=args.batch, seed=2, normalize="pixel", subset=args.train,
                     subset_mode="stratified").take(160 * args.batch)
    # From a loader of its own: taking from test_loader would leave it mid-epoch for fit's first
    # evaluation.
    val_loader = sc.Loader(test, batch=500, shuffle=0, normalize="pixel")
    val_loader.copy_normalization(loader)
    x_val, y_val = val_loader.take(1000)
    with sc.Model(**model_spec) as model, sc.Trainer(model) as trainer:
        rt = trainer.range_test(x, y, x_val, y_val, sweep="linear", min_lr=0.01, max_lr=3, iterations=160,
                                batch=args.batch, eval_every=8)
    verdict, evidence = rt.verdict()
    plot.range_test(rt, out / "range_test.png", title=f"LR range test, ResNet-{args.depth} on Fashion-MNIST")
    print(f"\nrange test ({time.time() - started:.0f} s): paper bounds {rt.value('paper_min'):.3g} .. "
          f"{rt.value('paper_max'):.3g}, fastai valley {rt.value('valley'):.3g}; super-convergence {verdict}:\n  {evidence}")

    # 2. One cycle against piecewise constant, same budget.
    total = args.epochs * len(loader)
    schedules = {
        "one-cycle": dict(policy="onecycle_cosine", max_lr=args.max_lr, total_steps=total, three_phase=1,
                          anneal="linear"),
        "piecewise-constant": dict(policy="multistep", base_lr=0.35, gamma=0.1,
                                   stepvalues=f"{total // 2},{3 * total // 4}"),
    }
    rows = []
    for name, schedule in schedules.items():
        started = time.time()
        with sc.Model(**model_spec) as model, sc.Trainer(model, weight_decay=1e-4) as trainer:
            trainer.set_schedule(**schedule)
            trainer.attach_lr_estimator(inc=10)
            trainer.record(out / f"{name}.h5", flush_every=50)
            history = trainer.fit(loader, epochs=args.epochs, eval_data=test_loader, progress=True)
            trainer.record(None)
        best = max(h["test_accuracy"] for h in history)
        rows.append((name, history[-1]["test_accuracy"], best, total, time.time() - started))

    print(f"\n| schedule | final test accuracy | best | iterations | wall time |")
    print("|---|---|---|---|---|")
    for name, final, best, iterations, seconds in rows:
        print(f"| {name} | {100 * final:.2f}% | {100 * best:.2f}% | {iterations} | {seconds:.0f} s |")
    runs = {name: out / f"{name}.h5" for name in schedules}
    plot.training_curves(runs, out / "curves.png")
    plot.learning_rate(runs, out / "lr.png")
    plot.estimated_lr(runs, out / "estimate.png")
    print(f"\nfigures: {', '.join(str(out / n) for n in ('range_test.png', 'curves.png', 'lr.png', 'estimate.png'))}")


if __name__ == "__main__":
    main()
