"""A PyTorch training loop with superconv's instruments: Fashion-MNIST on the paper's ResNet-20
(superconv's caffe network as a torch.nn.Module), trained by torch.optim.SGD.

1. superconv's range test on the PyTorch model and optimizer: suggestions, the paper's bounds
   and the verdict (and a figure with superconv.plot when matplotlib is installed); the model and
   optimizer are as before afterwards;
2. one cycle (PyTorch's OneCycleLR form) to the range test's paper_max, lr and momentum set each
   step by superconv's schedule, with the Eq. 8 estimate along the way;
3. the trained module back into superconv (from_torch), which evaluates it too.

    make torch-example TORCH_EXAMPLE_ARGS="--train 20000 --epochs 2"
    python3 bindings/python/examples/torch_one_cycle.py [--train 20000] [--epochs 2] [--out DIR]
"""
import argparse
import math
import pathlib
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import superconv as sc  # noqa: E402
import superconv.torch as sct  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def cpu_name():
    """The model name with its family and model numbers (virtual machines often show a bare "AMD
    EPYC")."""
    fields = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    if "model name" not in fields:
        return platform.processor()
    return f"{fields['model name']} family {fields.get('cpu family', '?')} model {fields.get('model', '?')}"


def arrays(split, normalization=None):
    """Images and labels of a split as arrays, read and normalised per channel by superconv's
    data layer (the test split with the training split's statistics)."""
    prefix = "train" if split == "train" else "t10k"
    dataset = sc.Dataset(format="idx", images=f"{DATA}/{prefix}-images-idx3-ubyte.gz",
                         labels=f"{DATA}/{prefix}-labels-idx1-ubyte.gz")
    loader = sc.Loader(dataset, batch=1000, shuffle=0, normalize="channel")
    if normalization is not None:
        loader.copy_normalization(normalization)
    x, y = loader.take(len(dataset))
    return x, y.astype(np.int64), loader


def accuracy(model, loader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
    model.train()
    return correct / len(loader.dataset)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=20000, help="training images (the first N of the 60,000)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--range-iterations", type=int, default=100)
    parser.add_argument("--out", default=None, help="folder for the range test's figure (needs matplotlib)")
    args = parser.parse_args()
    torch.manual_seed(1)

    x, y, normalization = arrays("train")
    x_test, y_test, _ = arrays("test", normalization)
    train = torch.utils.data.TensorDataset(torch.from_numpy(x[: args.train]), torch.from_numpy(y[: args.train]))
    test = torch.utils.data.TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test))
    train_loader = torch.utils.data.DataLoader(train, batch_size=args.batch, shuffle=True, drop_last=True)
    test_loader = torch.utils.data.DataLoader(test, batch_size=500)
    held_out = torch.utils.data.DataLoader(torch.utils.data.Subset(test, range(1000)), batch_size=500)

    model = sct.to_torch(sc.Model(depth=20, variant="caffe", input="1x28x28", classes=10, seed=1)).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    print(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads), superconv {sc.version()}; "
          f"CPU: {cpu_name()}; ResNet-20 (caffe), {len(train)} training images, batch {args.batch}")

    # 1. The range test, on the paper's linear sweep.
    started = time.time()
    rt = sct.range_test(model, optimizer, train_loader, held_out, sweep="linear", min_lr=0.01, max_lr=3,
                        iterations=args.range_iterations, eval_every=10)
    verdict, evidence = rt.verdict()
    max_lr = rt.value("paper_max")
    print(f"range test ({time.time() - started:.0f} s, {len(rt)} steps): paper bounds {rt.value('paper_min'):.3g} .. "
          f"{max_lr:.3g}, valley {rt.value('valley'):.3g}; super-convergence {verdict}: {evidence}")
    if args.out:
        from superconv import plot
        pathlib.Path(args.out).mkdir(parents=True, exist_ok=True)
        plot.range_test(rt, pathlib.Path(args.out) / "torch_range_test.png", title="LR range test, PyTorch ResNet-20")
    if not math.isfinite(max_lr):
        max_lr = 1.0
        print(f"no accuracy peak in the range test; one cycle to {max_lr}")

    # 2. One cycle to the range test's bound, lr and momentum from superconv's schedule.
    steps = args.epochs * len(train_loader)
    scheduler = sct.ScheduleLR(optimizer, policy="onecycle_cosine", max_lr=max_lr, total_steps=steps)
    estimator = sct.ModelLREstimator(model, optimizer, every=10)
    started = time.time()
    for epoch in range(1, args.epochs + 1):
        losses, hits, seen = 0.0, 0, 0
        for xb, yb in train_loader:
            optimizer.zero_grad()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            optimizer.step()
            estimator.step()
            scheduler.step()
            losses += loss.item() * len(yb)
            hits += (logits.argmax(1) == yb).sum().item()
            seen += len(yb)
        print(f"epoch {epoch}: train loss {losses / seen:.4f} accuracy {hits / seen:.4f}, test accuracy "
              f"{accuracy(model, test_loader):.4f}, lr {scheduler.get_last_lr()[0]:.4g}, "
              f"Eq. 8 estimate {estimator.estimate:.3g} ({time.time() - started:.0f} s)")
    final = accuracy(model, test_loader)

    # 3. The trained module in superconv: the same network, its logits from sc_model_forward.
    with sct.from_torch(model, input="1x28x28") as trained:
        superconv_accuracy = float(np.mean(np.concatenate(
            [trained(x_test[i:i + 500]).argmax(1) for i in range(0, len(x_test), 500)]) == y_test))
    print(f"one cycle to {max_lr:.3g} in {steps} steps ({time.time() - started:.0f} s): test accuracy "
          f"{final:.4f} in PyTorch, {superconv_accuracy:.4f} evaluated by superconv")


if __name__ == "__main__":
    main()
