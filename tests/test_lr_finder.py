"""The LR range test: its schedule, smoothing and suggestions as pure functions; the test itself equals a
hand-written loop, stops on divergence, scales every param group alike, and restores everything exactly."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from optimlab.data.digits import load_digits_split
from optimlab.lr_finder import LRRangeTestResult, exponential_lr, lr_range_test, min_loss_lr, smooth_losses, steepest_lr
from optimlab.models import mlp
from optimlab.optim import SGD, Adam
from optimlab.train import Batches

loss_fn = nn.functional.cross_entropy


@pytest.fixture(scope="module")
def digits():
    return load_digits_split(seed=0, standardize=True)


def _batches(data, seed=0):
    return Batches(data.X_train, data.y_train, batch_size=128, seed=seed)


def _snapshot(model, optimizer):
    return copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())


def _assert_bit_exact(a, b):
    """Nested state dicts equal to the bit (tensors with torch.equal, everything else with ==)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_bit_exact(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_bit_exact(x, y)
    else:
        assert a == b


def test_exponential_lr_runs_from_start_to_end_with_a_constant_ratio():
    lrs = [exponential_lr(t, 1e-5, 1.0, 11) for t in range(11)]
    assert lrs[0] == 1e-5 and lrs[-1] == pytest.approx(1.0, rel=1e-12)
    assert np.allclose(np.array(lrs[1:]) / np.array(lrs[:-1]), 10 ** 0.5)


def test_smooth_losses_is_a_bias_corrected_moving_average():
    assert smooth_losses([3.0, 3.0, 3.0], beta=0.9) == pytest.approx([3.0, 3.0, 3.0])  # no pull towards 0
    # β = 0.5 by hand: a = 0.5·1 = 0.5 → 0.5/0.5 = 1;  a = 0.25 + 0.5·4 = 2.25 → 2.25/0.75 = 3
    assert smooth_losses([1.0, 4.0], beta=0.5) == pytest.approx([1.0, 3.0])
    assert smooth_losses([2.0, 7.0], beta=0.0) == [2.0, 7.0]


def test_steepest_lr_finds_the_fastest_descent_and_ignores_swings_past_the_minimum():
    lrs = np.logspace(-5, 1, 61)
    losses = 2 - np.tanh(2 * (np.log10(lrs) + 2))  # falls fastest at 1e-2, lowest near the end
    assert steepest_lr(lrs, losses) == pytest.approx(1e-2, rel=0.13)
    spiky = losses.copy()
    spiky[-10:] = 5.0  # blown up past 1e0 ...
    spiky[-5] = 1.5    # ... with a steep dip after a spike, which is not the descent
    assert steepest_lr(lrs, spiky) == pytest.approx(1e-2, rel=0.13)
    assert steepest_lr(lrs, losses, skip_start=35) > 1e-2  # the steep part skipped
    assert steepest_lr([1e-3, 1e-2], [2.0, 1.0], skip_start=5) == 1e-3  # too short to trim: whole curve


def test_min_loss_lr_is_the_lowest_point_over_ten():
    lrs = [1e-3, 1e-2, 1e-1, 1.0]
    assert min_loss_lr(lrs, [2.0, 1.0, 0.5, 3.0]) == pytest.approx(1e-2)
    assert min_loss_lr(lrs, [2.0, 1.0, 0.5, 3.0], skip_end=2) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="losses=3 is invalid"):
        min_loss_lr(lrs, [1.0, 2.0, 3.0])


def test_equals_a_hand_written_loop_and_its_own_pure_functions(digits):
    model = mlp(64, [32], 10, seed=0)
    result = lr_range_test(model, loss_fn, SGD(model.parameters(), lr=0.1, momentum=0.9), _batches(digits),
                           start_lr=1e-4, end_lr=1e-1, num_steps=30, divergence_factor=None)
    twin = mlp(64, [32], 10, seed=0)
    optimizer = SGD(twin.parameters(), lr=0.1, momentum=0.9)
    losses, batches = [], _batches(digits)
    stream = (b for _ in range(10) for b in batches)
    for step in range(30):
        optimizer.param_groups[0]["lr"] = exponential_lr(step, 1e-4, 1e-1, 30)
        inputs, targets = next(stream)
        loss = loss_fn(twin(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert result.losses == losses  # bit for bit
    assert result.lrs == [exponential_lr(t, 1e-4, 1e-1, 30) for t in range(30)]
    assert result.smoothed == smooth_losses(result.losses, 0.98)
    assert not result.stopped_early and result.suggested_lr == result.lr_steepest
    assert result.lr_steepest == steepest_lr(result.lrs, result.smoothed, 3, 5)
    assert result.lr_min_over_10 == min_loss_lr(result.lrs, result.smoothed, 3, 5)


def test_stops_once_the_smoothed_loss_exceeds_the_factor_times_the_best(digits):
    model = mlp(64, [32], 10, seed=0)
    result = lr_range_test(model, loss_fn, SGD(model.parameters(), lr=0.1, momentum=0.9), _batches(digits),
                           start_lr=1e-4, end_lr=100.0, num_steps=100)
    assert result.stopped_early and len(result.lrs) < 100
    assert result.smoothed[-1] > 4 * min(result.smoothed)  # the step that crossed the line is recorded ...
    assert all(s <= 4 * min(result.smoothed[:i + 1]) for i, s in enumerate(result.smoothed[:-1]))  # ... alone
    assert 1e-2 < result.suggested_lr < 3.0
    assert result.lr_min_over_10 < result.lrs[int(np.argmin(result.smoothed))]


def _scripted_loss(values):
    """A loss function that returns the given values in turn (with zero gradients, so nothing trains)."""
    stream = iter(values)
    return lambda scores, targets: scores.sum() * 0 + next(stream)


def test_stops_at_the_first_smoothed_loss_above_the_factor_times_the_best(digits):
    model = mlp(64, [32], 10, seed=0)
    values = [2.0, 1.0, 1.0, 1.5, 3.0, 3.875, 4.125, 1.0, 1.0, 1.0]  # exact in float32
    result = lr_range_test(model, _scripted_loss(values), SGD(model.parameters(), lr=0.1), _batches(digits),
                           num_steps=10, beta=0.0, skip_start=0, skip_end=0)
    assert result.losses == values[:7] and result.stopped_early  # 4.125 > 4 × 1.0
    result = lr_range_test(model, _scripted_loss(values), SGD(model.parameters(), lr=0.1), _batches(digits),
                           num_steps=10, beta=0.0, divergence_factor=5.0)
    assert len(result.losses) == 10 and not result.stopped_early


def test_stops_before_a_non_finite_loss_and_records_only_finite_ones(digits):
    model = mlp(64, [32], 10, seed=0)
    values = [2.0, 1.5, 1.25, math.inf, 1.0, 1.0]
    result = lr_range_test(model, _scripted_loss(values), SGD(model.parameters(), lr=0.1), _batches(digits),
                           num_steps=6)
    assert result.losses == [2.0, 1.5, 1.25] and len(result.lrs) == 3 and result.stopped_early


def test_without_a_divergence_factor_it_runs_every_step(digits):
    model = mlp(64, [32], 10, seed=0)
    result = lr_range_test(model, loss_fn, SGD(model.parameters(), lr=0.1), _batches(digits), start_lr=1e-4,
                           end_lr=1.0, num_steps=50, divergence_factor=None)
    assert len(result.lrs) == 50 and not result.stopped_early


def test_restores_model_optimizer_grads_mode_and_global_randomness_exactly(digits):
    model = nn.Sequential(mlp(64, [32], 10, seed=1), nn.Dropout(0.2))
    optimizer = Adam(model.parameters(), lr=3e-3)
    batches = _batches(digits)
    for inputs, targets in list(batches)[:3]:  # some optimizer state to restore, and a gradient left over
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()
    model.eval()
    model_before, optimizer_before = _snapshot(model, optimizer)
    grads_before = [p.grad.clone() for p in model.parameters()]
    groups_before = list(optimizer.param_groups)
    torch.manual_seed(7)
    expected_draw = torch.rand(4)
    torch.manual_seed(7)
    lr_range_test(model, loss_fn, optimizer, batches, num_steps=40)
    assert torch.equal(torch.rand(4), expected_draw)  # dropout's draws did not shift the caller's stream
    model_after, optimizer_after = _snapshot(model, optimizer)
    _assert_bit_exact(model_after, model_before)
    _assert_bit_exact(optimizer_after, optimizer_before)
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads_before))
    assert not model.training and not model[1].training
    assert all(a is b for a, b in zip(optimizer.param_groups, groups_before))  # restored in place


def test_restores_even_when_the_loss_function_fails(digits):
    model = mlp(64, [32], 10, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = _snapshot(model, optimizer)
    calls = []

    def failing_loss(scores, targets):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return loss_fn(scores, targets)

    with pytest.raises(RuntimeError, match="boom"):
        lr_range_test(model, failing_loss, optimizer, _batches(digits))
    _assert_bit_exact(_snapshot(model, optimizer), before)
    assert all(p.grad is None for p in model.parameters())


def test_ours_and_torchs_optimizer_give_the_same_test(digits):
    results = []
    for optimizer_class in (SGD, torch.optim.SGD):
        model = mlp(64, [32], 10, seed=2)
        optimizer = optimizer_class(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        results.append(lr_range_test(model, loss_fn, optimizer, _batches(digits, seed=2), num_steps=60))
    assert results[0].losses == results[1].losses and results[0].lrs == results[1].lrs


def test_scales_every_group_by_the_same_factor_and_restores_their_rates(digits):
    model = mlp(64, [32], 10, seed=0)
    optimizer = torch.optim.SGD([
        {"params": model.fc1.parameters(), "lr": 0.1},
        {"params": model.fc2.parameters(), "lr": 0.01, "momentum": 0.5},
    ], momentum=0.9)
    seen = []

    def recording_loss(scores, targets):
        seen.append([group["lr"] for group in optimizer.param_groups])
        return loss_fn(scores, targets)

    result = lr_range_test(model, recording_loss, optimizer, _batches(digits), start_lr=1e-3, end_lr=1.0,
                           num_steps=20)
    assert [rates[0] for rates in seen] == result.lrs
    assert all(rates[1] == pytest.approx(rates[0] / 10, rel=1e-12) for rates in seen)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.01] == result.base_lrs
    assert optimizer.param_groups[1]["momentum"] == 0.5
    assert result.group_lrs(0.5) == pytest.approx([0.5, 0.05])


def test_a_one_pass_iterable_is_reused_until_it_runs_dry(digits):
    model = mlp(64, [32], 10, seed=0)
    one_pass = iter(list(_batches(digits))[:3])
    with pytest.raises(ValueError, match="batches=.* is invalid: expected an iterable that can be passed over"):
        lr_range_test(model, loss_fn, SGD(model.parameters(), lr=0.1), one_pass, num_steps=10)


def test_result_type_and_fields(digits):
    model = mlp(64, [32], 10, seed=0)
    result = lr_range_test(model, loss_fn, SGD(model.parameters(), lr=0.1), _batches(digits), num_steps=12)
    assert isinstance(result, LRRangeTestResult)
    assert len(result.lrs) == len(result.losses) == len(result.smoothed)


@pytest.mark.parametrize("kwargs,message", [
    ({"start_lr": 0.0}, "start_lr=0.0 is invalid"),
    ({"start_lr": 1.0, "end_lr": 1.0}, "end_lr=1.0 is invalid: expected a number > 1.0"),
    ({"num_steps": 1}, "num_steps=1 is invalid"),
    ({"beta": 1.0}, "beta=1.0 is invalid"),
    ({"divergence_factor": 1.0}, "divergence_factor=1.0 is invalid"),
    ({"skip_start": -1}, "skip_start=-1 is invalid"),
    ({"skip_end": 1.5}, "skip_end=1.5 is invalid"),
])
def test_bad_arguments_name_themselves(kwargs, message, digits):
    model = mlp(64, [32], 10, seed=0)
    with pytest.raises(ValueError, match=message):
        lr_range_test(model, loss_fn, SGD(model.parameters(), lr=0.1), _batches(digits), **kwargs)


def test_bad_optimizer_or_group_rate_or_non_finite_start_is_refused(digits):
    model = mlp(64, [32], 10, seed=0)
    with pytest.raises(ValueError, match="optimizer=.* is invalid: expected a torch.optim.Optimizer"):
        lr_range_test(model, loss_fn, "sgd", _batches(digits))
    with pytest.raises(ValueError, match=r"optimizer.param_groups\[0\]\['lr'\]=0.0 is invalid"):
        lr_range_test(model, loss_fn, SGD(model.parameters(), lr=0.0), _batches(digits))
    with pytest.raises(ValueError, match="start_lr=1e-06 is invalid: expected a rate at which the first steps"):
        lr_range_test(model, lambda s, t: s.sum() * math.nan, SGD(model.parameters(), lr=0.1), _batches(digits))
