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

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bindings" / "python"))
import superconv as sc  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def arguments(description, **defaults):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a smoke-test-sized run (seconds)")
    parser.add_argument("--out", default=str(ROOT / "experiments" / "runs"), help="folder of the run files")
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


def model_spec(args, **overrides):
    spec = dict(depth=scale(args, 20, 8), variant="caffe", input="1x28x28", classes=10, seed=1)
    spec.update(overrides)
    return spec


def train_run(folder, name, model, trainer_keys, schedule, loader, test_loader, epochs, estimator=None,
              eval_every_epoch=True, settings=None):
    """Trains one configuration, recording every step and the test evaluations, and writes the
    run file and its JSON summary. Returns the summary."""
    folder.mkdir(parents=True, exist_ok=True)
    run_file = folder / f"{name}.h5"
    started = time.time()
    with sc.Model(**model) as net, sc.Trainer(net, **trainer_keys) as trainer:
        trainer.set_schedule(**schedule)
        if estimator is not None:
            trainer.attach_lr_estimator(**estimator)
        trainer.record(run_file, flush_every=100)
        history = trainer.fit(loader, epochs=epochs, eval_data=test_loader if eval_every_epoch else None,
                              progress=False)
        if not eval_every_epoch:
            history[-1]["test_loss"], history[-1]["test_accuracy"] = trainer.evaluate(test_loader)
        trainer.record(None)
        iterations = trainer.iteration
    summary = dict(name=name, model=model, trainer=trainer_keys, schedule=schedule, epochs=epochs,
                   iterations=iterations, final_accuracy=history[-1]["test_accuracy"],
                   best_accuracy=max(h.get("test_accuracy", 0) for h in history),
                   final_train_loss=history[-1]["train_loss"], seconds=time.time() - started,
                   command=" ".join(shlex.quote(a) for a in [sys.executable.split("/")[-1]] + sys.argv),
                   run_file=run_file.name, **(settings or {}))
    (folder / f"{name}.json").write_text(json.dumps(summary, indent=1))
    print(f"{name}: test accuracy {100 * summary['final_accuracy']:.2f}% (best {100 * summary['best_accuracy']:.2f}%) "
          f"after {iterations} iterations, {summary['seconds']:.0f} s", flush=True)
    return summary
