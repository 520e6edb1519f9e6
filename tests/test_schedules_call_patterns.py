"""Call patterns users paste from torch's docs and training scripts: each gives torch's values, torch's
warnings, or a clear error where torch fails.

- ``step(epoch)`` on every scheduler, jumping forwards and backwards, and fractional epochs for
  CosineAnnealingWarmRestarts (T_mult 1 and 2, as in torch's docs and its own tests);
- the "step() before optimizer.step()" and "epoch is deprecated" warnings, exactly when torch warns;
- ``optimizer.add_param_group`` after the scheduler; a Tensor lr; torch's schedulers (SWALR included)
  driving our optimizers, beside ours.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from schedule_harness import CASES, LRS, assert_same, make_optimizer, momentum_of
from torch.optim import lr_scheduler as theirs
from torch.optim.swa_utils import SWALR

from optimlab import optim as our_optim
from optimlab import schedules as ours

# Cases whose step() takes an epoch in torch (SequentialLR and ChainedScheduler take none; the plateau a metric).
EPOCH_CASES = [(name, i) for name, cases in CASES.items() for i in range(len(cases))
               if name not in ("SequentialLR", "ChainedScheduler", "ReduceLROnPlateau")]
JUMPS = [3, 4, 4, 10, 2, 0, 25, 26, 7, 60, 61, 30, 90, 91, 92, 1]  # forwards, repeated, backwards


def rows_of(optimizer, scheduler) -> list[float]:
    groups = optimizer.param_groups
    return [float(g["lr"]) for g in groups] + [momentum_of(g) for g in groups] + [float(x) for x in
                                                                                 scheduler.get_last_lr()]


def run_calls(module, build, calls, kind="sgd") -> list:
    """Per call: the values after it, or the exception type it raised (then the run stops)."""
    optimizer = make_optimizer(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = build(module, optimizer)
        rows = [rows_of(optimizer, scheduler)]
        for call in calls:
            optimizer.step()
            try:
                scheduler.step() if call is None else scheduler.step(call)
            except (ValueError, KeyError, RuntimeError, IndexError) as error:
                rows.append(type(error))
                break
            rows.append(rows_of(optimizer, scheduler))
    return rows


def assert_same_calls(mine, expected) -> None:
    assert len(mine) == len(expected)
    if isinstance(expected[-1], type):  # torch stopped with an error: so must we, with a ValueError
        assert mine[-1] is ValueError, f"torch raised {expected[-1].__name__}, ours gave {mine[-1]}"
        mine, expected = mine[:-1], expected[:-1]
    assert_same(mine, expected)


@pytest.mark.parametrize("name,index", EPOCH_CASES, ids=[f"{n}-{i}" for n, i in EPOCH_CASES])
def test_step_with_an_epoch_then_plain_steps_matches_torch(name, index):
    """step(epoch) jumps (torch's closed form, or MultiplicativeLR's one factor); step() goes on from there."""
    calls = [None] * 5 + JUMPS + [None] * 40
    build = CASES[name][index].build
    kind = CASES[name][index].optimizer
    assert_same_calls(run_calls(ours, build, calls, kind), run_calls(theirs, build, calls, kind))


WARM_RESTARTS = {  # torch's own test of fractional and backward epochs, with T_mult 1 and 2
    1: [0, 0.1, 0.2, 0.3, 1.3, 2.3, 17.5, 18.5, 19.5, 29.5, 30.5, 31.5, 50, 3, 4.25, 4.5, 0.75, 12.999],
    2: [0, 1, 2, 3, 4, 5, 25, 32, 33, 34, 80, 81, 3, 0.5, 6.99, 7.0, 21.0, 20.999, 69.9, 70.1],
}


@pytest.mark.parametrize("T_mult", [1, 2])
@pytest.mark.parametrize("eta_min", [0.0, 0.004])
def test_warm_restarts_with_fractional_and_backward_epochs_match_torch(T_mult, eta_min):
    def build(m, o):
        return m.CosineAnnealingWarmRestarts(o, T_0=7, T_mult=T_mult, eta_min=eta_min)

    calls = WARM_RESTARTS[T_mult] + [None] * 30 + [5.5] + [None] * 30
    mine, expected = run_calls(ours, build, calls), run_calls(theirs, build, calls)
    assert_same(mine, expected)
    optimizer = make_optimizer("sgd")
    scheduler = build(ours, optimizer)
    scheduler.step(17.5)
    reference = build(theirs, make_optimizer("sgd"))
    reference.step(17.5)
    assert (scheduler.last_epoch, scheduler.T_cur, scheduler.T_i) == pytest.approx(
        (reference.last_epoch, reference.T_cur, reference.T_i), rel=1e-12)


def test_warm_restarts_in_the_batch_loop_as_torchs_docs_show():
    """``scheduler.step(epoch + i / iters)`` after every batch: torch's documented pattern."""
    results = []
    for module in (ours, theirs):
        optimizer = make_optimizer("sgd")
        scheduler = module.CosineAnnealingWarmRestarts(optimizer, T_0=3, T_mult=2, eta_min=0.001)
        lrs, iters = [], 7
        for epoch in range(12):
            for i in range(iters):
                lrs.append([float(g["lr"]) for g in optimizer.param_groups])
                optimizer.step()
                scheduler.step(epoch + i / iters)
        results.append(lrs)
    assert_same(*results)
    assert len({row[0] for row in results[1]}) > 50


def test_warm_restarts_walk_the_periods_exactly_where_torchs_logarithm_misplaces_a_restart():
    """The documented deviation: epoch 121 is a restart of T_0=1, T_mult=3 (1 + 3 + 9 + 27 + 81), but
    torch's int(log(243, 3)) = 4 puts it at the end of the previous period."""
    mine, reference = make_optimizer("sgd"), make_optimizer("sgd")
    scheduler = ours.CosineAnnealingWarmRestarts(mine, T_0=1, T_mult=3)
    theirs.CosineAnnealingWarmRestarts(reference, T_0=1, T_mult=3).step(121)
    scheduler.step(121)
    assert mine.param_groups[0]["lr"] == LRS[0] and scheduler.T_cur == 0 and scheduler.T_i == 243
    assert reference.param_groups[0]["lr"] < 1e-12


def test_an_epoch_that_torch_cannot_take_is_refused_by_name():
    optimizer = make_optimizer("sgd")
    with pytest.raises(ValueError, match="^epoch=-1 is invalid"):
        ours.CosineAnnealingWarmRestarts(optimizer, T_0=5).step(-1)
    with pytest.raises(ValueError, match=r"^epoch=2\.5 is invalid: expected an integer"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.StepLR(optimizer, 3).step(2.5)  # only warm restarts document fractional epochs
    for module in (ours, theirs):  # these take no epoch at all, in torch as in ours
        optimizer = make_optimizer("sgd")
        parts = [module.StepLR(optimizer, 3), module.ExponentialLR(optimizer, 0.9)]
        with pytest.raises(TypeError):
            module.ChainedScheduler(parts).step(3)


# --- warnings ---------------------------------------------------------------------------------------

ORDER = "before `optimizer.step()`"
DEPRECATED = "epoch parameter in `scheduler.step()`"
WARNING_CASES = [(name, 0) for name in CASES] + [("CosineAnnealingWarmRestarts", 1), ("SequentialLR", 2)]


def messages(module, build, pattern: str, kind: str, metrics: list[float]) -> list[str]:
    """The UserWarnings raised while stepping in ``pattern``: "scheduler-first" (no optimizer.step() before
    the first scheduler.step()), "optimizer-first", or "epoch" (step(epoch) in the right order)."""
    optimizer = make_optimizer(kind)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scheduler = build(module, optimizer)
        for t in range(3):
            if pattern != "scheduler-first" or t > 0:
                optimizer.step()
            arguments = [metrics[t]] if metrics else []
            if pattern == "epoch" and not isinstance(scheduler, (theirs.SequentialLR, theirs.ChainedScheduler,
                                                                 ours.SequentialLR, ours.ChainedScheduler)):
                arguments.append(t + 1)
            scheduler.step(*arguments)
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize("pattern", ["scheduler-first", "optimizer-first", "epoch"])
@pytest.mark.parametrize("name,index", WARNING_CASES, ids=[f"{n}-{i}" for n, i in WARNING_CASES])
def test_warnings_exactly_when_torch_warns(name, index, pattern):
    case = CASES[name][index]
    expected = messages(theirs, case.build, pattern, case.optimizer, case.metrics)
    mine = messages(ours, case.build, pattern, case.optimizer, case.metrics)
    assert mine == expected  # the same warnings, as many times, with torch's words


def test_the_order_warning_with_pytest_warns_and_its_absence_as_an_error():
    optimizer = make_optimizer("sgd")
    scheduler = ours.StepLR(optimizer, 3)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
        scheduler.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler.step()  # only the first step can warn
        fresh = ours.ExponentialLR(optimizer, 0.9)  # the optimizer has not stepped yet: ...
    with pytest.warns(UserWarning, match="before `optimizer.step"):
        fresh.step()  # ... the new scheduler warns too, as torch's does
    optimizer = make_optimizer("sgd")
    scheduler = ours.StepLR(optimizer, 3)
    optimizer.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler.step()


def test_no_false_alarm_when_grad_scaler_skipped_the_first_step():
    """GradScaler skips optimizer.step() on an inf gradient: torch warns anyway (a known false alarm);
    ours sees the non-finite gradient and stays quiet, but still warns for a real mistake."""
    results = {}
    for module in (ours, theirs):
        weight = torch.ones(2, requires_grad=True)
        optimizer = torch.optim.SGD([weight], lr=0.1)
        scheduler = module.StepLR(optimizer, 3)
        scaler = torch.amp.GradScaler("cpu")
        loss = (weight * torch.tensor([float("inf"), 1.0])).sum()
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # skipped: the gradient holds inf
        scaler.update()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scheduler.step()
        results[module] = [str(w.message) for w in caught]
        assert torch.equal(weight, torch.ones(2))  # the step really was skipped
    assert any(ORDER in m for m in results[theirs]) and not any(ORDER in m for m in results[ours])
    weight = torch.ones(2, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scheduler = ours.StepLR(optimizer, 3)
    weight.sum().backward()  # a finite gradient, and the user forgot optimizer.step()
    with pytest.warns(UserWarning, match="before `optimizer.step"):
        scheduler.step()


# --- add_param_group ----------------------------------------------------------------------------------

ADD_CASES = [(name, i) for name, cases in CASES.items() for i in range(len(cases))]


def run_with_added_group(module, case, added_at: int = 17) -> list:
    """Run 120 steps; after step ``added_at`` a third group (lr 0.02) joins. Per step: values, or the error."""
    optimizer = make_optimizer(case.optimizer)
    rows: list = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = case.build(module, optimizer)
        for t in range(120):
            rows.append([float(g["lr"]) for g in optimizer.param_groups])
            optimizer.step()
            try:
                scheduler.step(case.metrics[t]) if case.metrics else scheduler.step()
            except (ValueError, KeyError, RuntimeError) as error:
                rows.append(type(error))
                rows.append(str(error))
                break
            if t == added_at:
                extra = torch.zeros(3, dtype=torch.float64, requires_grad=True)
                optimizer.add_param_group({"params": [extra], "lr": 0.02})
    return rows


@pytest.mark.parametrize("name,index", ADD_CASES, ids=[f"{n}-{i}" for n, i in ADD_CASES])
def test_a_group_added_after_the_scheduler_gets_torchs_values_or_a_clear_error(name, index):
    case = CASES[name][index]
    mine, expected = run_with_added_group(ours, case), run_with_added_group(theirs, case)
    assert len(mine) == len(expected), (mine[-2:], expected[-2:])
    if isinstance(expected[-2], type):
        assert mine[-2] is ValueError and "add_param_group" in mine[-1], mine[-1]
        mine, expected = mine[:-2], expected[:-2]
    assert_same(mine, expected)


def test_gradual_unfreezing_with_step_lr_schedules_the_new_group_from_its_own_lr():
    optimizer = make_optimizer("sgd")
    scheduler = ours.StepLR(optimizer, step_size=10, gamma=0.5)
    for t in range(25):
        optimizer.step()
        scheduler.step()
        if t == 4:
            optimizer.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "lr": 0.02})
    assert optimizer.param_groups[2]["lr"] == pytest.approx(0.02 * 0.5**2)  # halved at steps 10 and 20
    with pytest.raises(ValueError, match="add_param_group"), pytest.warns(UserWarning, match="epoch parameter"):
        scheduler.step(3)  # a jump needs the closed form, i.e. the new group's base: torch fails too


def test_lambda_lr_refuses_a_group_added_later_and_says_what_to_do():
    optimizer = make_optimizer("sgd")
    scheduler = ours.LambdaLR(optimizer, [lambda t: 0.9**t, lambda t: 1.0])
    optimizer.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "lr": 0.02})
    optimizer.step()
    with pytest.raises(ValueError, match=r"add_param_group\(\).*Build the scheduler after"):
        scheduler.step()


# --- Tensor learning rates ------------------------------------------------------------------------------

TENSOR_CASES = [(name, 0) for name in CASES] + [("OneCycleLR", 4), ("CyclicLR", 1)]


def tensor_run(module, case) -> tuple[list, list]:
    lrs = [torch.tensor(lr, dtype=torch.float64) for lr in LRS]
    params = [torch.zeros(3, dtype=torch.float64, requires_grad=True) for _ in LRS]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)]
    optimizer = (torch.optim.SGD(groups, momentum=0.9) if case.optimizer == "sgd"
                 else torch.optim.Adam(groups, betas=(0.9, 0.99), foreach=False))
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = case.build(module, optimizer)
        for t in range(60):
            assert all(g["lr"] is lr for g, lr in zip(optimizer.param_groups, lrs, strict=True)), "lr re-bound"
            rows.append([float(g["lr"]) for g in optimizer.param_groups] + [float(x) for x in scheduler.get_last_lr()])
            optimizer.step()
            scheduler.step(case.metrics[t]) if case.metrics else scheduler.step()
    return rows, [type(x) for x in scheduler.get_last_lr()]


@pytest.mark.parametrize("name,index", TENSOR_CASES, ids=[f"{n}-{i}" for n, i in TENSOR_CASES])
def test_a_tensor_lr_stays_the_same_tensor_and_gets_torchs_values(name, index):
    case = CASES[name][index]
    (mine, my_types), (expected, their_types) = tensor_run(ours, case), tensor_run(theirs, case)
    assert_same(mine, expected)
    if name not in ("ReduceLROnPlateau", "ChainedScheduler", "SequentialLR"):
        assert my_types == their_types == [torch.Tensor, torch.Tensor]  # get_last_lr: copies, as Tensors


def test_tensor_max_lr_is_accepted_like_torch():
    values = []
    for module in (ours, theirs):
        optimizer = make_optimizer("sgd")
        scheduler = module.OneCycleLR(optimizer, max_lr=torch.tensor(0.3), total_steps=50)
        for _ in range(20):
            optimizer.step()
            scheduler.step()
        values.append([float(g["lr"]) for g in optimizer.param_groups])
    assert values[0] == pytest.approx(values[1], rel=1e-6)  # torch computes in float32 here


# --- interop with torch's own schedulers --------------------------------------------------------------

def swa_run(optimizer_module, scheduler_module) -> list[float]:
    """The SWA recipe: a cosine for 30 epochs, then SWALR anneals to swa_lr (both on one optimizer)."""
    torch.manual_seed(0)
    params = [torch.randn(4, dtype=torch.float64, requires_grad=True) for _ in LRS]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, LRS, strict=True)]
    optimizer = optimizer_module.SGD(groups, momentum=0.9)
    cosine = scheduler_module.CosineAnnealingLR(optimizer, T_max=40, eta_min=0.001)
    swa = SWALR(optimizer, swa_lr=0.02, anneal_epochs=8, anneal_strategy="cos")
    rows = []
    for epoch in range(60):
        rows.append([float(g["lr"]) for g in optimizer.param_groups] + [float(p.detach().sum()) for p in params])
        optimizer.zero_grad()
        sum(((p - 1) ** 2).sum() for p in params).backward()
        optimizer.step()
        (swa if epoch >= 30 else cosine).step()
    return rows


def test_swalr_drives_our_optimizer_after_our_cosine_like_torchs():
    expected = swa_run(torch.optim, theirs)
    for optimizer_module, scheduler_module in ((our_optim, theirs), (torch.optim, ours), (our_optim, ours)):
        rows = swa_run(optimizer_module, scheduler_module)
        for mine, reference in zip(rows, expected, strict=True):
            assert mine == pytest.approx(reference, rel=1e-10, abs=1e-12)
    assert expected[59][0] == pytest.approx(0.02) and expected[30][0] != pytest.approx(0.02)


def test_our_scheduler_back_to_back_with_a_torch_scheduler():
    rows = []
    for first, second in ((theirs, theirs), (ours, theirs), (theirs, ours), (ours, ours)):
        optimizer = make_optimizer("sgd")
        schedulers = [first.LinearLR(optimizer, 0.1, total_iters=10), second.CosineAnnealingLR(optimizer, 50, 0.002)]
        trajectory = []
        for _ in range(100):
            trajectory.append([float(g["lr"]) for g in optimizer.param_groups])
            optimizer.step()
            for scheduler in schedulers:
                scheduler.step()
        rows.append(trajectory)
    for trajectory in rows[1:]:
        assert_same(trajectory, rows[0])
    assert math.isclose(rows[0][0][0], LRS[0] * 0.1)
