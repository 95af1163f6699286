"""superconv against PyTorch, side by side on this CPU (run through benchmarks/compare_pytorch).

Every measurement runs in a fresh process (so that its peak RSS is its own), the two libraries
alternate within each repeat, and the table shows medians and the ratio superconv / PyTorch.
Both run the same networks (PyTorch's definitions are Tests/fixtures/make_pytorch_fixtures.py's),
random 3x32x32 batches, SGD with momentum 0.9 and weight decay 1e-4, the same thread count.
Peak RSS is each Python process's ru_maxrss, the interpreter and the library's runtime included.
"""
import argparse
import resource
import statistics
import subprocess
import sys
import time


def child(lib, mode, depth, variant, batch, threads, steps, warmup):
    """One measurement; prints images/s and peak RSS in MiB."""
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)
    y = (np.arange(batch) % 10).astype(np.int64)
    if lib == "superconv":
        import superconv as sc
        sc.set_num_threads(threads)
        model = sc.Model(depth=depth, variant=variant, input="3x32x32", classes=10)
        trainer = sc.Trainer(model, lr=0.05, momentum=0.9, weight_decay=1e-4, form="pytorch")
        run = (lambda: trainer.step(x, y)) if mode == "train" else (lambda: model(x))
    else:
        import torch
        import torch.nn.functional as F
        from make_pytorch_fixtures import CifarResNet
        torch.set_num_threads(threads)
        model = CifarResNet(depth, variant)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        if mode == "train":
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)

            def run():
                optimizer.zero_grad(set_to_none=True)
                F.cross_entropy(model(xt), yt).backward()
                optimizer.step()
        else:
            model.eval()

            def run():
                with torch.inference_mode():
                    model(xt)
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        run()
    seconds = time.perf_counter() - start
    print(f"{steps * batch / seconds:.2f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


def measure(lib, *args):
    out = subprocess.run([sys.executable, __file__, "--child", lib, *map(str, args)], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement (after 2 warm-up steps)")
    parser.add_argument("--quick", action="store_true", help="ResNet-20 caffe only, one repeat")
    parser.add_argument("--child", nargs=8, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        lib, mode, depth, variant, batch, threads, steps, warmup = args.child
        return child(lib, mode, int(depth), variant, int(batch), int(threads), int(steps), int(warmup))

    import superconv
    import torch
    print(f"superconv {superconv.version()} ({superconv.blas_info()}); PyTorch {torch.__version__} "
          f"({torch.backends.mkldnn.is_available() and 'oneDNN' or 'no oneDNN'})", flush=True)
    nets = [(20, "caffe")] if args.quick else [(20, "caffe"), (20, "he-a"), (56, "caffe"), (56, "he-a")]
    repeats = 1 if args.quick else args.repeats
    cases = []  # (label, mode, depth, variant, batch, threads, steps, what)
    for depth, variant in nets:
        for mode in ("train", "eval"):
            cases.append((f"ResNet-{depth} {variant} {mode}, batch 128, 2 threads", mode, depth, variant, 128, 2,
                          args.steps if mode == "train" else 2 * args.steps))
        cases.append((f"ResNet-{depth} {variant} train, batch 128, 1 thread", "train", depth, variant, 128, 1,
                      args.steps))
    if not args.quick:
        cases.append(("ResNet-56 caffe train, batch 1000, 2 threads", "train", 56, "caffe", 1000, 2, 2))

    print("\n| measurement | superconv img/s | PyTorch img/s | ratio | superconv peak RSS MiB | PyTorch peak RSS MiB | ratio |")
    print("|---|---|---|---|---|---|---|")
    results = {}
    for label, mode, depth, variant, batch, threads, steps in cases:
        runs = {"superconv": [], "pytorch": []}
        for r in range(repeats):
            order = ("superconv", "pytorch") if r % 2 == 0 else ("pytorch", "superconv")
            for lib in order:
                runs[lib].append(measure(lib, mode, depth, variant, batch, threads, steps, 2))
        s_ips = statistics.median(v[0] for v in runs["superconv"])
        p_ips = statistics.median(v[0] for v in runs["pytorch"])
        s_rss = statistics.median(v[1] for v in runs["superconv"])
        p_rss = statistics.median(v[1] for v in runs["pytorch"])
        results[label] = (s_ips, p_ips)
        print(f"| {label} | {s_ips:.1f} | {p_ips:.1f} | {s_ips / p_ips:.2f}x | {s_rss:.0f} | {p_rss:.0f} | "
              f"{s_rss / p_rss:.2f}x |", flush=True)

    print("\n| 1 -> 2 threads, training | superconv | PyTorch |")
    print("|---|---|---|")
    for depth, variant in nets:
        one = results[f"ResNet-{depth} {variant} train, batch 128, 1 thread"]
        two = results[f"ResNet-{depth} {variant} train, batch 128, 2 threads"]
        print(f"| ResNet-{depth} {variant} | {two[0] / one[0]:.2f}x | {two[1] / one[1]:.2f}x |")


if __name__ == "__main__":
    main()
