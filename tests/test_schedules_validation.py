"""Bad arguments raise ValueError naming the argument; several schedulers on one hyperparameter are refused."""

from __future__ import annotations

import gc
import re

import pytest
import torch

from optimlab import schedules as S


def sgd(groups: int = 2) -> torch.optim.Optimizer:
    return torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)], "lr": 0.1} for _ in range(groups)],
                           momentum=0.9)


def adagrad() -> torch.optim.Optimizer:
    return torch.optim.Adagrad([torch.zeros(2, requires_grad=True)])  # neither momentum nor betas


# (argument the message must name first, a call that must raise)
INVALID = [
    ("T_max", lambda o: S.CosineAnnealingLR(o, T_max=0)),
    ("T_max", lambda o: S.CosineAnnealingLR(o, T_max=-5)),
    ("T_max", lambda o: S.CosineAnnealingLR(o, T_max=2.5)),
    ("eta_min", lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=-0.1)),
    ("gamma", lambda o: S.StepLR(o, step_size=3, gamma=0.0)),
    ("gamma", lambda o: S.StepLR(o, step_size=3, gamma=-0.5)),
    ("step_size", lambda o: S.StepLR(o, step_size=0)),
    ("gamma", lambda o: S.ExponentialLR(o, gamma=0)),
    ("gamma", lambda o: S.MultiStepLR(o, [2, 5], gamma=-1)),
    ("milestones", lambda o: S.MultiStepLR(o, milestones=[5, 2])),
    ("milestones", lambda o: S.MultiStepLR(o, milestones=[3, 3])),
    ("milestones[0]", lambda o: S.MultiStepLR(o, milestones=[-1, 4])),
    ("milestones", lambda o: S.MultiStepLR(o, milestones=7)),
    ("factor", lambda o: S.ConstantLR(o, factor=1.5)),
    ("total_iters", lambda o: S.ConstantLR(o, total_iters=0)),
    ("start_factor", lambda o: S.LinearLR(o, start_factor=0.0)),
    ("end_factor", lambda o: S.LinearLR(o, end_factor=1.5)),
    ("total_iters", lambda o: S.LinearLR(o, total_iters=0)),
    ("total_iters", lambda o: S.PolynomialLR(o, total_iters=0)),
    ("power", lambda o: S.PolynomialLR(o, power=-1.0)),
    ("T_0", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=0)),
    ("T_mult", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0)),
    ("T_mult", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=1.5)),
    ("mode", lambda o: S.CyclicLR(o, 0.01, 0.1, mode="triangle")),
    ("base_lr", lambda o: S.CyclicLR(o, [0.01, 0.02, 0.03], 0.1)),
    ("max_lr", lambda o: S.CyclicLR(o, 0.01, [0.1])),
    ("step_size_up", lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=0)),
    ("gamma", lambda o: S.CyclicLR(o, 0.01, 0.1, mode="exp_range", gamma=0.0)),
    ("scale_mode", lambda o: S.CyclicLR(o, 0.01, 0.1, scale_fn=lambda x: 1.0, scale_mode="epochs")),
    ("total_steps", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=3)),  # too short for pct_start=0.3
    ("total_steps", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=0)),
    ("total_steps", lambda o: S.OneCycleLR(o, max_lr=0.1)),
    ("epochs", lambda o: S.OneCycleLR(o, max_lr=0.1, epochs=0, steps_per_epoch=10)),
    ("pct_start", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=100, pct_start=1.0)),
    ("pct_start", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=100, pct_start=0.6, three_phase=True)),
    ("pct_start", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=100, pct_start=1.5)),
    ("anneal_strategy", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=100, anneal_strategy="exp")),
    ("div_factor", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=100, div_factor=0)),
    ("max_lr", lambda o: S.OneCycleLR(o, max_lr=[0.1, 0.2, 0.3], total_steps=100)),
    ("cycle_momentum", lambda o: S.OneCycleLR(adagrad(), max_lr=0.1, total_steps=100)),
    ("cycle_momentum", lambda o: S.CyclicLR(adagrad(), 0.01, 0.1)),
    ("lr_lambda", lambda o: S.LambdaLR(o, [lambda t: 1.0])),
    ("lr_lambda", lambda o: S.MultiplicativeLR(o, 0.5)),
    ("milestones", lambda o: S.SequentialLR(o, [S.StepLR(o, 3), S.ExponentialLR(o, 0.9)], milestones=[])),
    ("milestones", lambda o: S.SequentialLR(o, [S.StepLR(o, 3), S.StepLR(o, 3), S.StepLR(o, 3)], [9, 4])),
    ("schedulers", lambda o: S.SequentialLR(o, [], milestones=[])),
    ("schedulers[1]", lambda o: S.SequentialLR(o, [S.StepLR(o, 3), S.StepLR(sgd(), 3)], milestones=[5])),
    ("schedulers[0]", lambda o: S.SequentialLR(o, [S.ReduceLROnPlateau(o), S.StepLR(o, 3)], [5])),
    ("schedulers[0]", lambda o: S.SequentialLR(o, [torch.optim.lr_scheduler.StepLR(o, 3), S.StepLR(o, 3)], [5])),
    ("schedulers[1]", lambda o: S.ChainedScheduler([S.StepLR(o, 3), S.LambdaLR(o, lambda t: 1.0)])),
    ("schedulers[0]", lambda o: S.ChainedScheduler([S.CosineAnnealingLR(o, 10, eta_min=0.01)])),
    ("schedulers[0]", lambda o: S.ChainedScheduler([S.OneCycleLR(o, 0.1, total_steps=50)])),
    ("schedulers", lambda o: S.ChainedScheduler([])),
    ("mode", lambda o: S.ReduceLROnPlateau(o, mode="avg")),
    ("factor", lambda o: S.ReduceLROnPlateau(o, factor=1.0)),
    ("patience", lambda o: S.ReduceLROnPlateau(o, patience=-1)),
    ("threshold_mode", lambda o: S.ReduceLROnPlateau(o, threshold_mode="pct")),
    ("cooldown", lambda o: S.ReduceLROnPlateau(o, cooldown=-1)),
    ("min_lr", lambda o: S.ReduceLROnPlateau(o, min_lr=[0.1])),
    ("warmup_steps", lambda o: S.warmup_cosine(100, 100)),  # a warmup as long as the schedule
    ("warmup_steps", lambda o: S.warmup_cosine(200, 100)),
    ("warmup_steps", lambda o: S.warmup_stable_decay(100, 50, 10)),
    ("decay_steps", lambda o: S.warmup_stable_decay(10, 50, 45)),
    ("decay_steps", lambda o: S.warmup_stable_decay(10, 50, 0)),
    ("decay_shape", lambda o: S.warmup_stable_decay(10, 50, 10, decay_shape="exp")),
    ("end_factor", lambda o: S.warmup_cosine(10, 50, end_factor=2.0)),
    ("warmup_steps", lambda o: S.inverse_sqrt(0)),
    ("optimizer", lambda o: S.StepLR(object(), 3)),
    ("hyperparameter", lambda o: S.Scheduler(o, S.Cosine(10), "momentun")),
    ("hyperparameter", lambda o: S.Scheduler(o, S.Cosine(10), "betas[0]")),  # SGD has no betas
    ("schedule", lambda o: S.Scheduler(o, 0.5)),
    ("base", lambda o: S.Scheduler(o, S.Cosine(10), base=[0.1])),
    ("last_epoch", lambda o: S.Scheduler(o, S.Cosine(10), last_epoch=4)),  # no initial_lr to resume from
    ("boundaries", lambda o: S.join([S.Constant(1.0), S.Cosine(5)], [])),
    ("boundaries", lambda o: S.join([S.Constant(1.0), S.Cosine(5), S.Constant(0.0)], [5, 5])),
    ("schedules[1]", lambda o: S.product(S.Cosine(5), 3.0)),
    ("steps", lambda o: S.Cosine(0)),
    ("gamma", lambda o: S.StepDecay(3, 0.0)),
    ("step_size", lambda o: S.StepDecay(0)),
    ("gamma", lambda o: S.ExponentialDecay(-0.9)),
    ("milestones", lambda o: S.MultiStepDecay([4, 1])),
    ("steps", lambda o: S.Linear(0.0, 1.0, 0)),
    ("power", lambda o: S.Polynomial(10, -2.0)),
    ("period", lambda o: S.WarmRestarts(0)),
    ("period_mult", lambda o: S.WarmRestarts(5, 0)),
    ("timescale", lambda o: S.InverseSqrt(0)),
    ("steps", lambda o: S.SqrtDecay(0)),
    ("step_size_up", lambda o: S.Cyclic(0, 5)),
    ("scale_mode", lambda o: S.Cyclic(5, 5, scale_mode="epoch")),
    ("shape", lambda o: S.Anneal((0.0, 5.0), (1.0, 0.0), shape="cosine")),
    ("knots", lambda o: S.Anneal((0.0, 0.0), (1.0, 0.0))),
]


@pytest.mark.parametrize("name,call", INVALID, ids=[f"{i}-{name}" for i, (name, _) in enumerate(INVALID)])
def test_invalid_argument_raises_value_error_naming_it(name, call):
    with pytest.raises(ValueError, match="^" + re.escape(name) + "=.* is invalid: expected"):
        call(sgd())


def test_two_schedulers_on_one_learning_rate_are_refused_with_a_pointer_to_chained_scheduler():
    optimizer = sgd()
    first, second = S.StepLR(optimizer, 3), S.ExponentialLR(optimizer, 0.9)
    optimizer.step()
    with pytest.raises(ValueError, match="ChainedScheduler"):
        first.step()
    with pytest.raises(ValueError, match="StepLR drives it too"):
        second.step()
    del first
    gc.collect()
    second.step()  # the other one is gone: nothing to conflict with
    assert second.last_epoch == 1


def test_a_plateau_scheduler_and_a_schedule_on_one_learning_rate_are_refused():
    optimizer = sgd()
    plateau, warmup = S.ReduceLROnPlateau(optimizer), S.LinearLR(optimizer)  # noqa: F841 (both must stay alive)
    with pytest.raises(ValueError, match="ChainedScheduler"):
        plateau.step(1.0)


def test_schedulers_of_different_hyperparameters_share_an_optimizer():
    optimizer = sgd()
    lr, momentum = S.Scheduler(optimizer, S.Cosine(10)), S.Scheduler(optimizer, S.Linear(1.0, 0.9, 5), "momentum")
    for _ in range(3):
        optimizer.step()
        lr.step()
        momentum.step()
    assert momentum.get_last_value() == pytest.approx([0.9 * 0.94] * 2)


def test_a_part_of_a_chained_or_sequential_scheduler_cannot_be_stepped_directly():
    optimizer = sgd()
    constant, exponential = S.ConstantLR(optimizer, 0.5, total_iters=2), S.ExponentialLR(optimizer, 0.9)
    chained = S.ChainedScheduler([constant, exponential])
    with pytest.raises(ValueError, match="belongs to a ChainedScheduler"):
        exponential.step()
    chained.step()
    assert chained.get_last_lr() == pytest.approx([0.1 * 0.5 * 0.9] * 2)
    assert constant.last_epoch == exponential.last_epoch == 1


def test_a_cycling_scheduler_claims_the_momentum_too():
    optimizer = sgd()
    cyclic = S.CyclicLR(optimizer, 0.01, 0.1, step_size_up=4)
    momentum = S.Scheduler(optimizer, S.Cosine(10), "momentum")
    assert cyclic.hyperparameters == {"lr", "momentum"}
    with pytest.raises(ValueError, match="momentum"):
        momentum.step()
