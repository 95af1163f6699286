"""Figures in the manner of the paper's, with matplotlib (optional dependency, no display
needed): the range test (Figs. 2 and 4), training curves of several runs (Fig. 1) and the
estimated learning rate (Fig. 5). From the command line:

    python -m superconv.plot RUN.h5 [RUN2.h5 ...] -o DIR

draws curves.png, lr.png and estimate.png from run files written by Trainer.record."""
import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path):
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return fig


def range_test(rt, path=None, title="LR range test"):
    """Accuracy and loss against the learning rate, with the paper's bounds marked."""
    p = rt.points()
    has_test = np.isfinite(p["test_acc"]).any()
    accuracy = p["test_acc"] if has_test else p["train_acc"]
    fig, left = plt.subplots(figsize=(7, 4.2))
    keep = np.isfinite(accuracy)
    left.plot(p["lr"][keep], accuracy[keep], "o-", color="tab:blue", ms=3,
              label="test accuracy" if has_test else "train accuracy")
    left.set_xlabel("learning rate")
    left.set_ylabel("accuracy")
    right = left.twinx()
    right.plot(p["lr"], p["smoothed_loss"], color="tab:red", lw=1, label="train loss (smoothed)")
    if np.isfinite(p["test_loss"]).any():
        k = np.isfinite(p["test_loss"])
        right.plot(p["lr"][k], p["test_loss"][k], "s--", color="tab:orange", ms=3, label="test loss")
    right.set_ylabel("loss")
    right.set_yscale("log")  # held-out losses can spike by orders of magnitude at large rates
    low, high = rt.value("plateau_low"), rt.value("plateau_high")
    if np.isfinite(low) and np.isfinite(high):
        left.axvspan(low, high, color="tab:green", alpha=0.08, label=f"plateau {low:.3g} .. {high:.3g}")
    for name, style in (("paper_min", ":"), ("paper_max", "--")):
        value = rt.value(name)
        if np.isfinite(value):
            left.axvline(value, color="gray", ls=style, label=f"{name} {value:.3g}")
    verdict, _ = rt.verdict()
    left.set_title(f"{title} — super-convergence {verdict}")
    lines = left.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    left.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="best")
    return _save(fig, path)


def _read(run):
    import h5py
    with h5py.File(run, "r") as f:
        return ({k: f["iterations"][k][()] for k in f["iterations"]},
                {k: f["evaluations"][k][()] for k in f["evaluations"]},
                {k: v.decode() if isinstance(v, bytes) else v for k, v in f.attrs.items()})


def training_curves(runs, path=None):
    """Test accuracy against iteration for several run files (Fig. 1); runs: {label: path}."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, run in runs.items():
        _, evaluations, _ = _read(run)
        ax.plot(evaluations["iteration"], evaluations["accuracy"], "o-", ms=3, label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _per_step(runs, column, label, path):
    """One column of the per-step records against iteration, one line per run."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for name, run in runs.items():
        iterations, _, _ = _read(run)
        ax.plot(iterations["iteration"], iterations[column], label=name)
    ax.set_xlabel("iteration")
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
    return _save(fig, path)


def learning_rate(runs, path=None):
    """The learning rate of every step (the schedules compared)."""
    return _per_step(runs, "lr", "learning rate", path)


def estimated_lr(runs, path=None):
    """The Eq. 8 estimate against iteration (Fig. 5), for runs recorded with an estimator."""
    return _per_step(runs, "lr_estimate_smoothed", "estimated learning rate", path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m superconv.plot", description="Figures from superconv run files.")
    parser.add_argument("runs", nargs="+", help="run files written by Trainer.record")
    parser.add_argument("-o", "--output", default=".", help="folder for the PNG files")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    runs = {pathlib.Path(r).stem: r for r in args.runs}
    training_curves(runs, out / "curves.png")
    learning_rate(runs, out / "lr.png")
    estimated_lr(runs, out / "estimate.png")
    print("\n".join(str(out / n) for n in ("curves.png", "lr.png", "estimate.png")))


if __name__ == "__main__":
    main()
