"""Experiment 2 (the paper's Fig. 1a and Table 1, top): one cycle of the learning rate to a large
peak (BN moving-average fraction 0.95, the paper's for CLR) against the paper's piecewise-constant
recipe (PC-LR: 0.35, times 0.1 at 5/8 and 7/8 of its budget, as 50k and 70k of 80k, BN fraction
0.999) given three times the iterations, on Fashion-MNIST with the paper's ResNet-20 and batch 128.

    python3 experiments/e2_superconvergence.py [--quick] [--epochs 2] [--max-lr 1.0]
"""
import pathlib

from common import arguments, datasets, loaders, model_spec, scale, train_run


def main():
    args = arguments(__doc__, epochs=2, max_lr=1.0, batch=128, pc_factor=3)
    folder = pathlib.Path(args.out) / "e2_superconvergence"
    train, test = datasets()
    loader, test_loader = loaders(train, test, args.batch, subset=scale(args, 0, 512),
                                  test_subset=scale(args, 0, 200))
    epochs = scale(args, args.epochs, 1)
    clr_total = epochs * len(loader)
    pc_epochs = args.pc_factor * epochs
    pc_total = pc_epochs * len(loader)
    runs = {
        # Smith's one cycle: linear up from 0.1 to the peak over 45%, down over 45%, then the
        # annihilation to 1/1000 of the base.
        "one-cycle": (dict(policy="onecycle", base_lr=0.1, max_lr=args.max_lr, stepsize=clr_total * 9 // 20,
                           max_iter=clr_total, momentum="0.95,0.85"), epochs, 0.95),
        "piecewise-constant": (dict(policy="multistep", base_lr=0.35, gamma=0.1, momentum=0.9,
                                    stepvalues=f"{pc_total * 5 // 8},{pc_total * 7 // 8}"), pc_epochs, 0.999),
    }
    for name, (schedule, run_epochs, maf) in runs.items():
        train_run(folder, name, model_spec(args, bn_maf=maf), dict(weight_decay=1e-4), schedule, loader, test_loader,
                  run_epochs, estimator=dict(inc=10))


if __name__ == "__main__":
    main()
