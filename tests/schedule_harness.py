"""The scheduler tests' shared harness: torch-parity cases, trajectories and comparisons.

Each case builds the scheduler with the *same code* from either module (``m`` is ``optimlab.schedules`` or
``torch.optim.lr_scheduler``) on two param groups with different learning rates, runs at least 100 steps,
and compares every group's lr and momentum (or β₁) and ``get_last_lr()`` to 1e-12 (relative) in float64.
Add a class's cases to ``CASES``; ``test_every_torch_named_class_has_parity_cases`` fails until you do.
Used by tests/test_schedules_*.py (``pythonpath = ["tests"]`` makes it importable).
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

LRS = (0.1, 0.037)  # the two groups' learning rates
STEPS = 120
REL, ABS = 1e-12, 1e-15


@dataclass
class Case:
    build: Callable[[Any, torch.optim.Optimizer], Any]  # (module, optimizer) -> scheduler
    optimizer: str = "sgd"                               # "sgd" (momentum recorded) or "adam" (β₁ recorded)
    steps: int = STEPS
    metrics: list[float] = field(default_factory=list)   # for ReduceLROnPlateau: one per step


def make_optimizer(kind: str, lrs=LRS) -> torch.optim.Optimizer:
    params = [torch.zeros(3, dtype=torch.float64, requires_grad=True) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    return torch.optim.SGD(groups, momentum=0.9) if kind == "sgd" else torch.optim.Adam(groups, betas=(0.9, 0.99))


def momentum_of(group: dict) -> float:
    return group["betas"][0] if "betas" in group else group["momentum"]


def trajectory(module, case: Case) -> list[list[float]]:
    """Per step t = 0 … steps: [lr of each group, momentum of each group, get_last_lr() of each group]."""
    optimizer = make_optimizer(case.optimizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation notes are not what we test
        scheduler = case.build(module, optimizer)
        rows = []
        for t in range(case.steps + 1):
            groups = optimizer.param_groups
            rows.append([g["lr"] for g in groups] + [momentum_of(g) for g in groups] + list(scheduler.get_last_lr()))
            optimizer.step()  # no gradients: a no-op, in the order torch expects
            if t < case.steps:
                scheduler.step(case.metrics[t]) if case.metrics else scheduler.step()
    return rows


def assert_same(ours_rows, their_rows) -> None:
    for t, (mine, expected) in enumerate(zip(ours_rows, their_rows, strict=True)):
        for column, (a, b) in enumerate(zip(mine, expected, strict=True)):
            assert math.isclose(a, b, rel_tol=REL, abs_tol=ABS), f"step {t}, column {column}: {a!r} != {b!r}"


def noisy_metrics(seed: int, sign: float = 1.0) -> list[float]:
    """A loss that falls, then plateaus with noise: the plateau scheduler has something to do."""
    rng = random.Random(seed)
    values = [1 / (1 + t) + 0.05 * rng.random() if t < 40 else 0.03 + 0.01 * rng.random() for t in range(STEPS)]
    return [sign * v for v in values]


def scale_fn(x):
    return 1 / (1.0 + x / 4)  # a custom CyclicLR policy


CASES: dict[str, list[Case]] = {
    "StepLR": [Case(lambda m, o: m.StepLR(o, step_size=3, gamma=0.1)),
               Case(lambda m, o: m.StepLR(o, 7, 0.5)),
               Case(lambda m, o: m.StepLR(o, step_size=25, gamma=1.2))],
    "MultiStepLR": [Case(lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.1)),
                    Case(lambda m, o: m.MultiStepLR(o, milestones=[60, 10, 10, 30], gamma=0.5)),  # torch sorts
                    Case(lambda m, o: m.MultiStepLR(o, milestones={90, 10, 40}, gamma=0.5)),  # a set: no order
                    Case(lambda m, o: m.MultiStepLR(o, milestones=(0, 50, 51), gamma=0.3))],
    "ConstantLR": [Case(lambda m, o: m.ConstantLR(o)),
                   Case(lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=4)),
                   Case(lambda m, o: m.ConstantLR(o, factor=0.1, total_iters=60))],
    "LinearLR": [Case(lambda m, o: m.LinearLR(o)),
                 Case(lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=40)),
                 Case(lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=100)),
                 Case(lambda m, o: m.LinearLR(o, start_factor=0.5, end_factor=0.0, total_iters=30))],
    "ExponentialLR": [Case(lambda m, o: m.ExponentialLR(o, gamma=0.9)),
                      Case(lambda m, o: m.ExponentialLR(o, 0.99)),
                      Case(lambda m, o: m.ExponentialLR(o, gamma=1.02))],
    "PolynomialLR": [Case(lambda m, o: m.PolynomialLR(o)),
                     Case(lambda m, o: m.PolynomialLR(o, total_iters=100, power=2.0)),
                     Case(lambda m, o: m.PolynomialLR(o, total_iters=60, power=0.5))],
    "CosineAnnealingLR": [Case(lambda m, o: m.CosineAnnealingLR(o, T_max=10)),  # several periods
                          Case(lambda m, o: m.CosineAnnealingLR(o, T_max=100, eta_min=0.005)),
                          Case(lambda m, o: m.CosineAnnealingLR(o, T_max=37, eta_min=0.01))],
    "CosineAnnealingWarmRestarts": [
        Case(lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10)),
        Case(lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.001)),
        Case(lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=3, eta_min=0.01))],
    "CyclicLR": [
        Case(lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=10)),
        Case(lambda m, o: m.CyclicLR(o, base_lr=[0.01, 0.002], max_lr=[0.1, 0.05], step_size_up=7,
                                     step_size_down=13, mode="triangular2")),
        Case(lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=9, mode="exp_range", gamma=0.98,
                                     base_momentum=[0.7, 0.75], max_momentum=[0.95, 0.9])),
        Case(lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=6, mode="triangular", cycle_momentum=False)),
        Case(lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=8, mode="triangular2"), optimizer="adam"),
        Case(lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=5, step_size_down=11, mode="exp_range",
                                     gamma=0.99), optimizer="adam"),
        Case(lambda m, o: m.CyclicLR(o, 0.001, 0.1, step_size_up=4, scale_fn=scale_fn, scale_mode="cycle")),
        Case(lambda m, o: m.CyclicLR(o, 0.001, 0.1, step_size_up=4, scale_fn=scale_fn, scale_mode="iterations"))],
    "OneCycleLR": [
        Case(lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=STEPS)),
        Case(lambda m, o: m.OneCycleLR(o, max_lr=[0.1, 0.5], total_steps=STEPS, anneal_strategy="linear")),
        Case(lambda m, o: m.OneCycleLR(o, max_lr=0.2, total_steps=STEPS, three_phase=True, pct_start=0.25)),
        Case(lambda m, o: m.OneCycleLR(o, max_lr=0.2, epochs=10, steps_per_epoch=12, three_phase=True,
                                       anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0),
             optimizer="adam"),
        Case(lambda m, o: m.OneCycleLR(o, max_lr=[0.3, 0.1], total_steps=STEPS, pct_start=0.4,
                                       base_momentum=[0.8, 0.85], max_momentum=0.99), optimizer="adam"),
        Case(lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=STEPS, cycle_momentum=False))],
    "LambdaLR": [Case(lambda m, o: m.LambdaLR(o, lr_lambda=lambda t: 0.95**t)),
                 Case(lambda m, o: m.LambdaLR(o, [lambda t: t // 30 + 1, lambda t: 1 / (1 + t)])),
                 Case(lambda m, o: m.LambdaLR(o, lambda t: min(1.0, (t + 1) / 10)))],
    "MultiplicativeLR": [Case(lambda m, o: m.MultiplicativeLR(o, lr_lambda=lambda t: 0.95)),
                         Case(lambda m, o: m.MultiplicativeLR(o, [lambda t: 0.99, lambda t: 1.01 if t % 2 else 0.98])),
                         Case(lambda m, o: m.MultiplicativeLR(o, lambda t: 0.5 if t % 30 == 0 else 1.0))],
    "SequentialLR": [
        Case(lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 0.1, total_iters=5),
                                             m.CosineAnnealingLR(o, T_max=50, eta_min=0.001)], milestones=[5])),
        Case(lambda m, o: m.SequentialLR(o, [m.ConstantLR(o, 0.1, total_iters=2), m.ExponentialLR(o, 0.9),
                                             m.StepLR(o, 3, 0.5)], milestones=[10, 40])),
        Case(lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 0.2, total_iters=8),
                                             m.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2)], milestones=[8])),
        Case(lambda m, o: m.SequentialLR(o, [m.LambdaLR(o, lambda t: (t + 1) / 10),
                                             m.PolynomialLR(o, total_iters=60, power=1.5)], milestones=[10])),
        Case(lambda m, o: m.SequentialLR(o, [m.ExponentialLR(o, 0.9),  # starts from the lr the first left
                                             m.MultiplicativeLR(o, lambda t: 0.97 if t else 0.5)], milestones=[20]))],
    "ChainedScheduler": [
        Case(lambda m, o: m.ChainedScheduler([m.ConstantLR(o, 0.1, total_iters=2), m.ExponentialLR(o, 0.9)])),
        Case(lambda m, o: m.ChainedScheduler([m.ExponentialLR(o, 0.99), m.LinearLR(o, 0.2, total_iters=4),
                                              m.StepLR(o, 3, 0.9)])),
        Case(lambda m, o: m.ChainedScheduler([m.MultiStepLR(o, [2, 5, 9], 0.5),
                                              m.LinearLR(o, 0.2, 1.0, total_iters=30)], optimizer=o)),
        Case(lambda m, o: m.ChainedScheduler([m.PolynomialLR(o, total_iters=80, power=0.9),
                                              m.MultiplicativeLR(o, lambda t: 0.99)])),
        Case(lambda m, o: m.ChainedScheduler([m.LinearLR(o, 0.1, total_iters=10),
                                              m.CosineAnnealingLR(o, T_max=STEPS)]))],
    "ReduceLROnPlateau": [
        Case(lambda m, o: m.ReduceLROnPlateau(o, patience=5), metrics=noisy_metrics(0)),
        Case(lambda m, o: m.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=3, threshold=0.01, cooldown=2,
                                              min_lr=[0.001, 0.0005]), metrics=noisy_metrics(1)),
        Case(lambda m, o: m.ReduceLROnPlateau(o, mode="max", factor=0.5, patience=2, threshold=0.1,
                                              threshold_mode="abs", cooldown=1, eps=1e-3),
             metrics=noisy_metrics(2, sign=-1.0)),
        Case(lambda m, o: m.ReduceLROnPlateau(o, mode="max", factor=0.7, patience=1, threshold=0.05,
                                              min_lr=0.004), metrics=noisy_metrics(3, sign=-1.0)),
        Case(lambda m, o: m.ReduceLROnPlateau(o, factor=0.3, patience=0, threshold=0.0, threshold_mode="abs",
                                              min_lr=0.002), metrics=noisy_metrics(4))],
}


# One of each chainable-or-overwriting class torch lets you step back to back, each changing its lr within
# STEPS steps; CosineAnnealingLR has a floor and passes T_max (torch's additive branch), PolynomialLR reaches 0.
BACK_TO_BACK: dict[str, Callable[[Any, torch.optim.Optimizer], Any]] = {
    "StepLR": lambda m, o: m.StepLR(o, 7, 0.7),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, [60, 10, 10, 30], 0.5),  # unsorted, 10 repeated
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, 0.98),
    "ConstantLR": lambda m, o: m.ConstantLR(o, 0.5, total_iters=15),
    "LinearLR": lambda m, o: m.LinearLR(o, 0.2, 1.0, total_iters=25),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=90, power=1.5),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=40, eta_min=0.005),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda t: 0.99 if t % 3 else 1.01),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda t: 1 / (1 + 0.05 * t)),
}


def back_to_back(module, names, steps: int = STEPS, optimizer: torch.optim.Optimizer | None = None,
                 ) -> list[list[float]]:
    """Build BACK_TO_BACK[name] for each name on one optimizer, then step them one after another, in that
    order, after every optimizer.step(); per step t = 0 … steps: the lr of every group."""
    optimizer = optimizer or make_optimizer("sgd")
    schedulers = [BACK_TO_BACK[name](module, optimizer) for name in names]
    rows = []
    for t in range(steps + 1):
        rows.append([float(group["lr"]) for group in optimizer.param_groups])
        optimizer.step()
        if t < steps:
            for scheduler in schedulers:
                scheduler.step()
    return rows
