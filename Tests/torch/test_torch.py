"""superconv.torch with real PyTorch (make test-torch: a throwaway environment outside the
repository, never CI): the scheduler's values are the library's for every policy, to_torch gives
sc_model_forward's logits and from_torch gives the weights back, the range test leaves model and
optimizer as they were to the bit, and the Eq. 8 estimator reads a model's parameters."""
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import superconv as sc
import superconv.torch as sct
from make_pytorch_fixtures import CifarResNet  # Tests/fixtures: the networks from their descriptions

STEPS = 5000
POLICIES = [
    dict(policy="fixed", base_lr=0.05, momentum=0.8),
    dict(policy="step", base_lr=0.1, gamma=0.5, stepsize=700),
    dict(policy="multistep", base_lr=0.35, stepvalues="2500,3750"),
    dict(policy="exp", base_lr=0.1, gamma=0.9995),
    dict(policy="poly", base_lr=0.1, power=2, max_iter=4000),
    dict(policy="triangular", base_lr=0.1, max_lr=3, stepsize=600, momentum="0.95,0.85"),
    dict(policy="triangular2", base_lr=0.1, max_lr=3, stepsize=600),
    dict(policy="exp_range", base_lr=0.1, max_lr=3, stepsize=600, gamma=0.9997, stepsize_down=900),
    dict(policy="onecycle", base_lr=0.1, max_lr=3, stepsize=2000, max_iter=4500),
    dict(policy="onecycle_cosine", max_lr=1, total_steps=4000, three_phase=1, warmup=0),
    dict(policy="sgdr", base_lr=0.2, t0=500, t_mult=2, eta_min=0.001, warmup=50),
    dict(policy="linear_ramp", base_lr=0, max_lr=3, max_iter=4999),
    dict(policy="exp_ramp", base_lr=1e-5, max_lr=10, max_iter=4999),
]


@pytest.mark.parametrize("keys", POLICIES, ids=[keys["policy"] for keys in POLICIES])
def test_the_scheduler_gives_sc_schedule_at_for_5000_steps(keys):
    weight = torch.nn.Parameter(torch.ones(3))
    sgd = torch.optim.SGD([weight], lr=1.0, momentum=0.0)
    adam = torch.optim.Adam([torch.nn.Parameter(torch.ones(3))], lr=1.0, betas=(0.0, 0.99))
    schedulers = [sct.ScheduleLR(sgd, **keys), sct.ScheduleLR(adam, **keys)]
    schedule = sc.Schedule(**keys)
    for iteration in range(STEPS):
        lr, momentum = schedule(iteration)
        assert sgd.param_groups[0]["lr"] == lr and sgd.param_groups[0]["momentum"] == momentum, iteration
        assert adam.param_groups[0]["lr"] == lr and adam.param_groups[0]["betas"] == (momentum, 0.99), iteration
        weight.grad = torch.ones(3)
        sgd.step()
        for scheduler in schedulers:
            scheduler.step()


def test_sgd_steps_with_the_scheduled_rate():
    weight = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    scheduler = sct.ScheduleLR(optimizer, policy="triangular", base_lr=0.1, max_lr=1, stepsize=5, cycle_momentum=False)
    total = 0.0
    for iteration in range(23):
        weight.grad = torch.ones(1, dtype=torch.float64)
        optimizer.step()
        total -= sc.Schedule(policy="triangular", base_lr=0.1, max_lr=1, stepsize=5)(iteration)[0]
        scheduler.step()
    assert weight.item() == pytest.approx(total, rel=1e-12)


def trained_model(variant, depth, inp, seed):
    """A superconv model after a few training steps, with running statistics that matter."""
    model = sc.Model(depth=depth, variant=variant, input=inp, classes=10, seed=seed)
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in inp.split("x"))
    with sc.Trainer(model, lr=0.05) as trainer:
        for _ in range(3):
            trainer.step(rng.standard_normal((16,) + shape, dtype=np.float32), rng.integers(0, 10, 16))
    return model, rng.standard_normal((8,) + shape, dtype=np.float32)


def relative_difference(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("variant,depth,inp", [("caffe", 20, "3x32x32"), ("he-a", 20, "3x32x32"),
                                               ("caffe", 8, "1x28x28"), ("he-a", 14, "1x28x28")])
def test_to_torch_gives_sc_model_forwards_logits_and_from_torch_the_weights(variant, depth, inp, tmp_path):
    model, x = trained_model(variant, depth, inp, seed=depth)
    module = sct.to_torch(model)
    assert not module.training and module.spec == model.spec
    with torch.no_grad():
        logits = module(torch.from_numpy(x)).numpy()
    assert relative_difference(logits, model(x)) <= 1e-5
    with sct.from_torch(module) as back:
        assert back.spec == model.spec
        original = model.state_dict()
        for name, values in back.state_dict().items():
            assert values.tobytes() == original[name].tobytes(), name
    with sc.Trainer(model) as trainer:
        sc.save_checkpoint(trainer, tmp_path / "model.h5")
    from_file = sct.to_torch(tmp_path / "model.h5")
    for name, tensor in module.state_dict().items():
        assert torch.equal(tensor, from_file.state_dict()[name]), name


@pytest.mark.parametrize("variant", ["caffe", "he-a"])
def test_from_torch_reads_the_structure_of_a_network_defined_elsewhere(variant):
    torch.manual_seed(3)
    network = CifarResNet(14, variant, in_channels=2, classes=5).eval()
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    x = torch.randn(4, 2, 16, 16)
    with torch.no_grad():
        expected = network(x).numpy()
    with sct.from_torch(network, input="2x16x16") as model:
        assert "depth=14" in model.spec and f"variant={variant}" in model.spec and "classes=5" in model.spec
        assert relative_difference(model(x.numpy()), expected) <= 1e-5


def test_from_torch_names_a_missing_tensor():
    network = CifarResNet(8, "he-a")
    network.fc = torch.nn.Identity()
    with pytest.raises(ValueError, match="the module has no tensor fc.weight"):
        sct.from_torch(network)


def snapshot(model, optimizer):
    """Everything the range test must leave as it was, as bytes."""
    state = {name: value.detach().clone() for name, value in model.state_dict().items()}
    gradients = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    modes = [m.training for m in model.modules()]
    optimizer_state = {i: {k: (v.clone() if torch.is_tensor(v) else v) for k, v in s.items()}
                       for i, s in optimizer.state_dict()["state"].items()}
    return state, gradients, modes, optimizer_state, optimizer.state_dict()["param_groups"], torch.get_rng_state()


def assert_same(before, after):
    def same(a, b):
        if torch.is_tensor(a):
            return a.dtype == b.dtype and a.shape == b.shape and a.numpy().tobytes() == b.numpy().tobytes()
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return a == b or (a is None and b is None)
    for part, a, b in zip(["model", "gradients", "modes", "optimizer state", "param groups", "rng"], before, after):
        assert same(a, b), part


def loaders(seed, n=256, batch=32):
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=generator)
    x = torch.randn(n, 1, 16, 16, generator=generator) + y[:, None, None, None] * 0.1
    data = torch.utils.data.TensorDataset(x, y)
    return (torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True),
            torch.utils.data.DataLoader(data, batch_size=64))


@pytest.mark.parametrize("make_optimizer", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True),
    lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01),
], ids=["sgd", "adamw"])
def test_the_range_test_restores_model_and_optimizer_to_the_bit(make_optimizer):
    torch.manual_seed(0)
    model = sct.to_torch(sc.Model(depth=8, variant="caffe", input="1x16x16", classes=10)).train()
    optimizer = make_optimizer(model.parameters())
    train, held_out = loaders(1)
    batches = iter(train)
    for _ in range(2):  # state in the optimizer, gradients in the model, the loader's generator used
        x, y = next(batches)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.layer2.eval()  # a mixed mode must come back too
    before = snapshot(model, optimizer)
    steps = []
    result = sct.range_test(model, optimizer, train, held_out, sweep="exp", min_lr=1e-4, max_lr=1e3,
                            iterations=60, eval_every=5, eval_batches=2, callback=lambda *point: steps.append(point))
    assert_same(before, snapshot(model, optimizer))
    # The sweep ran: it learned, then diverged and stopped there.
    assert 10 < len(result) < 60 and result.value("diverged_at") == len(result) - 1 == steps[-1][0]
    points = result.points()
    assert points["lr"][0] == pytest.approx(1e-4) and not math.isnan(points["test_acc"][5])
    assert result.verdict()[0] in ("likely", "unlikely", "inconclusive")
    assert not math.isnan(result.value("valley"))
    # And what follows is what would have followed without it.
    x, y = next(iter(train))
    twin = sct.to_torch(sc.Model(depth=8, variant="caffe", input="1x16x16", classes=10)).train()
    twin.load_state_dict(model.state_dict())
    twin.layer2.eval()
    twin_optimizer = make_optimizer(twin.parameters())
    twin_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # else both share the state tensors
    for net, opt in ((model, optimizer), (twin, twin_optimizer)):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    for name, value in model.state_dict().items():
        assert torch.equal(value, twin.state_dict()[name]), name


def test_the_range_test_sweeps_to_the_end_when_told_not_to_stop():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train, _ = loaders(2)
    result = sct.range_test(model, optimizer, train, sweep="exp", min_lr=1e-3, max_lr=1e4, iterations=40, stop=0)
    assert len(result) == 40 and result.value("diverged_at") >= 0
    assert np.isnan(result.points()["test_acc"]).all()


def test_the_estimator_on_a_torch_quadratic_gives_one_over_its_curvature():
    h = 2.5
    theta = torch.nn.Parameter(torch.linspace(-1, 1, 11))
    optimizer = torch.optim.SGD([theta], lr=0.1)
    estimator = sct.ModelLREstimator([theta], optimizer, alpha=1.0)
    for _ in range(4):
        optimizer.zero_grad()
        (h * theta.pow(2).sum() / 2).backward()
        optimizer.step()
        estimator.step()
    assert estimator.estimate == pytest.approx(1 / h, rel=1e-4)


def test_precise_bn_evaluations_recompute_the_statistics_and_put_them_back():
    def run(precise):
        torch.manual_seed(0)
        model = sct.to_torch(sc.Model(depth=8, variant="caffe", input="1x16x16", classes=10, seed=4)).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        train, held_out = loaders(3)
        before = snapshot(model, optimizer)
        result = sct.range_test(model, optimizer, train, held_out, max_lr=2, iterations=30, eval_every=5, stop=0,
                                precise_bn=precise)
        assert_same(before, snapshot(model, optimizer))
        return result.points()

    plain, precise = run(0), run(4)
    # The same sweep (training is untouched by how it is evaluated), evaluated differently.
    np.testing.assert_array_equal(plain["train_loss"], precise["train_loss"])
    assert not np.array_equal(plain["test_loss"][5::5], precise["test_loss"][5::5])
    with pytest.raises(ValueError, match="precise_bn"):
        sct.range_test(torch.nn.Linear(2, 2), None, [], precise_bn=-1)
