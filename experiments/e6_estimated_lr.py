"""Experiment 6 (the paper's Fig. 5): the secant estimate of the optimal learning rate (Eq. 8)
along training. Fig. 5a: snapshots one iteration apart (inc 1) over the first 300 iterations of
a CLR run; Fig. 5b: snapshots ten iterations apart (inc 10) along a whole run at a constant
learning rate of 0.1 and along one cycle of CLR. Here: the paper's ResNet-20 on Fashion-MNIST,
batch 128, each of the Fig. 5b runs --epochs long, the CLR ones one cycle 0.1 -> --max-lr.
The estimates are columns of each run file (lr_estimate, lr_estimate_smoothed).

    python3 experiments/e6_estimated_lr.py [--quick] [--epochs 1] [--max-lr 1.0] [--first 300]
"""
import pathlib

from common import arguments, datasets, epoch_length, model_spec, one_cycle, run_loaders, scale, train_run


def main():
    args = arguments(__doc__, epochs=1, max_lr=1.0, first=300, batch=128)
    folder = pathlib.Path(args.out) / "e6_estimated_lr"
    train, test = datasets()
    epoch = epoch_length(args, train, test)
    total = scale(args, args.epochs, 2) * epoch
    first = scale(args, args.first, 12)
    clr = one_cycle(total, args.max_lr, momentum=0.9)
    runs = (("clr first iterations inc=1", clr, first, 1),
            ("constant lr=0.1 inc=10", dict(policy="fixed", base_lr=0.1, momentum=0.9), total, scale(args, 10, 2)),
            ("clr inc=10", clr, total, scale(args, 10, 2)))
    for name, schedule, iterations, inc in runs:
        loader, test_loader = run_loaders(args, train, test)
        train_run(args, folder, name, model_spec(args), dict(weight_decay=1e-4), schedule, loader, test_loader, iterations,
                  estimator=dict(inc=inc), settings=dict(inc=inc, policy=schedule["policy"]))


if __name__ == "__main__":
    main()
