"""Experiment 4 (the paper's Table 1, bottom, and Fig. 6a): with less labelled data, does one
cycle's lead over piecewise constant grow? For 1/6, 1/3, 1/2, 2/3 and all of Fashion-MNIST's
60,000 training images (stratified subsets: the paper's 10k-40k of CIFAR-10's 50k are the same
counts), one cycle (BN fraction 0.95) against the paper's PC-LR recipe (BN fraction 0.999) given
--pc-factor times the iterations. As in the paper the iteration budgets do not depend on the
amount of data, so smaller sets are seen for more epochs. The paper's ResNet-20, batch 128.

    python3 experiments/e4_limited_data.py [--quick] [--iterations 200] [--pc-factor 3] [--max-lr 1.0]
"""
import pathlib
from fractions import Fraction

from common import arguments, datasets, model_spec, one_cycle, piecewise_constant, run_loaders, scale, train_run

FRACTIONS = (Fraction(1, 6), Fraction(1, 3), Fraction(1, 2), Fraction(2, 3), Fraction(1))


def main():
    args = arguments(__doc__, iterations=200, pc_factor=3, max_lr=1.0, batch=128)
    folder = pathlib.Path(args.out) / "e4_limited_data"
    train, test = datasets()
    clr_total = scale(args, args.iterations, 8)
    pc_total = args.pc_factor * clr_total
    full = scale(args, len(train), 600)
    for fraction in FRACTIONS:
        samples = int(full * fraction)
        for name, schedule, total, maf in (("one-cycle", one_cycle(clr_total, args.max_lr), clr_total, 0.95),
                                           ("piecewise-constant", piecewise_constant(pc_total), pc_total, 0.999)):
            loader, test_loader = run_loaders(args, train, test, subset=samples)
            train_run(args, folder, f"{name} samples={samples:05d}", model_spec(args, bn_maf=maf), dict(weight_decay=1e-4),
                      schedule, loader, test_loader, total,
                      settings=dict(schedule_name=name, samples=samples, fraction=str(fraction)))


if __name__ == "__main__":
    main()
