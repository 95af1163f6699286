"""Experiment 3 (the paper's Fig. 1b and Table 1, cycle lengths): one cycle of the learning rate
over budgets that span a factor of ten, each with the BN moving-average fraction the paper tied
to that length (its 2,000 / 4,000 / 6,000 / 8,000 / 10,000 / 20,000 iterations with 0.80 / 0.85 /
0.90 / 0.93 / 0.95 / 0.97). Here the paper's 10,000 iterations become --epochs-at-10k epochs of
Fashion-MNIST (default 1, 469 iterations at batch 128) and the others scale with it; the paper's
ResNet-20, peak --max-lr.

    python3 experiments/e3_cycle_length.py [--quick] [--epochs-at-10k 1.0] [--max-lr 1.0]
"""
import pathlib

from common import arguments, datasets, model_spec, one_cycle, run_loaders, scale, train_run

# The paper's (iterations, BN fraction) pairs of Table 1.
PAPER_BUDGETS = ((2000, 0.80), (4000, 0.85), (6000, 0.90), (8000, 0.93), (10000, 0.95), (20000, 0.97))


def main():
    args = arguments(__doc__, epochs_at_10k=1.0, max_lr=1.0, batch=128)
    folder = pathlib.Path(args.out) / "e3_cycle_length"
    train, test = datasets()
    for paper_iterations, maf in PAPER_BUDGETS:
        loader, test_loader = run_loaders(args, train, test)
        at_10k = scale(args, args.epochs_at_10k, 5.0) * len(loader)
        total = max(2, round(at_10k * paper_iterations / 10000))
        train_run(args, folder, f"paper={paper_iterations:05d} budget={total}", model_spec(args, bn_maf=maf),
                  dict(weight_decay=1e-4), one_cycle(total, args.max_lr), loader, test_loader, total,
                  settings=dict(paper_iterations=paper_iterations, bn_maf=maf))


if __name__ == "__main__":
    main()
