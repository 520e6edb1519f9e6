"""Checkpoints: optimizer + scheduler saved after k steps and loaded into fresh objects continue exactly
like the uninterrupted run (learning rates, momenta and parameters), whichever is built first.

Training uses our optimizers (optimlab.optim.SGD with momentum, Adam) on real gradients, and the
checkpoint goes through ``torch.save`` / ``torch.load(weights_only=True)`` as a real one would.
"""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from optim_harness import loss_at, make_params
from schedule_harness import CASES, LRS, assert_same, momentum_of

from optimlab import optim as our_optim
from optimlab import schedules as ours

TOTAL, SAVED_AT = 60, 23
# which of CASES[name] to resume (default: the last)
RICHEST = {"ReduceLROnPlateau": 1, "OneCycleLR": 4, "SequentialLR": 3}
ORDERS = ["scheduler-then-optimizer", "optimizer-then-scheduler"]


def build_optimizer(kind: str, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    groups = [{"params": params[:2], "lr": LRS[0]}, {"params": params[2:], "lr": LRS[1]}]
    return our_optim.SGD(groups, momentum=0.9) if kind == "sgd" else our_optim.Adam(groups, betas=(0.9, 0.99))


def train(case, optimizer, scheduler, params, start: int, stop: int, rows: list) -> None:
    for t in range(start, stop):
        rows.append([g["lr"] for g in optimizer.param_groups] + [momentum_of(g) for g in optimizer.param_groups])
        optimizer.zero_grad(set_to_none=True)
        loss_at(params, t).backward()
        optimizer.step()
        if case.metrics:
            scheduler.step(case.metrics[t])
        else:
            scheduler.step()


def uninterrupted(case):
    params = make_params()
    optimizer = build_optimizer(case.optimizer, params)
    scheduler, rows = case.build(ours, optimizer), []
    train(case, optimizer, scheduler, params, 0, TOTAL, rows)
    return params, rows


def resumed(case, order: str, *, load_scheduler: bool = True):
    params = make_params()
    optimizer = build_optimizer(case.optimizer, params)
    scheduler, rows = case.build(ours, optimizer), []
    train(case, optimizer, scheduler, params, 0, SAVED_AT, rows)
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)  # our scheduler state is plain data

    fresh = [p.detach().clone().requires_grad_() for p in params]
    optimizer = build_optimizer(case.optimizer, fresh)
    if order == "scheduler-then-optimizer":
        scheduler = case.build(ours, optimizer)
        optimizer.load_state_dict(checkpoint["optimizer"])
    else:
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler = case.build(ours, optimizer)
    if load_scheduler:
        scheduler.load_state_dict(checkpoint["scheduler"])
    train(case, optimizer, scheduler, fresh, SAVED_AT, TOTAL, rows)
    return fresh, rows


# A chain's product lives in the optimizer's lr: as torch's docs say, build the schedulers before
# optimizer.load_state_dict() (building one after it would scale the loaded lr by its step-0 factor).
# The same holds for a SequentialLR whose MultiplicativeLR part starts from the lr the part before it left.
RESUME = [(name, order, RICHEST.get(name, -1)) for name in CASES for order in ORDERS
          if not (name == "ChainedScheduler" and order == "optimizer-then-scheduler")]
RESUME.append(("SequentialLR", "scheduler-then-optimizer", 4))


@pytest.mark.parametrize("name,order,index", RESUME)
def test_resume_equals_uninterrupted_run(name, order, index):
    case = CASES[name][index]
    expected_params, expected_rows = uninterrupted(case)
    params, rows = resumed(case, order)
    assert_same(rows, expected_rows)
    for mine, expected in zip(params, expected_params, strict=True):
        torch.testing.assert_close(mine, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["StepLR", "OneCycleLR", "SequentialLR", "ReduceLROnPlateau"])
def test_resume_without_the_scheduler_state_differs(name):
    """The resume test can fail: a scheduler rebuilt from scratch restarts its schedule at step 0."""
    case = CASES[name][RICHEST.get(name, -1)]
    _, expected_rows = uninterrupted(case)
    _, rows = resumed(case, ORDERS[0], load_scheduler=False)
    with pytest.raises(AssertionError):
        assert_same(rows, expected_rows)


def test_state_dict_round_trip_keeps_the_step_and_values():
    optimizer = build_optimizer("sgd", make_params())
    scheduler = ours.OneCycleLR(optimizer, max_lr=[0.1, 0.2], total_steps=50)
    for _ in range(12):
        optimizer.step()
        scheduler.step()
    state = scheduler.state_dict()
    assert state["last_epoch"] == 12 and state["companions"][0]["hyperparameter"] == "momentum"
    fresh = ours.OneCycleLR(build_optimizer("sgd", make_params()), max_lr=[0.1, 0.2], total_steps=50)
    fresh.load_state_dict(state)
    assert fresh.get_last_lr() == scheduler.get_last_lr()
    assert [g["momentum"] for g in fresh.optimizer.param_groups] == [g["momentum"] for g in optimizer.param_groups]


def test_loading_a_state_for_another_hyperparameter_is_refused():
    optimizer = build_optimizer("sgd", make_params())
    lr_scheduler = ours.Scheduler(optimizer, ours.Cosine(10))
    momentum_scheduler = ours.Scheduler(optimizer, ours.Cosine(10), "momentum")
    with pytest.raises(ValueError, match="^state_dict="):
        lr_scheduler.load_state_dict(momentum_scheduler.state_dict())


# --- back to back, chains, step(epoch), fractional epochs (issue 10) --------------------------------------

def save_and_resume(build, drive, total: int = 70, saved_at: int = 29):
    """Run ``drive(schedulers, t)`` for ``total`` steps uninterrupted, and again saving every state at
    ``saved_at`` and loading it into fresh objects (schedulers built before the optimizer's state is loaded)."""
    runs = []
    for interrupted in (False, True):
        params = make_params()
        optimizer = build_optimizer("sgd", params)
        schedulers, rows = build(optimizer), []
        for t in range(total):
            if interrupted and t == saved_at:
                buffer = io.BytesIO()
                torch.save({"optimizer": optimizer.state_dict(),
                            "schedulers": [s.state_dict() for s in schedulers]}, buffer)
                buffer.seek(0)
                checkpoint = torch.load(buffer, weights_only=True)
                params = [p.detach().clone().requires_grad_() for p in params]
                optimizer = build_optimizer("sgd", params)
                schedulers = build(optimizer)
                optimizer.load_state_dict(checkpoint["optimizer"])
                for scheduler, state in zip(schedulers, checkpoint["schedulers"], strict=True):
                    scheduler.load_state_dict(state)
            rows.append([float(g["lr"]) for g in optimizer.param_groups])
            optimizer.zero_grad(set_to_none=True)
            loss_at(params, t).backward()
            optimizer.step()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # step(epoch)'s deprecation note
                drive(schedulers, t)
        runs.append((rows, params))
    (expected_rows, expected_params), (rows, params) = runs
    assert_same(rows, expected_rows)
    for mine, expected in zip(params, expected_params, strict=True):
        torch.testing.assert_close(mine, expected, rtol=1e-12, atol=1e-12)
    return expected_rows


def step_all(schedulers, t):
    for scheduler in schedulers:
        scheduler.step()


def test_resume_back_to_back_schedulers():
    rows = save_and_resume(lambda o: [ours.LinearLR(o, 0.1, total_iters=10), ours.CosineAnnealingLR(o, 20, 0.003),
                                      ours.MultiStepLR(o, [40, 25, 25], 0.5)], step_all)
    assert len({row[0] for row in rows}) > 40


def test_resume_a_chained_scheduler_with_a_floor_and_an_overwriting_part():
    save_and_resume(lambda o: [ours.ChainedScheduler([ours.ExponentialLR(o, 0.97), ours.CosineAnnealingLR(o, 15, 0.01),
                                                      ours.LambdaLR(o, lambda t: 1 / (1 + t / 10))])], step_all)


def test_resume_warm_restarts_stepped_with_fractional_epochs():
    def drive(schedulers, t):
        schedulers[0].step(t / 3 + 0.25)

    rows = save_and_resume(lambda o: [ours.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2, eta_min=0.001)], drive)
    assert len({row[0] for row in rows}) > 60


def test_a_fresh_warm_restarts_scheduler_without_the_state_differs():
    """The fractional-epoch resume test can fail: its state holds the fractional epoch."""
    optimizer = build_optimizer("sgd", make_params())
    scheduler = ours.CosineAnnealingWarmRestarts(optimizer, T_0=4)
    scheduler.step(2.5)
    state = scheduler.state_dict()
    assert state["epoch"] == 2.5 and state["last_epoch"] == 2
    fresh = ours.CosineAnnealingWarmRestarts(build_optimizer("sgd", make_params()), T_0=4)
    fresh.load_state_dict(state)
    fresh.step()
    assert fresh.T_cur == 3.5 and fresh.get_last_lr() == pytest.approx(ours.CosineAnnealingWarmRestarts(
        build_optimizer("sgd", make_params()), T_0=4).values_at(3.5))


JUMPERS = [name for name in CASES if name not in ("SequentialLR", "ChainedScheduler", "ReduceLROnPlateau")]


@pytest.mark.parametrize("name", JUMPERS)
def test_resume_after_step_with_an_epoch(name):
    case = CASES[name][RICHEST.get(name, -1)]

    def drive(schedulers, t):
        schedulers[0].step(t + 5) if t in (10, 11, 30) else schedulers[0].step()

    save_and_resume(lambda o: [case.build(ours, o)], drive, total=60, saved_at=31)
