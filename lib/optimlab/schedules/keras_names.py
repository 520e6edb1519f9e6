"""Keras's learning-rate schedules as the library's pure schedules: the same values, one formula each.

Keras 3 (``keras.optimizers.schedules``) already does what this library does: a ``LearningRateSchedule`` is a
function of the step, not an object stepped by epoch. Each builder below takes a Keras schedule's arguments and
returns the library's multiplier schedule ``m(t)``, so that ``initial_learning_rate * m(t)`` equals the Keras value
at step ``t`` (Keras computes in float32, so to about 1e-7 relative). :func:`from_keras` reads a Keras schedule's
``get_config()`` and picks the builder.

Conventions that differ from torch's schedulers (and are kept here, since the point is equal values):

- ``PiecewiseConstantDecay`` switches *after* a boundary: ``values[i + 1]`` from step ``boundaries[i] + 1`` on,
  where torch's ``MultiStepLR`` switches *at* the milestone;
- ``CosineDecay`` stays at ``alpha`` after ``decay_steps``, where torch's ``CosineAnnealingLR`` climbs back;
  its warmup goes from ``initial_learning_rate`` to ``warmup_target``, and ``alpha`` is a fraction of the target;
- ``CosineDecayRestarts`` scales each restart's peak by ``m_mul`` (torch's ``CosineAnnealingWarmRestarts`` has no
  such factor) and its floor ``alpha`` is not scaled;
- ``staircase=True`` is torch's ``StepLR``; ``staircase=False`` decays continuously, every step.

Taught in: notebooks/09_schedulers.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optimlab.schedules.combinators import join, product
from optimlab.schedules.functions import (
    Constant,
    Cosine,
    ExponentialDecay,
    Linear,
    Polynomial,
    Schedule,
    StepDecay,
    half_cosine,
)
from optimlab.validation import check_int, check_non_negative, check_positive, invalid


@dataclass(frozen=True)
class InverseTimeDecay:
    """m(t) = 1 / (1 + rate · t / steps), or with ``staircase`` 1 / (1 + rate · ⌊t / steps⌋).

    >>> [round(InverseTimeDecay(steps=10, rate=1.0)(t), 3) for t in (0, 10, 30)]
    [1.0, 0.5, 0.25]
    """

    steps: int
    rate: float
    staircase: bool = False

    def __post_init__(self) -> None:
        check_int("decay_steps", self.steps, low=1)
        check_non_negative("decay_rate", self.rate)

    def __call__(self, step: int) -> float:
        elapsed = step // self.steps if self.staircase else step / self.steps
        return 1.0 / (1.0 + self.rate * elapsed)


@dataclass(frozen=True)
class DecayingRestarts:
    """SGDR with Keras's extras: m(t) = (1 − α) · m_mulⁱ · (1 + cos(π T_cur / T_i)) / 2 + α, i = restarts so far.

    Periods grow by ``period_mult`` (T_i = period · period_multⁱ, any real ≥ 1), each restart's peak shrinks by
    ``restart_decay``; ``end`` (Keras's ``alpha``) is the floor the cosine falls to, never scaled.

    >>> s = DecayingRestarts(period=10, period_mult=2.0, restart_decay=0.5, end=0.0)
    >>> [round(s(t), 4) for t in (0, 5, 10, 20, 30)]
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    period: int
    period_mult: float = 2.0
    restart_decay: float = 1.0
    end: float = 0.0

    def __post_init__(self) -> None:
        check_int("first_decay_steps", self.period, low=1)
        if not isinstance(self.period_mult, (int, float)) or isinstance(self.period_mult, bool) \
                or not math.isfinite(self.period_mult) or self.period_mult < 1:
            raise invalid("t_mul", self.period_mult, "a number >= 1")
        check_non_negative("m_mul", self.restart_decay)
        check_non_negative("alpha", self.end)

    def restart(self, step: int) -> tuple[int, float, float]:
        """(restarts so far i, steps into this period, this period's length T_i), walking the periods."""
        index, start, length = 0, 0.0, float(self.period)
        while step >= start + length:
            index, start, length = index + 1, start + length, length * self.period_mult
        return index, step - start, length

    def __call__(self, step: int) -> float:
        index, t_cur, t_i = self.restart(step)
        peak = self.restart_decay**index  # m_mulⁱ: each restart starts lower
        return (1.0 - self.end) * peak * half_cosine(t_cur / t_i) + self.end


def exponential_decay(decay_steps: int, decay_rate: float, staircase: bool = False) -> Schedule:
    """Keras ``ExponentialDecay``: m(t) = rate^(t / steps), or rate^⌊t / steps⌋ with ``staircase`` (StepLR).

    >>> [round(exponential_decay(10, 0.5)(t), 4) for t in (0, 5, 10)]
    [1.0, 0.7071, 0.5]
    """
    check_int("decay_steps", decay_steps, low=1)
    check_positive("decay_rate", decay_rate)
    if staircase:
        return StepDecay(decay_steps, decay_rate)
    return ExponentialDecay(decay_rate ** (1.0 / decay_steps))  # rate^(t/steps) = (rate^(1/steps))^t


def piecewise_constant(boundaries: Sequence[int], values: Sequence[float]) -> Schedule:
    """Keras ``PiecewiseConstantDecay`` as multipliers of ``values[0]``: values[i] / values[0] after boundary i.

    Keras takes ``values[i + 1]`` for ``t > boundaries[i]``, so the library's boundaries are ``boundaries + 1``.

    >>> s = piecewise_constant([2, 4], [1.0, 0.5, 0.1])
    >>> [s(t) for t in range(6)]
    [1.0, 1.0, 1.0, 0.5, 0.5, 0.1]
    """
    if len(values) != len(boundaries) + 1:
        raise invalid("values", list(values), f"{len(boundaries) + 1} values: one more than the boundaries")
    check_positive("values[0]", values[0])
    pieces = [Constant(value / values[0]) for value in values]
    return join(pieces, [boundary + 1 for boundary in boundaries])


def polynomial_decay(decay_steps: int, end_fraction: float, power: float = 1.0) -> Schedule:
    """Keras ``PolynomialDecay`` (``cycle=False``): from 1 down to ``end_fraction`` = end / initial, then flat.

    >>> [round(polynomial_decay(4, 0.2)(t), 6) for t in (0, 2, 4, 8)]
    [1.0, 0.6, 0.2, 0.2]
    """
    return _with_floor(Polynomial(decay_steps, power), end_fraction)


def cosine_decay(decay_steps: int, alpha: float = 0.0, *, warmup_steps: int = 0,
                 warmup_fraction: float | None = None) -> Schedule:
    """Keras ``CosineDecay``: optional linear warmup from 1 to ``warmup_fraction`` (= warmup_target / initial),
    then a cosine from there down to ``alpha`` of it over ``decay_steps``, then flat.

    >>> s = cosine_decay(10, alpha=0.1, warmup_steps=5, warmup_fraction=2.0)
    >>> [round(s(t), 3) for t in (0, 5, 10, 15, 30)]
    [1.0, 2.0, 1.1, 0.2, 0.2]
    """
    check_int("decay_steps", decay_steps, low=1)
    check_int("warmup_steps", warmup_steps, low=0)
    check_non_negative("alpha", alpha)
    peak = 1.0 if warmup_fraction is None else check_positive("warmup_target / initial_learning_rate",
                                                               warmup_fraction)
    decay: Schedule = join([Cosine(decay_steps, end=alpha), Constant(alpha)], [decay_steps])  # flat at α after
    if peak != 1.0:
        decay = product(Constant(peak), decay)
    if warmup_steps == 0:
        return decay
    return join([Linear(1.0, peak, warmup_steps), decay], [warmup_steps])


def cosine_decay_restarts(first_decay_steps: int, t_mul: float = 2.0, m_mul: float = 1.0,
                          alpha: float = 0.0) -> Schedule:
    """Keras ``CosineDecayRestarts``: :class:`DecayingRestarts` under Keras's argument names."""
    return DecayingRestarts(first_decay_steps, t_mul, m_mul, alpha)


def from_keras(schedule: Any) -> tuple[float, Schedule]:
    """``(initial_learning_rate, m)`` with ``initial_learning_rate * m(t)`` equal to the Keras ``schedule(t)``.

    Reads ``schedule.get_config()``; a schedule class without a builder here raises ``ValueError`` naming it.
    """
    kind, config = type(schedule).__name__, schedule.get_config()
    if kind == "PiecewiseConstantDecay":
        return float(config["values"][0]), piecewise_constant(config["boundaries"], config["values"])
    initial = float(config["initial_learning_rate"])
    if kind == "ExponentialDecay":
        return initial, exponential_decay(config["decay_steps"], config["decay_rate"], config["staircase"])
    if kind == "InverseTimeDecay":
        return initial, InverseTimeDecay(config["decay_steps"], config["decay_rate"], config["staircase"])
    if kind == "PolynomialDecay":
        if config["cycle"]:
            raise invalid("PolynomialDecay.cycle", True, "cycle=False (the cycling variant has no equivalent here)")
        return initial, polynomial_decay(config["decay_steps"], config["end_learning_rate"] / initial,
                                         config["power"])
    if kind == "CosineDecay":
        target = config.get("warmup_target")
        return initial, cosine_decay(config["decay_steps"], config["alpha"], warmup_steps=config["warmup_steps"],
                                     warmup_fraction=None if target is None else target / initial)
    if kind == "CosineDecayRestarts":
        return initial, cosine_decay_restarts(config["first_decay_steps"], config["t_mul"], config["m_mul"],
                                              config["alpha"])
    raise invalid("schedule", kind, "one of ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, "
                                    "InverseTimeDecay, CosineDecay, CosineDecayRestarts")


def _with_floor(schedule: Schedule, floor: float) -> Schedule:
    """m'(t) = floor + (1 − floor) · m(t): the schedule squeezed into [floor, 1]."""
    return _Floored(schedule, check_non_negative("end_learning_rate / initial_learning_rate", floor))


@dataclass(frozen=True)
class _Floored:
    schedule: Schedule
    floor: float

    def __call__(self, step: int) -> float:
        return self.floor + (1.0 - self.floor) * self.schedule(step)
