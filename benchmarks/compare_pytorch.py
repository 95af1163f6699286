"""superconv against PyTorch, side by side on this CPU (run through benchmarks/compare_pytorch).

Every measurement runs in a fresh process (so that its peak RSS is its own), the two libraries
alternate within each repeat, and the table shows medians and the ratio superconv / PyTorch.
Thread scaling is measured two ways: in one process per library and repeat, alternating steps at
2 and at 1 thread (the ratio of each adjacent pair's step times; the other tenants of a shared
machine change its state between runs a minute apart more than between steps a second apart),
and as the median over repeats of the 2-thread / 1-thread throughput ratio of whole runs made back
to back; beside them the machine's own scaling measured after each repeat (parallel_ceiling).
Both run the same networks (PyTorch's definitions are Tests/fixtures/make_pytorch_fixtures.py's),
random 3x32x32 batches, SGD with momentum 0.9 and weight decay 1e-4, the same thread count.
Peak RSS is each measuring process's VmHWM (the interpreter and the library's runtime included);
not ru_maxrss, which Linux carries over from the parent through fork and exec.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


# Eval runs on weights after this many training steps, the same for both libraries: freshly
# initialised weights are not what users evaluate, and PyTorch's oneDNN runs them at about half
# its speed on trained ones.
TRAINED_STEPS = 5


def child(lib, mode, depth, variant, batch, threads, steps, warmup):
    """One measurement; prints images/s and peak RSS in MiB. Mode "eval" times inference after
    `TRAINED_STEPS` training steps. Mode "scaling" trains instead in
    pairs of steps at 2 and at 1 thread (the order alternating from pair to pair, after warm-up
    steps at both) and prints each pair's ratio of step times, 1 thread / 2 threads."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)
    y = (np.arange(batch) % 10).astype(np.int64)
    if lib.startswith("superconv"):
        import superconv as sc
        set_threads = sc.set_num_threads
        set_threads(threads)
        model = sc.Model(depth=depth, variant=variant, input="3x32x32", classes=10)
        trainer = sc.Trainer(model, lr=0.05, momentum=0.9, weight_decay=1e-4, form="pytorch")
        if mode == "eval":
            for _ in range(TRAINED_STEPS):
                trainer.step(x, y)
        run = (lambda: model(x)) if mode == "eval" else (lambda: trainer.step(x, y))
    else:
        import torch
        import torch.nn.functional as F
        from make_pytorch_fixtures import CifarResNet
        set_threads = torch.set_num_threads
        set_threads(threads)
        model = CifarResNet(depth, variant)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)

        def train_step():
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(xt), yt).backward()
            optimizer.step()
        if mode != "eval":
            run = train_step
        else:
            for _ in range(TRAINED_STEPS):
                train_step()
            model.eval()

            def run():
                with torch.inference_mode():
                    model(xt)
    if mode == "scaling":
        def timed(n):
            set_threads(n)
            start = time.perf_counter()
            run()
            return time.perf_counter() - start
        for n in (2, 1):
            for _ in range(warmup):
                timed(n)
        ratios = []
        for pair in range(steps):
            first, second = (2, 1) if pair % 2 == 0 else (1, 2)
            seconds = {first: timed(first), second: timed(second)}
            ratios.append(seconds[1] / seconds[2])
        print(" ".join(f"{r:.4f}" for r in ratios))
        return
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        run()
    seconds = time.perf_counter() - start
    print(f"{steps * batch / seconds:.2f} {peak_rss_mib():.0f}")


FASHION = "/usr/share/datasets/fashion-mnist"


def fashion_mnist(split):
    """Images as float32 in [0, 1], [N, 1, 28, 28], and int64 labels, read with numpy."""
    import gzip
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(f"{FASHION}/{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
    with gzip.open(f"{FASHION}/{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return images, labels


def augmented(images, rng, padding, flip):
    """A random crop of each image with `padding` zero pixels around it, then a mirror with
    probability 1/2: the distribution of superconv's loader (augment=cropN,flip), drawn here so
    that both libraries train on the same pixels."""
    n, c, h, w = images.shape
    if padding:
        padded = np.pad(images, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        dy, dx = (rng.integers(0, 2 * padding + 1, size=n) for _ in range(2))
        rows = (dy[:, None] + np.arange(h))[:, None, :, None]
        cols = (dx[:, None] + np.arange(w))[:, None, None, :]
        images = padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]
    if flip:
        mirrored = rng.integers(0, 2, size=n).astype(bool)
        images = np.where(mirrored[:, None, None, None], images[..., ::-1], images)
    return images


def augmentation(spec):
    """(padding, flip) of an augment spec in the CLI's form: none, or a comma list of cropN and flip."""
    padding, flip = 0, False
    for item in filter(None, spec.split(",")):
        if item == "flip":
            flip = True
        elif item.startswith("crop") and item[4:].isdigit() and int(item[4:]) > 0:
            padding = int(item[4:])
        elif item != "none":
            raise SystemExit(f"--augment: expected none or a comma list of cropN and flip, not {item!r}")
    return padding, flip


def time_to_accuracy(lib, recipe):
    """Trains a ResNet on Fashion-MNIST with one cycle (PyTorch's OneCycleLR, three linear
    phases; superconv's onecycle_cosine with the same keys) and SGD in PyTorch's form, from the
    same data in the same order with the same augmentation, and prints a line "iteration
    training-seconds accuracy" per evaluation (every `recipe.eval_every` steps): training time
    excludes evaluations and the host's batch preparation. Stops at the first evaluation at or
    above `recipe.target`."""
    x, y = fashion_mnist("train")
    xt, yt = fashion_mnist("test")
    mean = x.mean(axis=0, keepdims=True)  # the paper's per-pixel mean subtraction, after augmentation
    xt = np.ascontiguousarray(xt - mean)
    padding, flip = augmentation(recipe.augment)
    per_epoch = len(x) // recipe.batch
    total = recipe.epochs * per_epoch
    rng = np.random.default_rng(1)
    orders = [rng.permutation(len(x)) for _ in range(recipe.epochs)]
    if lib.startswith("superconv"):
        import superconv as sc
        sc.set_num_threads(recipe.threads)
        model = sc.Model(depth=recipe.depth, variant=recipe.variant, input="1x28x28", classes=10, seed=1)
        trainer = sc.Trainer(model, weight_decay=recipe.weight_decay, form="pytorch")
        trainer.set_schedule(policy="onecycle_cosine", max_lr=recipe.max_lr, total_steps=total, three_phase=1,
                             anneal="linear")
        step = lambda xb, yb: trainer.step(xb, yb)  # noqa: E731
        accuracy = lambda: trainer.evaluate(xt, yt)[1]  # noqa: E731
    else:
        import torch
        import torch.nn.functional as F
        from make_pytorch_fixtures import CifarResNet
        torch.set_num_threads(recipe.threads)
        torch.manual_seed(1)
        net = CifarResNet(recipe.depth, recipe.variant, in_channels=1)
        biases = []
        for m in net.modules():  # MSRA initialisation, as superconv and the paper's Caffe files
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    torch.nn.init.zeros_(m.bias)
                    biases.append(m.bias)
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = 0.05  # superconv's default bn_maf = 0.95
        # The caffe variant's convolution and classifier biases learn at twice the rate, undecayed
        # (the paper's solver files, superconv's caffe ResNet); he-a's one bias, the classifier's,
        # learns as the weights.
        lr_factor, decayed = (2, 0.0) if recipe.variant == "caffe" else (1, recipe.weight_decay)
        others = [p for p in net.parameters() if all(p is not b for b in biases)]
        optimizer = torch.optim.SGD([{"params": others}, {"params": biases, "weight_decay": decayed}],
                                    lr=recipe.max_lr / 25, momentum=0.95, weight_decay=recipe.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[recipe.max_lr, lr_factor * recipe.max_lr],
                                                       total_steps=total, three_phase=True, anneal_strategy="linear")

        def step(xb, yb):
            net.train()
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(torch.from_numpy(xb)), torch.from_numpy(yb)).backward()
            optimizer.step()
            schedule.step()

        def accuracy():
            net.eval()
            with torch.inference_mode():
                correct = sum((net(torch.from_numpy(xt[i:i + 500])).argmax(1).numpy() == yt[i:i + 500]).sum()
                              for i in range(0, len(xt), 500))
            return correct / len(xt)
    trained = 0.0
    for epoch in range(recipe.epochs):
        for b in range(per_epoch):
            index = orders[epoch][b * recipe.batch:(b + 1) * recipe.batch]
            xb, yb = np.ascontiguousarray(augmented(x[index], rng, padding, flip) - mean), y[index]
            start = time.perf_counter()
            step(xb, yb)
            trained += time.perf_counter() - start
            iteration = epoch * per_epoch + b + 1
            if iteration % recipe.eval_every == 0 or iteration == total:
                acc = accuracy()
                print(f"{iteration} {trained:.1f} {acc:.4f}", flush=True)
                if acc >= recipe.target:
                    return


CEILING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build-c", "parallel_ceiling")


def machine_scaling():
    """1 -> 2 thread scaling of independent multiply-add chains right now (benchmarks/parallel_ceiling.c):
    what any library's scaling is bounded by at this moment on this shared machine."""
    return float(subprocess.run([CEILING, "3"], check=True, capture_output=True, text=True).stdout.split()[0])


def cpu_model():
    with open("/proc/cpuinfo") as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")


def vector_flags():
    """The CPU's flags that decide which kernels run (SSE and older left out)."""
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    return sorted(f for f in flags if f in ("avx", "avx2", "fma") or f.startswith("avx512") or f.startswith("amx"))


def child_environment(lib):
    """superconv:SET runs superconv on that instruction set's kernels (SUPERCONV_ISA)."""
    env = dict(os.environ)
    if lib.startswith("superconv:"):
        env["SUPERCONV_ISA"] = lib.split(":", 1)[1]
    return env


def measure(lib, *args):
    """A child's printed numbers: images/s and peak RSS, or for mode "scaling" the pairs' ratios."""
    out = subprocess.run([sys.executable, __file__, "--child", lib, *map(str, args)], check=True,
                         capture_output=True, text=True, env=child_environment(lib)).stdout.split()
    return [float(v) for v in out]


def throughput_tables(args, ours, libs):
    """The throughput, memory and thread-scaling tables: every measurement in its own process."""
    nets = [(20, "caffe")] if args.quick else [(20, "caffe"), (20, "he-a"), (56, "caffe"), (56, "he-a")]
    repeats = 1 if args.quick else args.repeats
    # (mode, depth, variant, batch, thread counts, steps). A library's training runs at 2 and at 1
    # thread follow each other directly (in alternating order), so that each repeat's scaling
    # compares runs on the same machine state; then the same library in one process alternates
    # steps at 2 and 1 thread, which compares steps a second apart instead of runs a minute apart.
    cases = []
    for depth, variant in nets:
        cases.append(("train", depth, variant, 128, (2, 1), args.steps))
        cases.append(("eval", depth, variant, 128, (2,), 2 * args.steps))
    if not args.quick:
        cases.append(("train", 56, "caffe", 1000, (2,), 2))

    print("\n| measurement | superconv img/s | PyTorch img/s | ratio | superconv peak RSS MiB | PyTorch peak RSS MiB | ratio |")
    print("|---|---|---|---|---|---|---|")

    def named(lib):
        return f" [{lib.split(':', 1)[1]}]" if ":" in lib else ""
    scaling = {}  # (net, lib) -> per-repeat 2-thread / 1-thread ratios of whole runs
    step_scaling = {}  # (net, lib) -> 1-thread / 2-thread step-time ratios of adjacent steps
    ceilings = {}  # net -> the machine's scaling, measured after each repeat of its training runs
    for mode, depth, variant, batch, thread_counts, steps in cases:
        net = (depth, variant)
        runs = {(lib, threads): [] for lib in libs for threads in thread_counts}
        for r in range(repeats):
            for lib in (libs if r % 2 == 0 else libs[::-1]):
                for threads in (thread_counts if r % 2 == 0 else thread_counts[::-1]):
                    runs[(lib, threads)].append(measure(lib, mode, depth, variant, batch, threads, steps, 2))
                if len(thread_counts) == 2:
                    two, one = runs[(lib, 2)][-1][0], runs[(lib, 1)][-1][0]
                    scaling.setdefault((net, lib), []).append(two / one)
                    step_scaling.setdefault((net, lib), []).extend(
                        measure(lib, "scaling", depth, variant, batch, 2, steps, 2))
            if len(thread_counts) == 2:
                ceilings.setdefault(net, []).append(machine_scaling())
        for threads in thread_counts:
            label = f"ResNet-{depth} {variant} {mode}, batch {batch}, {threads} thread{'s' if threads > 1 else ''}"
            p_ips, p_rss = (statistics.median(v[i] for v in runs[("pytorch", threads)]) for i in (0, 1))
            for lib in ours:
                s_ips, s_rss = (statistics.median(v[i] for v in runs[(lib, threads)]) for i in (0, 1))
                print(f"| {label}{named(lib)} | {s_ips:.1f} | {p_ips:.1f} | {s_ips / p_ips:.2f}x | {s_rss:.0f} | "
                      f"{p_rss:.0f} | {s_rss / p_rss:.2f}x |", flush=True)

    def spread(values):
        return f"{statistics.median(values):.2f}x ({min(values):.2f}x-{max(values):.2f}x)"

    def quartiles(values):
        q1, q2, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
        return f"{q2:.2f}x ({q1:.2f}x-{q3:.2f}x)"

    print("\n| 1 -> 2 threads, training | superconv, adjacent steps | PyTorch, adjacent steps "
          "| superconv, runs back to back | PyTorch, runs back to back | the machine (independent multiply-adds) |")
    print("|---|---|---|---|---|---|")
    for net in nets:
        for lib in ours:
            print(f"| ResNet-{net[0]} {net[1]}{named(lib)} | {quartiles(step_scaling[(net, lib)])} "
                  f"| {quartiles(step_scaling[(net, 'pytorch')])} | {spread(scaling[(net, lib)])} "
                  f"| {spread(scaling[(net, 'pytorch')])} | {spread(ceilings[net])} |")
    print("(adjacent steps: median and quartiles of the ratios of step times, 1 thread / 2 threads, of "
          f"{repeats} x {args.steps} pairs in one process per repeat; runs back to back: median and range over the "
          "repeats of whole runs' throughput ratios; the machine: median and range after each repeat)")


def time_to_accuracy_table(args, recipe, libs):
    """Each library's time-to-accuracy run in its own process, then the accuracy curves."""
    name = f"ResNet-{args.depth} {args.variant}, one cycle to {args.max_lr:g}, batch {args.batch}, " \
           f"weight decay {args.weight_decay:g}, augment {args.augment}, {args.epochs} epochs, {args.threads} " \
           f"thread{'s' if args.threads > 1 else ''}"
    curves = {}
    for lib in libs:
        options = [f"{option.option_strings[0]}={getattr(args, option.dest)}" for option in recipe]
        out = subprocess.run([sys.executable, __file__, "--child-tta", lib, *options],
                             check=True, capture_output=True, text=True, env=child_environment(lib)).stdout
        curves[lib] = [(int(i), float(t), float(a)) for i, t, a in (line.split() for line in out.splitlines())]
    print(f"\n| time to {100 * args.target:g}% Fashion-MNIST test accuracy ({name}) | iteration | training seconds "
          "| accuracy then |")
    print("|---|---|---|---|")
    for lib, curve in curves.items():
        iteration, seconds, accuracy = curve[-1]
        reached = accuracy >= args.target
        shown = accuracy if reached else max(a for _, _, a in curve)
        print(f"| {lib} | {iteration if reached else f'not reached in {args.epochs} epochs'} | {seconds:.0f} "
              f"| {100 * shown:.2f}%{'' if reached else ' (best)'} |", flush=True)
    print(f"\ntest accuracy every {args.eval_every} iterations (training seconds):")
    for lib, curve in curves.items():
        print(f"{lib}: " + " ".join(f"{i}:{100 * a:.2f}%({t:.0f}s)" for i, t, a in curve))


def recipe_options(parser):
    """Adds the time-to-accuracy run's options (the defaults are its first, fixed recipe) and
    returns them, so that the child that trains gets the same values."""
    group = parser.add_argument_group("time to accuracy", "the recipe that --time-to-accuracy trains, the same in "
                                      "both libraries (one cycle: PyTorch's OneCycleLR, three linear phases)")
    return [
        group.add_argument("--target", type=float, default=0.90, help="test accuracy to reach, a fraction "
                           "(default 0.90)"),
        group.add_argument("--epochs", type=int, default=4, help="length of the cycle (default 4)"),
        group.add_argument("--depth", type=int, default=20, help="ResNet depth, 6n+2 (default 20)"),
        group.add_argument("--variant", choices=("caffe", "he-a"), default="caffe"),
        group.add_argument("--batch", type=int, default=128),
        group.add_argument("--max-lr", type=float, default=1.0, help="the cycle's peak learning rate (default 1)"),
        group.add_argument("--weight-decay", type=float, default=1e-4),
        group.add_argument("--augment", default="none", help="none, or a comma list of cropN (N zero pixels of "
                           "padding, a random window) and flip, as superconv train's --augment (default none)"),
        group.add_argument("--eval-every", type=int, default=50, help="iterations between evaluations (default 50)"),
        group.add_argument("--threads", type=int, default=2),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement (after 2 warm-up steps)")
    parser.add_argument("--quick", action="store_true", help="ResNet-20 caffe only, one repeat")
    parser.add_argument("--time-to-accuracy", action="store_true",
                        help="also train a ResNet on Fashion-MNIST with one cycle in both until the target test "
                             "accuracy (several minutes per library)")
    parser.add_argument("--time-to-accuracy-only", action="store_true",
                        help="the time-to-accuracy run without the throughput tables")
    parser.add_argument("--isa", help="comma list of instruction sets to run superconv on, each measured beside "
                                      "PyTorch in the same run (e.g. avx2,avx512); default: the library's choice")
    parser.add_argument("--child", nargs=8, help=argparse.SUPPRESS)
    parser.add_argument("--child-tta", nargs=1, help=argparse.SUPPRESS)
    recipe = recipe_options(parser)
    args = parser.parse_args()
    if args.child_tta:
        return time_to_accuracy(args.child_tta[0], args)
    if args.child:
        lib, mode, depth, variant, batch, threads, steps, warmup = args.child
        return child(lib, mode, int(depth), variant, int(batch), int(threads), int(steps), int(warmup))

    import superconv
    import torch
    print(f"CPU: {cpu_model()}; {os.cpu_count()} logical CPUs; vector flags: {' '.join(vector_flags())}")
    print(f"superconv {superconv.version()}: kernels {superconv.instruction_set()}; {superconv.blas_info()}"
          f"{'; OPENBLAS_CORETYPE=' + os.environ['OPENBLAS_CORETYPE'] if 'OPENBLAS_CORETYPE' in os.environ else ''}")
    print(f"PyTorch {torch.__version__} ({torch.backends.mkldnn.is_available() and 'oneDNN' or 'no oneDNN'}; "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()})", flush=True)
    ours = tuple(f"superconv:{name}" for name in args.isa.split(",")) if args.isa else ("superconv",)
    libs = ours + ("pytorch",)
    if not args.time_to_accuracy_only:
        throughput_tables(args, ours, libs)
    if args.time_to_accuracy or args.time_to_accuracy_only:
        time_to_accuracy_table(args, recipe, libs)


if __name__ == "__main__":
    main()
