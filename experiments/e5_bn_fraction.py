"""Experiment 5 (the paper's Section 6.1): for a short run, BatchNorm's moving-average fraction
(bn_maf) decides whether the running statistics used at test time have caught up with the
weights: Caffe's default 0.999 against the 0.95 the paper used for short runs (and 0.98 and the
other values of its Table 1, 0.97 to 0.80), and, for comparison, normalising test batches with
their own statistics (bn_eval=batch). One cycle of one epoch on Fashion-MNIST, the paper's
ResNet-20.

    python3 experiments/e5_bn_fraction.py [--quick] [--epochs 1] [--max-lr 1.0]
"""
import pathlib

from common import arguments, datasets, model_spec, one_cycle, run_loaders, scale, train_run


def main():
    args = arguments(__doc__, epochs=1, max_lr=1.0, batch=128)
    folder = pathlib.Path(args.out) / "e5_bn_fraction"
    train, test = datasets()
    # One pair of loaders for the five runs: each takes whole epochs of it.
    loader, test_loader = run_loaders(args, train, test)
    total = scale(args, args.epochs, 1) * len(loader)
    # Caffe's default, 0.98, the paper's Table 1 values (0.97 ... 0.80), and batch statistics.
    fractions = (0.999, 0.98, 0.97, 0.95, 0.93, 0.9, 0.85, 0.8)
    for maf, bn_eval in [(maf, "global") for maf in fractions] + [(0.999, "batch")]:
        name = f"bn_maf={maf} bn_eval={bn_eval}"
        train_run(args, folder, name, model_spec(args, bn_maf=maf, bn_eval=bn_eval), dict(weight_decay=1e-4),
                  one_cycle(total, args.max_lr), loader, test_loader, total,
                  evaluate_every=len(loader), settings=dict(bn_maf=maf, bn_eval=bn_eval))


if __name__ == "__main__":
    main()
