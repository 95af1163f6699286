"""Experiment 8 (issue 19): does the range test's verdict predict what training then does? For
each configuration and seed: a range test of the paper's ResNet-20 (linear sweep to 3 times the
configuration's scale of rates, held-out accuracy with precise-BN statistics), then one cycle
against the paper's piecewise-constant schedule over the same budget (2 epochs of a 20,000-image
stratified subset, batch 128: 312 steps), both with BN fraction 0.95. The verdict is right when
it says "likely" exactly for the configurations where one cycle wins by at least --margin points
with every seed.

    python3 experiments/e8_verdict.py [--quick] [--margin 2] [--seeds 1,2] [--name verdicts]

The rule's two settings that were chosen on these runs (min_width, and Adam's plateau) are
checked on seeds they were not chosen on with --seeds 3 --name holdout.
"""
import json
import pathlib
import time

import numpy as np

from common import arguments, datasets, loaders, model_spec, one_cycle, piecewise_constant, scale, sc, train_run

# name: trainer keys and the scale of its learning rates (Adam's at 1/100 of SGD's, as the
# authors' 0.0035 for Adam against 0.35).
CONFIGURATIONS = {
    "sgd, weight decay 1e-4 (the demo's)": (dict(optimizer="sgd", weight_decay=1e-4), 1.0),
    "sgd, weight decay 1e-3 (the paper's case against)": (dict(optimizer="sgd", weight_decay=1e-3), 1.0),
    "adam, weight decay 1e-4": (dict(optimizer="adam", weight_decay=1e-4), 0.01),
    "nesterov, weight decay 1e-4": (dict(optimizer="nesterov", weight_decay=1e-4), 1.0),
}


def seeded_loaders(args, train, test, seed):
    """The run's loaders: the subset and its order depend on the seed, as the weights do."""
    return loaders(train, test, args.batch, subset=scale(args, 20000, 512), seed=seed, test_subset=scale(args, 0, 200))


def range_test(args, train, test, model, trainer_keys, rate, seed):
    loader, _ = seeded_loaders(args, train, test, seed)
    iterations = scale(args, 200, 30)
    x, y = loader.take(min(iterations, len(loader)) * loader.batch)
    held = sc.Loader(test, batch=500, shuffle=0, normalize="pixel")
    held.copy_normalization(loader)
    x_held, y_held = held.take(scale(args, 1000, 200))
    with sc.Model(**model) as net, sc.Trainer(net, **trainer_keys) as trainer:
        rt = trainer.range_test(x, y, x_held, y_held, sweep="linear", min_lr=0, max_lr=3 * rate, iterations=iterations,
                                batch=loader.batch, eval_every=scale(args, 8, 3), precise_bn=scale(args, 8, 2))
    points = rt.points()
    verdict, evidence = rt.verdict()
    return dict(verdict=verdict, evidence=evidence, values=rt.analysis(),
                points={k: [None if not np.isfinite(v) else float(v) for v in points[k]] for k in points})


def agrees(row, rows, margin):
    """Whether a run's verdict says "likely" exactly when one cycle won by `margin` points or more
    with every seed of its configuration."""
    gains = [other["gain"] for other in rows if other["configuration"] == row["configuration"]]
    return (row["verdict"] == "likely") == all(gain >= margin for gain in gains)


def main():
    args = arguments(__doc__, margin=2.0, batch=128, seeds="1,2", name="verdicts")
    folder = pathlib.Path(args.out) / "e8_verdict"
    folder.mkdir(parents=True, exist_ok=True)
    train, test = datasets()
    rows = []
    for name, (trainer_keys, rate) in CONFIGURATIONS.items():
        for seed in (int(s) for s in args.seeds.split(",")):
            started = time.time()
            model = model_spec(args, seed=seed)
            test_result = range_test(args, train, test, model, trainer_keys, rate, seed)
            accuracies = {}
            for schedule_name in ("one-cycle", "piecewise-constant"):
                loader, test_loader = seeded_loaders(args, train, test, seed)
                total = 2 * len(loader)
                schedule = (one_cycle(total, rate, base_lr=0.1 * rate) if schedule_name == "one-cycle"
                            else piecewise_constant(total, base_lr=0.35 * rate))
                tag = f"{trainer_keys['optimizer']}-wd{trainer_keys['weight_decay']:g}-seed{seed}-{schedule_name}"
                summary = train_run(args, folder, tag, model, trainer_keys, schedule, loader, test_loader, total)
                accuracies[schedule_name] = summary["final_accuracy"]
            gain = 100 * (accuracies["one-cycle"] - accuracies["piecewise-constant"])
            rows.append(dict(configuration=name, seed=seed, one_cycle=accuracies["one-cycle"],
                             piecewise_constant=accuracies["piecewise-constant"], gain=gain,
                             seconds=time.time() - started, **test_result))
            print(f"{name}, seed {seed}: verdict {rows[-1]['verdict']}, one cycle {100 * rows[-1]['one_cycle']:.2f}%, "
                  f"piecewise constant {100 * rows[-1]['piecewise_constant']:.2f}%, gain {gain:+.2f}", flush=True)
    for row in rows:
        row["agrees"] = agrees(row, rows, args.margin)
    command = "python3 experiments/e8_verdict.py" + ("" if args.name == "verdicts" else f" --seeds {args.seeds} --name {args.name}")
    (folder / f"{args.name}.json").write_text(json.dumps(dict(margin=args.margin, rows=rows, command=command), indent=1))


if __name__ == "__main__":
    main()
