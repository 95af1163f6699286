"""Experiment 7 (the paper's Figs. 8-11, Tables 5-6): where super-convergence holds. Short runs
of the paper's ResNet-20 on Fashion-MNIST (each --iterations steps at batch 128), one setting
changed at a time from the base: SGD with momentum 0.9, weight decay 1e-4, one cycle 0.1 ->
--max-lr (BN fraction 0.95).
  optimizers   sgd, nesterov, adagrad, adadelta, adam, each with one cycle and with the paper's
               piecewise-constant recipe (0.35, x0.1 at 5/8 and 7/8; BN fraction 0.999) over the
               same budget; Adam at 1/100 of those rates, as the authors' 0.0035 for Adam's 0.35
  momentum     0.8, 0.85, 0.9, 0.95 (constant)
  weight decay 1e-3, 1e-4, 1e-5, 1e-6
  batch size   64, 128, 256, 512 for the same number of epochs (so fewer steps for larger batches)
  dropout      0 and 0.2 before the classifier

    python3 experiments/e7_optimizers.py [--quick] [--iterations 200] [--max-lr 1.0]
"""
import pathlib

from common import arguments, datasets, model_spec, one_cycle, piecewise_constant, run_loaders, scale, train_run

OPTIMIZERS = ("sgd", "nesterov", "adagrad", "adadelta", "adam")


def configurations(iterations, max_lr):
    """Every run: its group, name, batch, model keys, trainer keys, schedule and budget."""
    def run(group, name, batch=128, model=None, trainer=None, schedule=None):
        keys = dict(optimizer="sgd", momentum=0.9, weight_decay=1e-4)
        keys.update(trainer or {})
        total = max(2, iterations * 128 // batch)  # the same number of epochs at every batch size
        return dict(group=group, name=name, batch=batch, model=model or {}, trainer=keys, iterations=total,
                    schedule=schedule or one_cycle(total, max_lr, momentum=keys["momentum"]))

    runs = []
    for optimizer in OPTIMIZERS:
        rate = 0.01 if optimizer == "adam" else 1.0
        runs.append(run("optimizer", f"optimizer={optimizer} one-cycle", trainer=dict(optimizer=optimizer),
                        schedule=one_cycle(iterations, rate * max_lr, base_lr=rate * 0.1, momentum=0.9)))
        runs.append(run("optimizer", f"optimizer={optimizer} piecewise-constant", model=dict(bn_maf=0.999),
                        trainer=dict(optimizer=optimizer),
                        schedule=piecewise_constant(iterations, base_lr=rate * 0.35)))
    runs += [run("momentum", f"momentum={m}", trainer=dict(momentum=m)) for m in (0.8, 0.85, 0.95)]
    runs += [run("weight decay", f"weight_decay={wd:g}", trainer=dict(weight_decay=wd)) for wd in (1e-3, 1e-5, 1e-6)]
    runs += [run("batch", f"batch={b}", batch=b) for b in (64, 256, 512)]
    runs.append(run("dropout", "dropout=0.2", model=dict(dropout=0.2)))
    return runs


def main():
    args = arguments(__doc__, iterations=200, max_lr=1.0)
    folder = pathlib.Path(args.out) / "e7_optimizers"
    train, test = datasets()
    for r in configurations(scale(args, args.iterations, 6), args.max_lr):
        loader, test_loader = run_loaders(args, train, test, batch=r["batch"])
        train_run(args, folder, r["name"], model_spec(args, **r["model"]), r["trainer"], r["schedule"], loader, test_loader,
                  r["iterations"], settings=dict(group=r["group"], batch=r["batch"]))


if __name__ == "__main__":
    main()
