"""The main job: super-convergence on Fashion-MNIST, in minutes on two cores.

1. an LR range test of the paper's ResNet-20 (linear sweep to lr 3, held-out accuracy evaluated
   with precise-BN statistics): its plateau, the paper's bounds, fastai's suggestion, the verdict;
2. one cycle (PyTorch's OneCycleLR form, three linear phases) against the paper's
   piecewise-constant schedule (0.35, x0.1 at 50% and 75%) over the same budget, with test
   accuracy on a fixed held-out set every --eval-every iterations (the paper's Fig. 1a);
3. a table of the final accuracy on all 10,000 test images; run files and figures in --out.

    python3 bindings/python/examples/superconvergence.py [--epochs 3] [--train 0] [--out runs/demo]
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


def train(name, args, model_spec, schedule, loader, held_out, test_loader, out):
    """One run, step by step, evaluating the held-out set every args.eval_every iterations (the
    run file records the steps and these evaluations); returns the final test accuracy."""
    started = time.time()
    total = args.epochs * len(loader)
    with sc.Model(**model_spec) as model, sc.Trainer(model, weight_decay=1e-4) as trainer:
        trainer.set_schedule(**schedule)
        trainer.attach_lr_estimator(inc=10)
        trainer.record(out / f"{name}.h5", flush_every=100)
        trainer.evaluate(*held_out)
        for _ in range(args.epochs):
            for x, labels in loader:
                trainer.step(x, labels)
                if trainer.iteration % args.eval_every == 0 or trainer.iteration == total:
                    accuracy = trainer.evaluate(*held_out)[1]
                    if trainer.iteration % (10 * args.eval_every) == 0 or trainer.iteration == total:
                        print(f"  {name}: iteration {trainer.iteration}/{total}, held-out accuracy {100 * accuracy:.2f}%"
                              f" ({time.time() - started:.0f} s)", flush=True)
        trainer.record(None)
        return trainer.evaluate(test_loader)[1], total, time.time() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=0, help="training images (a stratified subset; 0: all 60,000)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--variant", default="caffe")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--max-lr", type=float, default=1.0, help="one-cycle peak (the paper's 3 is for batch 1000)")
    parser.add_argument("--eval-every", type=int, default=20, help="iterations between held-out evaluations")
    parser.add_argument("--held-out", type=int, default=2000, help="test images of the fixed held-out set")
    parser.add_argument("--range-test-iterations", type=int, default=200)
    parser.add_argument("--out", default="runs/demo", help="folder for run files and figures")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.time()

    train_set = sc.Dataset(format="idx", images=f"{DATA}/train-images-idx3-ubyte.gz",
                           labels=f"{DATA}/train-labels-idx1-ubyte.gz")
    test_set = sc.Dataset(format="idx", images=f"{DATA}/t10k-images-idx3-ubyte.gz",
                          labels=f"{DATA}/t10k-labels-idx1-ubyte.gz")
    subset = dict(subset=args.train, subset_mode="stratified") if args.train else {}

    def training_loader(seed):
        return sc.Loader(train_set, batch=args.batch, seed=seed, normalize="pixel", **subset)

    def test_loader(loader):
        result = sc.Loader(test_set, batch=500, shuffle=0, normalize="pixel")
        result.copy_normalization(loader)
        return result

    loader = training_loader(1)
    held_out = test_loader(loader).take(args.held_out)
    model_spec = dict(depth=args.depth, variant=args.variant, input="1x28x28", classes=10, seed=1)
    print(f"superconv {sc.version()}, {sc.get_num_threads()} threads, {sc.instruction_set()} kernels; "
          f"ResNet-{args.depth} ({args.variant}), {loader.info()['samples']} training images, batch {args.batch}",
          flush=True)

    # 1. The range test: the paper's linear sweep to 3, on batches the training will not see first.
    started = time.time()
    sweep_loader = training_loader(2)
    x, y = sweep_loader.take(min(args.range_test_iterations, len(sweep_loader)) * args.batch)
    with sc.Model(**model_spec) as model, sc.Trainer(model) as trainer:
        rt = trainer.range_test(x, y, held_out[0][:1000], held_out[1][:1000], sweep="linear", min_lr=0, max_lr=3,
                                iterations=args.range_test_iterations, batch=args.batch, eval_every=8, precise_bn=8,
                                progress=True)
    verdict, evidence = rt.verdict()
    plot.range_test(rt, out / "range_test.png", title=f"LR range test, ResNet-{args.depth} on Fashion-MNIST")
    print(f"\nrange test ({time.time() - started:.0f} s): paper bounds {rt.value('paper_min'):.3g} .. "
          f"{rt.value('paper_max'):.3g}, fastai valley {rt.value('valley'):.3g}\n"
          f"super-convergence {verdict}: {evidence}\n", flush=True)

    # 2. One cycle against piecewise constant, same budget, same data order.
    total = args.epochs * len(loader)
    schedules = {
        "one-cycle": dict(policy="onecycle_cosine", max_lr=args.max_lr, total_steps=total, three_phase=1,
                          anneal="linear"),
        "piecewise-constant": dict(policy="multistep", base_lr=0.35, gamma=0.1,
                                   stepvalues=f"{total // 2},{3 * total // 4}"),
    }
    rows = []
    for name, schedule in schedules.items():
        loader = training_loader(1)
        rows.append((name, *train(name, args, model_spec, schedule, loader, held_out, test_loader(loader), out)))

    runs = {name: out / f"{name}.h5" for name in schedules}
    plot.training_curves(runs, out / "curves.png")
    plot.learning_rate(runs, out / "lr.png")
    plot.estimated_lr(runs, out / "estimate.png")
    print(f"\n| schedule | test accuracy (10,000 images) | iterations | wall time |")
    print("|---|---|---|---|")
    for name, accuracy, iterations, seconds in rows:
        print(f"| {name} | {100 * accuracy:.2f}% | {iterations} | {seconds:.0f} s |")
    print(f"\nrange test: super-convergence {verdict}; one cycle {'ahead' if rows[0][1] > rows[1][1] else 'behind'} "
          f"by {100 * (rows[0][1] - rows[1][1]):+.2f} points. {time.time() - began:.0f} s in all.")
    print(f"figures: {', '.join(str(out / n) for n in ('range_test.png', 'curves.png', 'lr.png', 'estimate.png'))}")


if __name__ == "__main__":
    main()
