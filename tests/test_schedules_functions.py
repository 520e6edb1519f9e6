"""Pure schedules, combinators and the beyond-torch factories at their boundary values; the step
convention; any hyperparameter; differential learning rates combined with a schedule."""

from __future__ import annotations

import math
import random

import pytest
import torch
from torch import nn

from optimlab import schedules as S
from optimlab.train import Batches, fit


def sgd(lrs=(0.1, 0.01), **options) -> torch.optim.Optimizer:
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, momentum=0.9, **options)


def advance(optimizer, scheduler, steps: int) -> list[list[float]]:
    """The lr of every group used by updates 0 … steps−1."""
    used = []
    for _ in range(steps):
        used.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return used


SCHEDULES = [
    S.Constant(0.5), S.StepDecay(3, 0.5), S.MultiStepDecay((2, 7), 0.1), S.ExponentialDecay(0.9),
    S.Linear(0.1, 1.0, 10), S.Polynomial(20, 2.0), S.Cosine(15, 0.1), S.WarmRestarts(4, 2), S.InverseSqrt(5),
    S.SqrtDecay(10, 0.2), S.Cyclic(3, 5, S.triangular2_scale), S.Anneal((0.0, 4.5, 19.0), (0.1, 1.0, 0.0)),
    S.CumulativeProduct(lambda t: 0.9 if t % 3 else 1.1), S.warmup_cosine(5, 30), S.inverse_sqrt(4),
    S.warmup_stable_decay(3, 30, 6, decay_shape="sqrt"), S.product(S.Linear(0.0, 1.0, 5), S.Cosine(30)),
    S.complement(S.Cosine(10)),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_a_schedule_is_a_pure_function_of_the_step(schedule):
    in_order = [schedule(t) for t in range(60)]
    shuffled = list(range(60))
    random.Random(0).shuffle(shuffled)
    asked_again = {t: schedule(t) for t in shuffled + shuffled}
    assert [asked_again[t] for t in range(60)] == in_order
    fresh = type(schedule)(**{f: getattr(schedule, f) for f in schedule.__dataclass_fields__ if f[0] != "_"})
    assert fresh(59) == in_order[59]  # a new copy, asked only for step 59, agrees


def test_closed_forms_at_known_points():
    assert S.StepDecay(3, 0.5)(5) == 0.5 and S.StepDecay(3, 0.5)(6) == 0.25
    assert S.MultiStepDecay([2, 7], 0.1)(1) == 1 and S.MultiStepDecay([2, 7], 0.1)(7) == pytest.approx(0.01)
    assert S.Linear(0.1, 1.0, 10)(5) == pytest.approx(0.55) and S.Linear(0.1, 1.0, 10)(99) == 1.0
    assert S.Polynomial(20, 2.0)(10) == 0.25 and S.Polynomial(20, 2.0)(25) == 0.0
    assert S.Cosine(10)(5) == pytest.approx(0.5) and S.Cosine(10)(10) == 0 and S.Cosine(10)(20) == 1
    assert [S.WarmRestarts(2, 2).since_restart(t) for t in (0, 1, 2, 5, 6, 13, 14)] == [
        (0, 2), (1, 2), (0, 4), (3, 4), (0, 8), (7, 8), (0, 16)]
    assert S.InverseSqrt(5)(15) == 0.5
    assert S.SqrtDecay(16, 0.0)(4) == 0.5
    assert S.CumulativeProduct(lambda t: t)(4) == 24 and S.CumulativeProduct(lambda t: t)(0) == 1


def test_join_restarts_each_schedule_at_its_boundary():
    joined = S.join([S.Constant(1.0), S.Linear(0.0, 1.0, 4), S.ExponentialDecay(0.5)], [3, 7])
    assert [joined(t) for t in range(10)] == [1, 1, 1, 0, 0.25, 0.5, 0.75, 1, 0.5, 0.25]


def test_product_and_complement():
    assert S.product(S.Constant(0.5), S.StepDecay(2, 0.1))(3) == pytest.approx(0.05)
    assert S.complement(S.Linear(0.0, 1.0, 4))(1) == 0.75


@pytest.mark.parametrize("start_factor,end_factor", [(0.0, 0.0), (0.1, 0.05)])
def test_warmup_cosine_boundaries(start_factor, end_factor):
    m = S.warmup_cosine(10, 110, start_factor=start_factor, end_factor=end_factor)
    assert m(0) == start_factor  # the first update
    assert m(9) < 1 and m(10) == 1 and max(m(t) for t in range(200)) == 1  # the peak is first used at step W
    assert m(60) == pytest.approx((1 + end_factor) / 2)  # half-way through the cosine
    assert m(109) > end_factor and m(110) == pytest.approx(end_factor) and m(111) == m(10_000) == end_factor
    values = [m(t) for t in range(10, 111)]
    assert all(later <= earlier for earlier, later in zip(values, values[1:]))
    assert S.warmup_cosine(0, 50)(0) == 1  # no warmup: a plain cosine


@pytest.mark.parametrize("shape", S.factories.DECAY_SHAPES)
def test_warmup_stable_decay_boundaries(shape):
    m = S.warmup_stable_decay(5, 100, 20, end_factor=0.1, decay_shape=shape)
    assert m(0) == 0 and m(4) < 1
    assert m(5) == 1 and m(50) == 1 and m(80) == 1  # peak first used at W, last used at T − D
    assert 0.1 < m(81) < 1 and 0.1 < m(99) < m(81)
    assert m(100) == pytest.approx(0.1) and m(101) == m(1000) == 0.1
    assert S.warmup_stable_decay(0, 10, 10)(0) == 1  # no warmup, no plateau: only the cool-down
    assert S.warmup_stable_decay(4, 10, 6)(4) == 1   # no plateau


def test_inverse_sqrt_boundaries_and_the_transformer_formula():
    warmup, d_model = 40, 512
    m = S.inverse_sqrt(warmup)
    assert m(0) == 0 and m(warmup) == 1 and m(4 * warmup) == 0.5 and m(100 * warmup) == 0.1
    peak = (d_model * warmup) ** -0.5
    for n in range(1, 5 * warmup):
        noam = d_model**-0.5 * min(n**-0.5, n * warmup**-1.5)  # Vaswani et al. (2017), eq. 3
        assert peak * m(n) == pytest.approx(noam, rel=1e-12)
    assert S.inverse_sqrt(10, start_factor=0.1)(0) == 0.1


def test_step_convention_first_update_uses_value_zero_and_warmup_peaks_at_total_iters():
    optimizer = sgd()
    scheduler = S.LinearLR(optimizer, start_factor=0.25, total_iters=4)
    used = advance(optimizer, scheduler, 7)
    assert used[0] == pytest.approx([0.025, 0.0025])  # building the scheduler applied step 0
    assert used[3][0] < 0.1 and used[4] == pytest.approx([0.1, 0.01]) and used[6] == used[4]
    assert scheduler.last_epoch == 7


def test_fit_records_the_scheduled_lr_each_update_uses():
    torch.manual_seed(0)
    x, y = torch.randn(32, 3), torch.randn(32, 1)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    schedule = S.warmup_cosine(3, 16)
    history = fit(model, nn.functional.mse_loss, optimizer, Batches(x, y, batch_size=4, seed=0), epochs=2,
                  scheduler=S.Scheduler(optimizer, schedule), progress=False)
    assert [row[0] for row in history.lr] == pytest.approx([0.2 * schedule(t) for t in range(16)], rel=1e-12)


def test_fit_steps_our_plateau_with_the_epoch_loss_like_torchs():
    histories = []
    for module in (S, torch.optim.lr_scheduler):
        torch.manual_seed(0)
        x, y = torch.randn(16, 3), torch.randn(16, 1)
        model = nn.Linear(3, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        plateau = module.ReduceLROnPlateau(optimizer, factor=0.5, patience=0, threshold=0.5)
        histories.append(fit(model, nn.functional.mse_loss, optimizer, Batches(x, y, batch_size=16, seed=0),
                             epochs=6, scheduler=plateau, progress=False).lr)
    assert histories[0] == histories[1] and len({row[0] for row in histories[0]}) > 2


def test_differential_learning_rates_and_a_schedule_combine():
    """Both axes at once: each group keeps its own peak, the schedule scales them all alike."""
    optimizer = sgd(lrs=(0.1, 0.01, 0.001))
    schedule = S.warmup_cosine(5, 40)
    used = advance(optimizer, S.Scheduler(optimizer, schedule), 40)
    for t, row in enumerate(used):
        assert row == pytest.approx([0.1 * schedule(t), 0.01 * schedule(t), 0.001 * schedule(t)], rel=1e-15)
    assert [g["initial_lr"] for g in optimizer.param_groups] == [0.1, 0.01, 0.001]


@pytest.mark.parametrize("hyperparameter,initial_key,read", [
    ("weight_decay", "initial_weight_decay", lambda g: g["weight_decay"]),
    ("betas[0]", "initial_beta1", lambda g: g["betas"][0]),
    ("betas[1]", "initial_beta2", lambda g: g["betas"][1]),
    ("lr", "initial_lr", lambda g: g["lr"]),
])
def test_any_hyperparameter_of_any_optimizer(hyperparameter, initial_key, read):
    from optimlab.optim import AdamW

    groups = [{"params": [torch.zeros(2, requires_grad=True)], "weight_decay": wd, "betas": betas}
              for wd, betas in [(0.1, (0.9, 0.999)), (0.0, (0.8, 0.99))]]
    for optimizer in (AdamW(groups), torch.optim.AdamW([dict(g) for g in groups])):
        bases = [read(g) for g in optimizer.param_groups]
        scheduler = S.Scheduler(optimizer, S.Linear(1.0, 0.5, 10), hyperparameter, floor=0.01)
        for t in range(12):
            expected = [0.01 + (b - 0.01) * S.Linear(1.0, 0.5, 10)(t) for b in bases]
            assert [read(g) for g in optimizer.param_groups] == pytest.approx(expected, rel=1e-15)
            assert scheduler.get_last_value() == pytest.approx(expected, rel=1e-15)
            optimizer.step()
            scheduler.step()
        assert [g[initial_key] for g in optimizer.param_groups] == bases
        assert all(len(g["betas"]) == 2 and isinstance(g["betas"], tuple) for g in optimizer.param_groups)


def test_a_tensor_learning_rate_is_updated_in_place():
    lr = torch.tensor(0.1)
    optimizer = torch.optim.Adam([torch.zeros(2, requires_grad=True)], lr=lr)
    scheduler = S.ExponentialLR(optimizer, gamma=0.5)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] is lr and lr.item() == pytest.approx(0.05)


def test_one_cycle_and_cyclic_conventions():
    optimizer = sgd(lrs=(0.1,))
    used = advance(optimizer, S.OneCycleLR(optimizer, max_lr=1.0, total_steps=100), 100)
    lrs = [row[0] for row in used]
    assert lrs[0] == pytest.approx(1 / 25) and max(lrs) == lrs[29] == pytest.approx(1.0, rel=1e-12)
    assert lrs[99] == pytest.approx(1 / 25 / 1e4)
    optimizer = sgd(lrs=(0.1,))
    scheduler = S.CyclicLR(optimizer, base_lr=0.01, max_lr=0.1, step_size_up=5)
    assert scheduler.base_lrs == [0.01]
    lrs = [row[0] for row in advance(optimizer, scheduler, 21)]
    assert lrs[0] == 0.01 and lrs[5] == pytest.approx(0.1) and lrs[10] == pytest.approx(0.01) and lrs[15] == lrs[5]


def test_cosine_warm_restarts_exposes_torchs_counters():
    optimizer = sgd()
    scheduler = S.CosineAnnealingWarmRestarts(optimizer, T_0=3, T_mult=2)
    advance(optimizer, scheduler, 5)
    assert (scheduler.T_cur, scheduler.T_i) == (2, 6)


def test_a_resumed_scheduler_with_last_epoch_continues_the_closed_form():
    optimizer = sgd()
    S.CosineAnnealingLR(optimizer, T_max=20)  # stores initial_lr in the groups, as a checkpoint would
    resumed = S.CosineAnnealingLR(optimizer, T_max=20, last_epoch=6)
    assert resumed.last_epoch == 7
    assert resumed.get_last_lr() == pytest.approx([0.1 * S.Cosine(20)(7), 0.01 * S.Cosine(20)(7)], rel=1e-15)
    assert math.isclose(resumed.values_at(20)[0], 0.0, abs_tol=1e-18)
