"""superconv.torch without PyTorch: the scheduler on an optimizer's parameter groups, the range
test's sweep, and the Eq. 8 estimator on a model's tensors, each driven by plain Python stand-ins
for what PyTorch would hand them. The same parts with PyTorch: Tests/torch (make test-torch)."""
import math
import sys

import numpy as np
import pytest

import superconv as sc
import superconv.torch as sct
from superconv.torch.range_test import learning_rates, sweep, sweep_settings


class Optimizer:
    """What a torch.optim optimizer shows a scheduler: its parameter groups."""

    def __init__(self, *groups):
        self.param_groups = [dict(group) for group in groups]


def test_importing_the_bridge_does_not_import_torch():
    assert "torch" not in sys.modules


def test_the_scheduler_sets_every_iterations_values_from_the_schedule():
    spec = dict(policy="onecycle", base_lr=0.1, max_lr=1, stepsize=40, max_iter=100)
    optimizer = Optimizer({"lr": 5.0, "momentum": 0.5}, {"lr": 5.0, "betas": (0.5, 0.999), "eps": 1e-8})
    scheduler = sct.ScheduleLR(optimizer, **spec)
    expected = sc.Schedule(**spec)
    for iteration in range(120):
        lr, momentum = expected(iteration)
        assert scheduler.last_epoch == iteration
        assert scheduler.get_last_lr() == [lr, lr]
        assert optimizer.param_groups[0]["lr"] == lr and optimizer.param_groups[0]["momentum"] == momentum
        assert optimizer.param_groups[1]["lr"] == lr and optimizer.param_groups[1]["betas"] == (momentum, 0.999)
        scheduler.step()
    assert expected(50) != expected(0)


def test_the_scheduler_leaves_momentum_alone_when_asked_and_refuses_groups_without_it():
    optimizer = Optimizer({"lr": 1.0, "momentum": 0.5}, {"lr": 1.0})
    with pytest.raises(ValueError, match="parameter group 1 has neither momentum nor betas"):
        sct.ScheduleLR(optimizer, policy="fixed", base_lr=0.2)
    sct.ScheduleLR(optimizer, sc.Schedule(policy="fixed", base_lr=0.25), cycle_momentum=False)
    assert optimizer.param_groups == [{"lr": 0.25, "momentum": 0.5}, {"lr": 0.25}]
    sgd = Optimizer({"lr": 1.0, "momentum": 0.5})
    sct.ScheduleLR(sgd, policy="fixed", base_lr=0.5, momentum=0.75)  # momentum= is the schedule's key
    assert sgd.param_groups == [{"lr": 0.5, "momentum": 0.75}]


def test_a_scheduler_loaded_from_a_state_dict_continues_where_the_saved_one_was():
    spec = dict(policy="triangular2", base_lr=0.01, max_lr=0.5, stepsize=7)
    first = Optimizer({"lr": 0, "momentum": 0})
    scheduler = sct.ScheduleLR(first, **spec)
    for _ in range(30):
        scheduler.step()
    state = scheduler.state_dict()
    second = Optimizer(first.param_groups[0])
    resumed = sct.ScheduleLR(second, policy="fixed", cycle_momentum=False)
    resumed.load_state_dict(state)
    assert resumed.get_last_lr() == scheduler.get_last_lr() and resumed.last_epoch == 30
    for _ in range(40):
        scheduler.step()
        resumed.step()
        assert second.param_groups == first.param_groups
    assert resumed.state_dict() == scheduler.state_dict()


def test_the_sweep_rates_are_the_librarys_ramps_ending_at_max_lr():
    linear = learning_rates(sweep_settings(dict(min_lr=0.5, max_lr=2, iterations=4)))
    assert linear == pytest.approx([0.5, 1.0, 1.5, 2.0])
    exponential = learning_rates(sweep_settings(dict(sweep="exp", min_lr=1e-3, max_lr=10, iterations=5)))
    assert exponential == pytest.approx([1e-3, 1e-2, 1e-1, 1, 10], rel=1e-5)


def test_sweep_settings_name_what_is_wrong():
    with pytest.raises(ValueError, match="unknown range test key batch"):
        sweep_settings({"batch": 128})
    with pytest.raises(ValueError, match="iterations=1; expected at least 2"):
        sweep_settings({"iterations": 1})
    with pytest.raises(ValueError, match="sweep=cos; expected linear or exp"):
        sweep_settings({"sweep": "cos"})


def diverging_steps(limit):
    """A loss that falls with the learning rate until `limit`, then explodes."""
    def step(lr):
        return (2.0 - lr if lr < limit else 2.0 * math.exp(10 * (lr - limit))), 0.5
    return step


def test_the_sweep_evaluates_every_k_steps_and_at_the_last():
    evaluated = []

    def evaluate():
        evaluated.append(len(evaluated))
        return 0.25, 0.75

    rates = learning_rates(sweep_settings(dict(max_lr=1, iterations=11)))
    seen = []
    result = sweep(diverging_steps(5), evaluate, rates, 4, True, sc.RangeTest(),
                   callback=lambda i, lr, loss, accuracy: seen.append(i))
    points = result.points()
    assert seen == list(range(11)) and len(result) == 11
    held_out = [i for i, value in enumerate(points["test_acc"]) if not math.isnan(value)]
    assert held_out == [0, 4, 8, 10] and len(evaluated) == 4
    np.testing.assert_array_equal(points["lr"], np.array(rates, dtype=np.float32))
    assert result.value("diverged_at") == -1


def test_the_sweep_stops_where_the_loss_diverges_unless_told_not_to():
    rates = learning_rates(sweep_settings(dict(max_lr=3, iterations=31)))
    stopped = sweep(diverging_steps(1.5), None, rates, 10, True, sc.RangeTest())
    diverged = int(stopped.value("diverged_at"))
    assert 15 < diverged < 30 and len(stopped) == diverged + 1
    full = sweep(diverging_steps(1.5), None, rates, 10, False, sc.RangeTest())
    assert len(full) == 31 and full.value("diverged_at") == diverged


def test_a_step_that_was_not_applied_ends_the_sweep_as_a_nan_loss():
    rates = learning_rates(sweep_settings(dict(max_lr=1, iterations=10)))
    calls = []

    def step(lr):
        calls.append(lr)
        return (float("nan"), float("nan")) if lr > 0.5 else (1.0, 0.5)

    def evaluate():
        evaluated.append(calls[-1])
        return 0.5, 0.5

    evaluated = []
    result = sweep(step, evaluate, rates[3:], 1, True, sc.RangeTest())
    assert len(calls) == 3 and math.isnan(result.points()["train_loss"][-1])
    assert evaluated == calls[:2] and math.isnan(result.points()["test_loss"][-1])
    assert result.value("diverged_at") == 2


def test_the_estimator_on_a_quadratic_trained_by_sgd_gives_one_over_its_curvature():
    # f = h * theta^2 / 2, so SGD multiplies theta by (1 - lr*h) each step and Eq. 8 gives 1/h.
    h, lr = 4.0, 0.05
    theta = [np.linspace(-1, 1, 9, dtype=np.float32), np.full(3, 2.0, dtype=np.float32)]
    optimizer = Optimizer({"lr": lr})
    estimator = sct.ModelLREstimator(theta, optimizer, alpha=1.0)
    assert math.isnan(estimator.estimate)
    for step in range(1, 6):
        for t in theta:
            t -= np.float32(lr * h) * t
        raw, smoothed = estimator.step()
        if step == 1:
            assert math.isnan(raw) and math.isnan(smoothed)
    assert estimator.estimate == pytest.approx(1 / h, rel=1e-4)
    assert [s for s, _, _ in estimator.history] == [2, 3, 4, 5]


def test_the_estimator_takes_a_snapshot_every_k_steps_with_the_rate_it_is_given():
    theta = [np.ones(4, dtype=np.float32)]
    estimator = sct.ModelLREstimator(theta, every=3)
    taken = []
    for step in range(1, 10):
        theta[0] *= np.float32(0.9)
        taken.append(estimator.step(lr=0.1) is not None)
    assert taken == [False, False, True] * 3 and [s for s, _, _ in estimator.history] == [6, 9]
    with pytest.raises(ValueError, match="no optimizer to read the learning rate from"):
        for _ in range(3):
            estimator.step()
