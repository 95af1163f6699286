"""Experiment 1 (the paper's Figs. 2b and 4): an LR range test of the paper's ResNet-20 up to
lr 3 on Fashion-MNIST. Records training loss, held-out loss and accuracy against the learning
rate (in <out>/e1_range_test/range_test.json; the library keeps range tests in memory, so this
file is the run file), the verdict and the suggested bounds.

    python3 experiments/e1_range_test.py [--quick] [--iterations 1500] [--max-lr 3]
"""
import json
import pathlib
import time

import numpy as np

from common import arguments, datasets, loaders, model_spec, scale, sc


def main():
    args = arguments(__doc__, iterations=1500, max_lr=3.0, batch=128, eval_every=25, precise_bn=8)
    iterations = scale(args, args.iterations, 30)
    folder = pathlib.Path(args.out) / "e1_range_test"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    train, test = datasets()
    loader, test_loader = loaders(train, test, args.batch, subset=scale(args, 0, 600), seed=2,
                                  test_subset=scale(args, 2000, 200))
    # One pass over the data in the loader's shuffled order; the sweep wraps around it.
    x, y = loader.take(min(iterations * args.batch, len(loader) * args.batch))
    x_test, y_test = test_loader.take(scale(args, 2000, 200))
    model = model_spec(args)
    with sc.Model(**model) as net, sc.Trainer(net, weight_decay=1e-4) as trainer:
        rt = trainer.range_test(x, y, x_test, y_test, sweep="linear", min_lr=0, max_lr=args.max_lr,
                                iterations=iterations, batch=args.batch, eval_every=scale(args, args.eval_every, 5),
                                stop=0, precise_bn=scale(args, args.precise_bn, 2))
    points = rt.points()
    verdict, evidence = rt.verdict()
    summary = dict(model=model, iterations=iterations, max_lr=args.max_lr, batch=args.batch, precise_bn=args.precise_bn,
                   verdict=verdict,
                   evidence=evidence, values=rt.analysis(), seconds=time.time() - started,
                   command="python3 experiments/e1_range_test.py" + (" --quick" if args.quick else ""),
                   points={k: [None if not np.isfinite(v) else float(v) for v in points[k]] for k in points})
    (folder / "range_test.json").write_text(json.dumps(summary, indent=1))
    print(f"range test: {verdict}; paper bounds {summary['values']['paper_min']:.3g}..{summary['values']['paper_max']:.3g}"
          f" ({summary['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
