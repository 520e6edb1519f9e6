"""Bad arguments and bad checkpoints raise ValueError naming the argument; what torch accepts is accepted."""

from __future__ import annotations

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
    ("base", lambda o: S.Scheduler(o, S.Cosine(10), base=-1.0)),  # an ascending "descent"
    ("floor", lambda o: S.Scheduler(o, S.Cosine(10), floor=-0.5)),
    ("milestones[1]", lambda o: S.MultiStepLR(o, milestones=[3, -3])),
    ("last_epoch", lambda o: S.Scheduler(o, S.Cosine(10), last_epoch=4)),  # no initial_lr to resume from
    ("boundaries", lambda o: S.join([S.Constant(1.0), S.Cosine(5)], [])),
    ("boundaries", lambda o: S.join([S.Constant(1.0), S.Cosine(5), S.Constant(0.0)], [5, 5])),
    ("schedules[1]", lambda o: S.product(S.Cosine(5), 3.0)),
    ("steps", lambda o: S.Cosine(0)),
    ("gamma", lambda o: S.StepDecay(3, 0.0)),
    ("step_size", lambda o: S.StepDecay(0)),
    ("gamma", lambda o: S.ExponentialDecay(-0.9)),
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


def test_milestones_as_torch_takes_them_unsorted_and_repeated():
    optimizer = sgd()
    scheduler = S.MultiStepLR(optimizer, milestones=[60, 10, 10, 30], gamma=0.5)
    assert scheduler.milestones == (10, 10, 30, 60)
    assert S.MultiStepDecay((4, 1))(3) == pytest.approx(0.1)


def test_back_to_back_schedulers_and_a_plateau_beside_a_warmup_are_accepted_like_torch():
    optimizer = sgd()
    first, second = S.StepLR(optimizer, 1, 0.5), S.ExponentialLR(optimizer, 0.9)
    plateau = S.ReduceLROnPlateau(optimizer, patience=0, factor=0.1)
    optimizer.step()
    first.step()
    second.step()
    plateau.step(1.0)
    plateau.step(2.0)  # no improvement: x 0.1
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 * 0.9 * 0.1)


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
    optimizer.step()
    chained.step()
    assert chained.get_last_lr() == pytest.approx([0.1 * 0.5 * 0.9] * 2)
    assert constant.last_epoch == exponential.last_epoch == 1


def test_a_cycling_scheduler_writes_the_momentum_too():
    optimizer = sgd()
    cyclic = S.CyclicLR(optimizer, 0.01, 0.1, step_size_up=4)
    assert cyclic.hyperparameters == {"lr", "momentum"}
    optimizer.step()
    cyclic.step()
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.9 - 0.1 / 4)


# --- loading a state: the constructor's rules (issue 18) ------------------------------------------------

def stepped(scheduler, steps: int = 3):
    for _ in range(steps):
        scheduler.optimizer.step()
        scheduler.step()
    return scheduler


def test_a_state_with_an_impossible_step_is_refused():
    state = stepped(S.StepLR(sgd(), step_size=3)).state_dict()
    state["last_epoch"] = -100  # would set the lr to 0.1 * 0.1**-34 = 1e33
    optimizer = sgd()
    scheduler = S.StepLR(optimizer, step_size=3)
    with pytest.raises(ValueError, match=r"^state_dict\['last_epoch'\]=-100 is invalid: expected an integer >= -1"):
        scheduler.load_state_dict(state)
    assert optimizer.param_groups[0]["lr"] == 0.1 and scheduler.last_epoch == 0  # nothing changed


def test_another_schedulers_state_is_refused_naming_both_classes():
    state = stepped(S.CosineAnnealingLR(sgd(), T_max=10)).state_dict()
    with pytest.raises(ValueError, match="^state_dict=.*a CosineAnnealingLR state cannot be loaded into a StepLR"):
        S.StepLR(sgd(), step_size=3).load_state_dict(state)


def test_a_state_saved_with_other_arguments_or_bad_values_is_refused():
    state = stepped(S.StepLR(sgd(), step_size=3)).state_dict()
    with pytest.raises(ValueError, match=r"^state_dict\['arguments'\]\['step_size'\]=3 is invalid: expected 5"):
        S.StepLR(sgd(), step_size=5).load_state_dict(state)
    state["base_values"] = [0.1, -1.0]
    with pytest.raises(ValueError, match=r"^state_dict\['base_values'\]\[1\]=-1.0 is invalid"):
        S.StepLR(sgd(), step_size=3).load_state_dict(state)
    with pytest.raises(ValueError, match="^state_dict=.*without"):
        S.StepLR(sgd(), step_size=3).load_state_dict({"last_epoch": 4})


def test_exponential_lr_that_overflows_is_a_clear_value_error():
    optimizer = sgd()
    scheduler = S.ExponentialLR(optimizer, gamma=1e300)
    optimizer.step()
    scheduler.step()
    with pytest.raises(ValueError, match="^gamma=1e\\+300 is invalid: .*overflows at step 2"):
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e299)  # the failed step changed nothing


def test_the_hyperparameter_error_lists_only_numeric_entries():
    with pytest.raises(ValueError, match="^hyperparameter='nesterov' is invalid") as error:
        S.Scheduler(sgd(), S.Cosine(10), "nesterov")
    allowed = str(error.value).split("expected", 1)[1]
    assert "lr" in allowed and "momentum" in allowed
    assert "nesterov" not in allowed and "maximize" not in allowed


def test_plateau_load_state_dict_refuses_unknown_keys_and_keeps_its_methods():
    plateau = S.ReduceLROnPlateau(sgd(), patience=1)
    with pytest.raises(ValueError, match="^state_dict=.*unknown keys \\['step'\\]"):
        plateau.load_state_dict({"step": 1})
    assert callable(plateau.step)
    plateau.optimizer.step()
    plateau.step(1.0)
    bad = plateau.state_dict() | {"patience": -2}
    with pytest.raises(ValueError, match=r"^state_dict\['patience'\]=-2 is invalid"):
        plateau.load_state_dict(bad)
    with pytest.raises(ValueError, match="a StepLR state cannot be loaded into a ReduceLROnPlateau"):
        plateau.load_state_dict(stepped(S.StepLR(sgd(), 3)).state_dict())
    fresh = S.ReduceLROnPlateau(sgd(), patience=1)
    fresh.load_state_dict(plateau.state_dict())
    assert fresh.last_epoch == 1 and fresh.best == 1.0
