"""Schedules: pure functions of the step that return a **multiplier**.

A schedule is any callable ``m(t) -> float`` of the step count ``t = 0, 1, 2, ...``. It returns a
dimensionless multiplier, never a learning rate; :class:`~optimlab.schedules.Scheduler` maps it onto
each param group's own range::

    value_g(t) = floor_g + (base_g − floor_g) · m(t)        (floor_g = 0 unless given: value = base_g · m(t))

so one schedule serves every group (differential learning rates) and every hyperparameter.

Each schedule below is a frozen dataclass: its arguments are its whole state, and ``m(t)`` is a closed
form, so the value at step ``t`` never depends on how often, or in which order, it was asked for.
torch's "chainable" classes instead multiply the optimizer's *current* lr by a ratio each step; the
two agree up to float rounding (about 1e-16 per step), which the parity tests check to 1e-12.

Taught in: notebooks/09_schedulers.ipynb.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from optimlab.validation import check_int, check_non_negative, check_number, check_positive, invalid

Schedule = Callable[[int], float]  # step -> multiplier


@dataclass(frozen=True)
class Constant:
    """m(t) = value: no schedule at all (the hyperparameter stays where it is)."""

    value: float = 1.0

    def __call__(self, step: int) -> float:
        return self.value


@dataclass(frozen=True)
class StepDecay:
    """m(t) = γ^⌊t / step_size⌋: multiply by γ every ``step_size`` steps (torch's StepLR)."""

    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        check_int("step_size", self.step_size, low=1)
        check_positive("gamma", self.gamma)

    def __call__(self, step: int) -> float:
        return self.gamma ** (step // self.step_size)


@dataclass(frozen=True)
class MultiStepDecay:
    """m(t) = γ^k, k = how many milestones are ≤ t (torch's MultiStepLR). Milestones strictly increase."""

    milestones: tuple[int, ...]
    gamma: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", check_milestones("milestones", self.milestones))
        check_positive("gamma", self.gamma)

    def __call__(self, step: int) -> float:
        return self.gamma ** bisect_right(self.milestones, step)


@dataclass(frozen=True)
class ExponentialDecay:
    """m(t) = γ^t (torch's ExponentialLR); γ > 1 grows, as an lr range test wants."""

    gamma: float

    def __post_init__(self) -> None:
        check_positive("gamma", self.gamma)

    def __call__(self, step: int) -> float:
        return self.gamma**step


@dataclass(frozen=True)
class Linear:
    """m(t) = start + (end − start) · min(t, steps) / steps: a straight line, then flat at ``end``."""

    start: float
    end: float
    steps: int

    def __post_init__(self) -> None:
        check_number("start", self.start)
        check_number("end", self.end)
        check_int("steps", self.steps, low=1)

    def __call__(self, step: int) -> float:
        return self.start + (self.end - self.start) * min(self.steps, step) / self.steps


@dataclass(frozen=True)
class Polynomial:
    """m(t) = (1 − min(t, steps) / steps)^power: reaches 0 at ``steps`` and stays there (PolynomialLR)."""

    steps: int
    power: float = 1.0

    def __post_init__(self) -> None:
        check_int("steps", self.steps, low=1)
        check_non_negative("power", self.power)

    def __call__(self, step: int) -> float:
        return (1.0 - min(self.steps, step) / self.steps) ** self.power


@dataclass(frozen=True)
class Cosine:
    """m(t) = end + (1 − end) · (1 + cos(π t / steps)) / 2: from 1 at t = 0 to ``end`` at t = steps.

    Past ``steps`` the cosine goes on, rising back to 1 at ``2·steps`` (period ``2·steps``), exactly as
    torch's CosineAnnealingLR does. To stay at ``end`` afterwards, join a :class:`Constant` (see
    :func:`optimlab.schedules.warmup_cosine`).
    """

    steps: int
    end: float = 0.0

    def __post_init__(self) -> None:
        check_int("steps", self.steps, low=1)
        check_number("end", self.end)

    def __call__(self, step: int) -> float:
        return self.end + (1.0 - self.end) * (1.0 + math.cos(math.pi * step / self.steps)) / 2


@dataclass(frozen=True)
class WarmRestarts:
    """SGDR (Loshchilov & Hutter, 2017): a cosine from 1 to 0 over ``period`` steps, then a restart at 1
    with the period multiplied by ``period_mult``: m(t) = (1 + cos(π T_cur / T_i)) / 2, where T_i is
    the current period and T_cur the steps since the last restart. The restart step itself has m = 1."""

    period: int
    period_mult: int = 1

    def __post_init__(self) -> None:
        check_int("period", self.period, low=1)
        check_int("period_mult", self.period_mult, low=1)

    def since_restart(self, step: int) -> tuple[int, int]:
        """(T_cur, T_i) at ``step``, by walking the periods in integers (no floating-point logarithm)."""
        if self.period_mult == 1:
            return step % self.period, self.period
        t_cur, t_i = step, self.period
        while t_cur >= t_i:
            t_cur, t_i = t_cur - t_i, t_i * self.period_mult
        return t_cur, t_i

    def __call__(self, step: int) -> float:
        t_cur, t_i = self.since_restart(step)
        return (1.0 + math.cos(math.pi * t_cur / t_i)) / 2


@dataclass(frozen=True)
class InverseSqrt:
    """m(t) = √(timescale / (timescale + t)): 1 at t = 0, one half at t = 3·timescale, never 0."""

    timescale: int

    def __post_init__(self) -> None:
        check_int("timescale", self.timescale, low=1)

    def __call__(self, step: int) -> float:
        return math.sqrt(self.timescale / (self.timescale + step))


@dataclass(frozen=True)
class SqrtDecay:
    """m(t) = end + (1 − end) · (1 − √(min(t, steps) / steps)): the "1 − sqrt" cool-down of
    Hägele et al. (2024), which drops fast at first and levels off at ``end``."""

    steps: int
    end: float = 0.0

    def __post_init__(self) -> None:
        check_int("steps", self.steps, low=1)
        check_number("end", self.end)

    def __call__(self, step: int) -> float:
        return self.end + (1.0 - self.end) * (1.0 - math.sqrt(min(self.steps, step) / self.steps))


def check_milestones(name: str, milestones: object, *, low: int = 0) -> tuple[int, ...]:
    """Milestones are integers >= ``low`` in strictly increasing order.

    A set is sorted first (it has no order to get wrong). torch accepts any order and counts a repeated
    milestone twice; we refuse both, since an unsorted list is almost always a typo.
    """
    if isinstance(milestones, (set, frozenset)):
        milestones = sorted(milestones)
    if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
        raise invalid(name, milestones, f"a strictly increasing list of integers >= {low}")
    values = tuple(milestones)
    for index, value in enumerate(values):
        check_int(f"{name}[{index}]", value, low=low)
    if any(later <= earlier for earlier, later in zip(values, values[1:])):
        raise invalid(name, list(values), f"a strictly increasing list of integers >= {low}")
    return values
