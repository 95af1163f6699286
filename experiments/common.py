"""What the experiments share: Fashion-MNIST through the library's data layer, the paper's
network, one training run recorded to a run file with a JSON summary next to it.

Every experiment script takes --quick (a ResNet-8 on a few hundred images for a few dozen steps:
the test suite's smoke test) and --out (default experiments/runs); it writes, per run,
<out>/<experiment>/<run>.h5 (the library's run file) and <run>.json (settings, results, wall
time, the command), which experiments/report.py turns into REPRODUCTION.md.
"""
import argparse
import json
import pathlib
import shlex
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bindings" / "python"))
import superconv as sc  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def arguments(description, **defaults):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a smoke-test-sized run (seconds)")
    parser.add_argument("--out", default=str(ROOT / "experiments" / "runs"), help="folder of the run files")
    parser.add_argument("--skip-existing", action="store_true",
                        help="keep runs whose summary is already in --out instead of training them again")
    for name, value in defaults.items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    return parser.parse_args()


def scale(args, full, quick):
    """The full-size value, or the quick one with --quick."""
    return quick if args.quick else full


def datasets():
    train = sc.Dataset(format="idx", images=f"{DATA}/train-images-idx3-ubyte.gz",
                       labels=f"{DATA}/train-labels-idx1-ubyte.gz")
    test = sc.Dataset(format="idx", images=f"{DATA}/t10k-images-idx3-ubyte.gz",
                      labels=f"{DATA}/t10k-labels-idx1-ubyte.gz")
    return train, test


def loaders(train, test, batch, subset=0, seed=1, test_subset=0):
    """A shuffled training loader (stratified subset when subset > 0) with the paper's per-pixel
    mean subtraction, and a test loader normalised with the training statistics."""
    keys = dict(subset=subset, subset_mode="stratified") if subset else {}
    loader = sc.Loader(train, batch=batch, seed=seed, normalize="pixel", **keys)
    test_keys = dict(subset=test_subset, subset_mode="stratified") if test_subset else {}
    test_loader = sc.Loader(test, batch=500, shuffle=0, normalize="pixel", **test_keys)
    test_loader.copy_normalization(loader)
    return loader, test_loader


def run_loaders(args, train, test, batch=None, subset=None):
    """Loaders for a run: `subset` training images (default all of them; 512 with --quick) in
    batches of `batch` (default --batch), and the test set (200 images with --quick). Scripts
    make fresh ones per run so that every run sees the same images in the same order."""
    subset = scale(args, 0, 512) if subset is None else subset
    return loaders(train, test, batch or args.batch, subset=subset if subset < len(train) else 0,
                   test_subset=scale(args, 0, 200))


def epoch_length(args, train, test, batch=None):
    """Batches per epoch of run_loaders' training loader."""
    return len(run_loaders(args, train, test, batch)[0])


def model_spec(args, **overrides):
    spec = dict(depth=scale(args, 20, 8), variant="caffe", input="1x28x28", classes=10, seed=1)
    spec.update(overrides)
    return spec


def one_cycle(total, max_lr, base_lr=0.1, momentum="0.95,0.85"):
    """Smith's one cycle over `total` iterations: linear from base_lr up to max_lr over 45%,
    back over 45%, then the annihilation to base_lr/1000 (with cyclical momentum by default)."""
    return dict(policy="onecycle", base_lr=base_lr, max_lr=max_lr, stepsize=max(1, total * 9 // 20), max_iter=total,
                momentum=momentum)


def piecewise_constant(total, base_lr=0.35, momentum=0.9):
    """The paper's PC-LR recipe over `total` iterations: base_lr, times 0.1 at 5/8 and 7/8 (its
    50,000 and 70,000 of 80,000)."""
    return dict(policy="multistep", base_lr=base_lr, gamma=0.1, momentum=momentum,
                stepvalues=f"{max(1, total * 5 // 8)},{max(2, total * 7 // 8)}")


def batch_statistics_accuracy(net, model, test_loader):
    """The trained network's test accuracy when every test batch is normalised with its own
    statistics instead of BatchNorm's running ones: tells how much of a run's test accuracy the
    moving-average fraction cost it (the paper's Section 6.1). None if the run already did so."""
    tensors = net.state_dict()
    if model.get("bn_eval") == "batch" or not all(np.isfinite(t).all() for t in tensors.values()):
        return None  # a diverged run's last update may have overflowed a weight
    with sc.Model(**dict(model, bn_eval="batch")) as twin, sc.Trainer(twin) as evaluator:
        twin.load_state_dict(tensors)
        return evaluator.evaluate(test_loader)[1]


def train_run(args, folder, name, model, trainer_keys, schedule, loader, test_loader, iterations, evaluate_every=None,
              estimator=None, settings=None):
    """Trains one configuration for `iterations` steps, evaluating on test_loader every
    `evaluate_every` steps (None: only at the end) and always at the end, recording every step
    and evaluation; writes the run file and its JSON summary. Returns the summary."""
    folder.mkdir(parents=True, exist_ok=True)
    run_file = folder / f"{name}.h5"
    if args.skip_existing and (folder / f"{name}.json").exists():
        print(f"{name}: kept from {folder}", flush=True)
        return json.loads((folder / f"{name}.json").read_text())
    started = time.time()
    losses, evaluations = [], []
    with sc.Model(**model) as net, sc.Trainer(net, **trainer_keys) as trainer:
        trainer.set_schedule(**schedule)
        if estimator is not None:
            trainer.attach_lr_estimator(**estimator)
        trainer.record(run_file, flush_every=100)
        # Step by step rather than by epochs: budgets need not be whole epochs, and the
        # loader wraps around into its next (reshuffled) epoch. A step whose loss or gradients
        # are not finite ends the run as diverged (the library leaves the weights as they were
        # after the last finite step, and those are evaluated).
        diverged_at = None
        while len(losses) < iterations and diverged_at is None:
            for x, labels in loader:
                try:
                    losses.append(trainer.step(x, labels)[0])
                except sc.NonFiniteError:
                    diverged_at = len(losses)
                    print(f"  {name}: diverged at iteration {diverged_at}", file=sys.stderr, flush=True)
                done = len(losses)
                if done == iterations or diverged_at is not None or (evaluate_every and done % evaluate_every == 0):
                    evaluations.append(trainer.evaluate(test_loader)[1])
                    print(f"  {name}: iteration {done}/{iterations}, test accuracy {100 * evaluations[-1]:.2f}%",
                          file=sys.stderr, flush=True)
                if done == iterations or diverged_at is not None:
                    break
        trainer.record(None)
        batch_statistics = batch_statistics_accuracy(net, model, test_loader)
    # The training loss of the last epoch's worth of steps (or of the whole run if shorter).
    window = losses[-min(len(losses), len(loader)):]
    summary = dict(name=name, model=model, trainer=trainer_keys, schedule=schedule, iterations=iterations,
                   batch_size=loader.batch, train_samples=loader.info()["samples"],
                   final_accuracy=evaluations[-1], best_accuracy=max(evaluations),
                   batch_statistics_accuracy=batch_statistics, diverged_at=diverged_at,
                   final_train_loss=sum(window) / len(window) if window else None, seconds=time.time() - started,
                   command=" ".join(shlex.quote(a) for a in [sys.executable.split("/")[-1]] + sys.argv),
                   run_file=run_file.name, **(settings or {}))
    (folder / f"{name}.json").write_text(json.dumps(summary, indent=1))
    print(f"{name}: test accuracy {100 * summary['final_accuracy']:.2f}% (best {100 * summary['best_accuracy']:.2f}%) "
          f"after {len(losses)} iterations{'' if diverged_at is None else ' (diverged)'}, {summary['seconds']:.0f} s",
          flush=True)
    return summary
