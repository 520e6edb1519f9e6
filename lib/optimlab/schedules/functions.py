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


def half_cosine(fraction: float) -> float:
    """(1 + cos(π · fraction)) / 2: 1 at fraction 0, 0 at fraction 1. The course's one cosine formula:
    CosineAnnealingLR, SGDR and the one-cycle phases all use it.

    >>> [half_cosine(f) for f in (0.0, 0.5, 1.0, 2.0)]
    [1.0, 0.5, 0.0, 1.0]
    """
    return (1.0 + math.cos(math.pi * fraction)) / 2


@dataclass(frozen=True)
class Constant:
    """m(t) = value: no schedule at all (the hyperparameter stays where it is).

    >>> [Constant(0.5)(t) for t in range(3)]
    [0.5, 0.5, 0.5]
    """

    value: float = 1.0

    def __call__(self, step: int) -> float:
        return self.value


@dataclass(frozen=True)
class StepDecay:
    """m(t) = γ^⌊t / step_size⌋: multiply by γ every ``step_size`` steps (torch's StepLR).

    >>> [StepDecay(2, gamma=0.5)(t) for t in range(6)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        check_int("step_size", self.step_size, low=1)
        check_positive("gamma", self.gamma)

    def __call__(self, step: int) -> float:
        return self.gamma ** (step // self.step_size)


@dataclass(frozen=True)
class MultiStepDecay:
    """m(t) = γ^k, k = how many milestones are ≤ t (torch's MultiStepLR). Milestones are sorted; a repeated
    milestone counts once per repetition, as in torch.

    >>> [MultiStepDecay((2, 4, 4), 0.5)(t) for t in range(6)]
    [1.0, 1.0, 0.5, 0.5, 0.125, 0.125]
    """

    milestones: tuple[int, ...]
    gamma: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", check_milestones("milestones", self.milestones, repeats=True))
        check_positive("gamma", self.gamma)

    def __call__(self, step: int) -> float:
        return self.gamma ** bisect_right(self.milestones, step)


@dataclass(frozen=True)
class ExponentialDecay:
    """m(t) = γ^t (torch's ExponentialLR); γ > 1 grows, as an lr range test wants.

    >>> [ExponentialDecay(0.5)(t) for t in range(4)]
    [1.0, 0.5, 0.25, 0.125]
    """

    gamma: float

    def __post_init__(self) -> None:
        check_positive("gamma", self.gamma)

    def __call__(self, step: int) -> float:
        try:
            return self.gamma**step
        except OverflowError:
            raise invalid("gamma", self.gamma, f"a factor whose power gamma**t stays a finite float: it "
                          f"overflows at step {step}") from None


@dataclass(frozen=True)
class Linear:
    """m(t) = start + (end − start) · min(t, steps) / steps: a straight line, then flat at ``end``.

    >>> [Linear(0.25, 1.0, 3)(t) for t in range(5)]
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """

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
    """m(t) = (1 − min(t, steps) / steps)^power: reaches 0 at ``steps`` and stays there (PolynomialLR).

    >>> [Polynomial(4, power=2.0)(t) for t in range(6)]
    [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """

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

    >>> [round(Cosine(4)(t), 4) for t in range(9)]
    [1.0, 0.8536, 0.5, 0.1464, 0.0, 0.1464, 0.5, 0.8536, 1.0]
    """

    steps: int
    end: float = 0.0

    def __post_init__(self) -> None:
        check_int("steps", self.steps, low=1)
        check_number("end", self.end)

    def __call__(self, step: int) -> float:
        return self.end + (1.0 - self.end) * half_cosine(step / self.steps)


@dataclass(frozen=True)
class WarmRestarts:
    """SGDR (Loshchilov & Hutter, 2017): a cosine from 1 to 0 over ``period`` steps, then a restart at 1
    with the period multiplied by ``period_mult``: m(t) = (1 + cos(π T_cur / T_i)) / 2, where T_i is
    the current period and T_cur the steps since the last restart. The restart step itself has m = 1.

    >>> [round(WarmRestarts(2, 2)(t), 4) for t in range(8)]
    [1.0, 0.5, 1.0, 0.8536, 0.5, 0.1464, 1.0, 0.9619]
    >>> WarmRestarts(2, 2).since_restart(4.5)  # (T_cur, T_i) at a fractional epoch
    (2.5, 4)
    """

    period: int
    period_mult: int = 1

    def __post_init__(self) -> None:
        check_int("period", self.period, low=1)
        check_int("period_mult", self.period_mult, low=1)

    def since_restart(self, step: float) -> tuple[float, int]:
        """(T_cur, T_i) at ``step`` (fractional steps allowed), by walking the periods: no floating-point
        logarithm, which torch uses for ``step(epoch)`` and which can misplace a restart at T_mult >= 3."""
        if self.period_mult == 1:
            return step % self.period, self.period
        t_cur, t_i = step, self.period
        while t_cur >= t_i:
            t_cur, t_i = t_cur - t_i, t_i * self.period_mult
        return t_cur, t_i

    def __call__(self, step: float) -> float:
        t_cur, t_i = self.since_restart(step)
        return half_cosine(t_cur / t_i)


@dataclass(frozen=True)
class InverseSqrt:
    """m(t) = √(timescale / (timescale + t)): 1 at t = 0, one half at t = 3·timescale, never 0.

    >>> [InverseSqrt(4)(t) for t in (0, 12, 60)]
    [1.0, 0.5, 0.25]
    """

    timescale: int

    def __post_init__(self) -> None:
        check_int("timescale", self.timescale, low=1)

    def __call__(self, step: int) -> float:
        return math.sqrt(self.timescale / (self.timescale + step))


@dataclass(frozen=True)
class SqrtDecay:
    """m(t) = end + (1 − end) · (1 − √(min(t, steps) / steps)): the "1 − sqrt" cool-down of
    Hägele et al. (2024), which drops fast at first and levels off at ``end``.

    >>> [SqrtDecay(4)(t) for t in (0, 1, 4, 9)]
    [1.0, 0.5, 0.0, 0.0]
    """

    steps: int
    end: float = 0.0

    def __post_init__(self) -> None:
        check_int("steps", self.steps, low=1)
        check_number("end", self.end)

    def __call__(self, step: int) -> float:
        return self.end + (1.0 - self.end) * (1.0 - math.sqrt(min(self.steps, step) / self.steps))


def check_milestones(name: str, milestones: object, *, low: int = 0, repeats: bool = False) -> tuple[int, ...]:
    """Milestones are integers >= ``low``, returned sorted.

    With ``repeats=True`` (MultiStepLR, as torch takes them) any order is accepted and a repeated milestone
    is kept (it counts twice); otherwise (SequentialLR's and ``join``'s boundaries) they must strictly
    increase, except that a set is sorted first (it has no order to get wrong).

    >>> check_milestones("milestones", [60, 10, 10, 30], repeats=True)
    (10, 10, 30, 60)
    """
    allowed = f"a list of integers >= {low}" if repeats else f"a strictly increasing list of integers >= {low}"
    if isinstance(milestones, (set, frozenset)):
        milestones = sorted(milestones)
    if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
        raise invalid(name, milestones, allowed)
    values = tuple(milestones)
    for index, value in enumerate(values):
        check_int(f"{name}[{index}]", value, low=low)
    if repeats:
        return tuple(sorted(values))
    if any(later <= earlier for earlier, later in zip(values, values[1:])):
        raise invalid(name, list(values), allowed)
    return values
