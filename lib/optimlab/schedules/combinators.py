"""Combinators: build new schedules from old ones, still as pure functions of the step.

- :func:`join` runs schedules one after another: warmup then cosine, or any phases in sequence;
- :func:`product` multiplies schedules pointwise: what torch's ChainedScheduler does to chainable ones;
- :func:`complement` turns m(t) into 1 − m(t): momentum that falls while the learning rate rises.

Taught in: notebooks/09_schedulers.ipynb.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from optimlab.schedules.functions import Schedule, check_milestones
from optimlab.validation import invalid


@dataclass(frozen=True)
class Join:
    """m(t) = schedules[i](t − boundaries[i−1]) for boundaries[i−1] <= t < boundaries[i].

    Each schedule restarts its own clock at its boundary (as optax's ``join_schedules`` and torch's
    SequentialLR do), so ``join([warmup, cosine], [W])`` evaluates ``cosine(0)`` at step W.
    """

    schedules: tuple[Schedule, ...]
    boundaries: tuple[int, ...]

    def __call__(self, step: int) -> float:
        index = bisect_right(self.boundaries, step)
        start = self.boundaries[index - 1] if index else 0
        return self.schedules[index](step - start)


@dataclass(frozen=True)
class Product:
    """m(t) = m₁(t) · m₂(t) · …: each factor scales what the others leave."""

    schedules: tuple[Schedule, ...]

    def __call__(self, step: int) -> float:
        return math.prod(schedule(step) for schedule in self.schedules)


@dataclass(frozen=True)
class Complement:
    """m(t) = 1 − schedule(t): high where the schedule is low."""

    schedule: Schedule

    def __call__(self, step: int) -> float:
        return 1.0 - self.schedule(step)


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Join:
    """Run ``schedules`` in turn, switching at the steps in ``boundaries`` (one fewer than schedules).

    Boundaries are positive and strictly increasing; a ``ValueError`` names the bad argument.

    >>> from optimlab.schedules import Cosine, Linear
    >>> [round(join([Linear(0.0, 1.0, 2), Cosine(2)], [2])(t), 4) for t in range(6)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.5]
    """
    schedules = tuple(_check_schedules("schedules", schedules))
    boundaries = check_milestones("boundaries", boundaries, low=1)
    if len(boundaries) != len(schedules) - 1:
        raise invalid("boundaries", list(boundaries), f"{len(schedules) - 1} steps: one fewer than the schedules")
    return Join(schedules, boundaries)


def product(*schedules: Schedule) -> Product:
    """Multiply schedules pointwise: ``product(warmup, decay)(t) == warmup(t) * decay(t)``.

    >>> from optimlab.schedules import Linear, StepDecay
    >>> [product(StepDecay(2, 0.5), Linear(0.5, 1.0, 1))(t) for t in range(4)]
    [0.5, 1.0, 0.5, 0.5]
    """
    return Product(tuple(_check_schedules("schedules", schedules)))


def complement(schedule: Schedule) -> Complement:
    """``1 − schedule(t)``: CyclicLR cycles momentum this way, inversely to the learning rate.

    >>> from optimlab.schedules import Linear
    >>> [complement(Linear(0.0, 1.0, 4))(t) for t in range(5)]
    [1.0, 0.75, 0.5, 0.25, 0.0]
    """
    if not callable(schedule):
        raise invalid("schedule", schedule, "a callable step -> multiplier")
    return Complement(schedule)


def _check_schedules(name: str, schedules: Sequence[Schedule]) -> list[Schedule]:
    schedules = list(schedules)
    if not schedules:
        raise invalid(name, schedules, "at least one schedule")
    for index, schedule in enumerate(schedules):
        if not callable(schedule):
            raise invalid(f"{name}[{index}]", schedule, "a callable step -> multiplier")
    return schedules
