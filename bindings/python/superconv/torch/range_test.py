"""The learning-rate range test on a PyTorch model, optimizer and data loaders."""
import collections
import contextlib
import copy
import math

from .. import RangeTest, Schedule

# The keys of sc_trainer_range_test that apply to a host's loop (its batches come from the
# loader), and eval_batches: how many held-out batches each evaluation reads (0: all).
SWEEP_DEFAULTS = {"sweep": "linear", "min_lr": 0.0, "max_lr": 3.0, "iterations": 500, "eval_every": 10, "stop": 1,
                  "precise_bn": 8, "eval_batches": 0}


def sweep_settings(keys):
    """The sweep's settings: SWEEP_DEFAULTS with `keys` applied and checked."""
    unknown = sorted(set(keys) - set(SWEEP_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown range test key {unknown[0]}; expected one of {', '.join(SWEEP_DEFAULTS)}")
    settings = dict(SWEEP_DEFAULTS, **keys)
    if settings["sweep"] not in ("linear", "exp"):
        raise ValueError(f"sweep={settings['sweep']}; expected linear or exp")
    for key in ("iterations", "eval_every", "precise_bn", "eval_batches"):
        settings[key] = int(settings[key])
    if settings["iterations"] < 2:
        raise ValueError(f"iterations={settings['iterations']}; expected at least 2")
    if settings["eval_every"] < 1:
        raise ValueError(f"eval_every={settings['eval_every']}; expected at least 1")
    if settings["precise_bn"] < 0:
        raise ValueError(f"precise_bn={settings['precise_bn']}; expected 0 or more")
    return settings


def learning_rates(settings):
    """The sweep's learning rates: the library's linear_ramp or exp_ramp schedule (ending at
    max_lr on the last step), so that they are those sc_trainer_range_test uses."""
    policy = "exp_ramp" if settings["sweep"] == "exp" else "linear_ramp"
    with Schedule(policy=policy, base_lr=settings["min_lr"], max_lr=settings["max_lr"],
                  max_iter=settings["iterations"] - 1) as ramp:
        return [float(lr) for lr in ramp.table(0, settings["iterations"])[0]]


def sweep(step, evaluate, rates, eval_every, stop, result, callback=None):
    """Runs the sweep apart from any framework: step(lr) takes one training step and returns
    its (loss, accuracy), a non-finite loss meaning that the step was not applied;
    evaluate() returns the held-out (loss, accuracy), or is None. Held-out evaluations follow
    every eval_every-th step and the last, unless its loss was non-finite. With `stop`, the
    sweep ends at the first point `result` counts as diverged. Records every point into
    `result` and returns it."""
    nan = float("nan")
    for i, lr in enumerate(rates):
        loss, accuracy = step(lr)
        held_out = (nan, nan)
        if evaluate is not None and math.isfinite(loss) and (i % eval_every == 0 or i == len(rates) - 1):
            held_out = evaluate()
        result.record(lr, loss, accuracy, *held_out)
        if callback is not None:
            callback(i, lr, loss, accuracy)
        if stop and result.value("diverged_at") >= 0:
            break
    return result


def range_test(model, optimizer, train_loader, eval_loader=None, loss_fn=None, analysis=None, callback=None,
               **keys):
    """A learning-rate range test on a PyTorch model and optimizer: the learning rate of every
    parameter group sweeps from min_lr to max_lr (momentum as the groups have it) while the
    model trains (in train mode) on consecutive batches of train_loader (started again when it
    ends); every eval_every steps and at the last, eval_loader's batches (the first
    eval_batches, if given) are evaluated in eval mode. Afterwards the model (parameters,
    buffers, gradients, train or eval mode), the optimizer (state and parameter groups) and
    PyTorch's random generators are exactly as before, whatever happened.

    Keys as sc_trainer_range_test's: sweep=linear (or exp), min_lr=0, max_lr=3, iterations=500,
    eval_every=10, stop=1 (0: sweep to the end), precise_bn=8 (each evaluation normalises with
    BatchNorm statistics recomputed from the last K training batches under the current weights,
    then the model's running statistics are put back; 0: with the running statistics), and
    eval_batches=0 (all). loss_fn(logits,
    targets) defaults to cross entropy; accuracy is recorded where the outputs are [N, classes]
    and the targets class indices. `analysis` is the RangeTest's spec (diverge, beta, ...).
    callback(index, lr, loss, accuracy) is called after every step. Returns a RangeTest: its
    points, the suggestions, the paper's bounds and the verdict (superconv.plot.range_test
    draws it)."""
    import torch

    settings = sweep_settings(keys)
    rates = learning_rates(settings)
    if loss_fn is None:
        loss_fn = torch.nn.functional.cross_entropy
    parameters = list(model.parameters())
    device = parameters[0].device if parameters else torch.device("cpu")

    def accuracy(outputs, targets):
        if outputs.dim() == 2 and targets.dim() == 1 and not targets.is_floating_point():
            return (outputs.argmax(1) == targets).float().mean().item()
        return float("nan")

    batches = _endless(train_loader)
    recent = collections.deque(maxlen=settings["precise_bn"])

    def step(lr):
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = next(batches)
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        outputs = model(x)
        loss = loss_fn(outputs, y)
        if not torch.isfinite(loss):
            return float("nan"), float("nan")
        loss.backward()
        if not all(torch.isfinite(p.grad).all() for p in parameters if p.grad is not None):
            return float("nan"), float("nan")
        optimizer.step()
        if recent.maxlen:
            recent.append(x.detach().clone())
        return loss.item(), accuracy(outputs, y)

    def evaluate():
        total, correct, count = 0.0, 0.0, 0
        with torch.no_grad(), _precise_statistics(model, recent):
            model.eval()
            for index, (x, y) in enumerate(eval_loader):
                if settings["eval_batches"] and index == settings["eval_batches"]:
                    break
                x, y = x.to(device), y.to(device)
                outputs = model(x)
                total += loss_fn(outputs, y).item() * len(y)
                correct += accuracy(outputs, y) * len(y)
                count += len(y)
        return total / count, correct / count

    # fastai's suggestions skip a tenth of the planned sweep, and the verdict reads a plateau
    # under Adam differently: the records learn both here unless the analysis spec says.
    known = {} if "planned=" in (analysis or "") else {"planned": len(rates)}
    if "optimizer=" not in (analysis or ""):
        known["optimizer"] = _optimizer_kind(optimizer)
    records = RangeTest(analysis, **known)
    saved = _save(model, optimizer)
    try:
        return sweep(step, evaluate if eval_loader is not None else None, rates, settings["eval_every"],
                     bool(int(settings["stop"])), records, callback)
    finally:
        _restore(model, optimizer, saved)


def _optimizer_kind(optimizer):
    """The library's name for a torch optimizer's update rule, "unknown" for the others."""
    name = type(optimizer).__name__.lower()
    if name == "sgd":
        return "nesterov" if any(group.get("nesterov") for group in optimizer.param_groups) else "sgd"
    return name if name in ("adagrad", "adadelta", "adam", "adamw") else "unknown"


@contextlib.contextmanager
def _precise_statistics(model, batches):
    """Precise BN (Wu & Johnson 2021): inside, every BatchNorm's running statistics are the equal
    mean of those of `batches` under the current weights (PyTorch's momentum=None is that
    cumulative mean); afterwards they, the momenta, the modes and the random state are as before."""
    import torch
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not batches or not norms:
        yield
        return
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in norms]
    modes = {module: module.training for module in model.modules()}
    rng = torch.get_rng_state()
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        try:
            with torch.no_grad():
                for x in batches:
                    model(x)
        finally:
            # Only these forward passes' draws (dropout) are undone: the evaluation's own, such
            # as a loader's seed, happen as they would without precise BN.
            torch.set_rng_state(rng)
        for module, training in modes.items():
            module.training = training
        yield
    finally:
        for m, (momentum, mean, var, tracked) in zip(norms, saved):
            m.momentum = momentum
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(tracked)
        for module, training in modes.items():
            module.training = training


def _endless(loader):
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("the training loader gave no batches")


def _save(model, optimizer):
    import torch
    return {
        "model": {name: value.detach().clone() for name, value in model.state_dict(keep_vars=True).items()},
        "gradients": [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()],
        "training": {module: module.training for module in model.modules()},
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
    }


def _restore(model, optimizer, saved):
    import torch
    with torch.no_grad():
        for name, value in model.state_dict(keep_vars=True).items():
            value.copy_(saved["model"][name])
    for parameter, gradient in zip(model.parameters(), saved["gradients"]):
        parameter.grad = gradient
    for module, training in saved["training"].items():
        module.training = training
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["rng"])
    if saved["cuda_rng"] is not None:
        torch.cuda.set_rng_state_all(saved["cuda_rng"])
