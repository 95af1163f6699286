"""Experiment 2 (the paper's Fig. 1a and Table 1, top): one cycle of the learning rate to a large
peak (BN moving-average fraction 0.95, the paper's for CLR) against the paper's piecewise-constant
recipe (PC-LR: 0.35, times 0.1 at 5/8 and 7/8 of its budget, as 50k and 70k of 80k, BN fraction
0.999) given three times the iterations, on Fashion-MNIST with the paper's ResNet-20 and batch 128.
A third run repeats the baseline with the BN fraction 0.95, to tell the schedule's share of the
difference from BatchNorm's (experiment 5).

    python3 experiments/e2_superconvergence.py [--quick] [--epochs 2] [--max-lr 1.0]
"""
import pathlib

from common import (arguments, datasets, epoch_length, model_spec, one_cycle, piecewise_constant, run_loaders, scale,
                    train_run)


def main():
    args = arguments(__doc__, epochs=2, max_lr=1.0, batch=128, pc_factor=3)
    folder = pathlib.Path(args.out) / "e2_superconvergence"
    train, test = datasets()
    epoch = epoch_length(args, train, test)
    clr_total = scale(args, args.epochs, 1) * epoch
    pc_total = args.pc_factor * clr_total
    runs = {"one-cycle": (one_cycle(clr_total, args.max_lr), clr_total, 0.95),
            "piecewise-constant": (piecewise_constant(pc_total), pc_total, 0.999),
            "piecewise-constant bn_maf=0.95": (piecewise_constant(pc_total), pc_total, 0.95)}
    for name, (schedule, total, maf) in runs.items():
        loader, test_loader = run_loaders(args, train, test)
        train_run(args, folder, name, model_spec(args, bn_maf=maf), dict(weight_decay=1e-4), schedule, loader,
                  test_loader, total, evaluate_every=epoch, estimator=dict(inc=10))


if __name__ == "__main__":
    main()
