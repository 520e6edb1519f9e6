"""Cyclic schedules: CLR's triangles, the one-cycle policy's phases, and a running product.

Like every schedule (see :mod:`optimlab.schedules.functions`) these return a multiplier as a closed
form of the step: the scheduler maps it onto each group's range ``floor + (base − floor) · m(t)``.

Taught in: notebooks/09_schedulers.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from optimlab.schedules.functions import half_cosine
from optimlab.validation import check_choice, check_non_negative, check_number, check_positive, invalid

SCALE_MODES = ("cycle", "iterations")
ANNEAL_SHAPES = ("cos", "linear")


def triangular_scale(cycle: float) -> float:
    """CLR "triangular": every cycle has the full amplitude.

    >>> triangular_scale(7)
    1.0
    """
    return 1.0


def triangular2_scale(cycle: float) -> float:
    """CLR "triangular2": the amplitude halves every cycle (cycles are numbered from 1).

    >>> [triangular2_scale(c) for c in (1, 2, 3)]
    [1.0, 0.5, 0.25]
    """
    return 1 / (2.0 ** (cycle - 1))


@dataclass(frozen=True)
class ExpRangeScale:
    """CLR "exp_range": the amplitude shrinks by γ every *step* (not every cycle): γ^t.

    >>> ExpRangeScale(0.5)(3)
    0.125
    """

    gamma: float

    def __call__(self, step: float) -> float:
        return self.gamma**step


@dataclass(frozen=True)
class Cyclic:
    """Cyclical learning rates (Smith, 2017, arXiv:1506.01186), as torch's CyclicLR computes them.

    A triangle h(t) rises from 0 to 1 over ``step_size_up`` steps and falls back over
    ``step_size_down``; then m(t) = h(t) · scale_fn(c) with c the cycle number (from 1) when
    ``scale_mode="cycle"``, or c = t when ``"iterations"``. The scheduler maps 0 to ``base_lr`` and 1 to
    ``max_lr``.

    >>> [Cyclic(2, 2)(t) for t in range(6)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.5]
    >>> [Cyclic(2, 2, triangular2_scale)(t) for t in range(8)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.25, 0.5, 0.25]
    """

    step_size_up: float
    step_size_down: float
    scale_fn: Callable[[float], float] = triangular_scale
    scale_mode: str = "cycle"

    def __post_init__(self) -> None:
        check_positive("step_size_up", self.step_size_up)
        check_non_negative("step_size_down", self.step_size_down)
        check_choice("scale_mode", self.scale_mode, SCALE_MODES)

    def __call__(self, step: int) -> float:
        total = float(self.step_size_up + self.step_size_down)
        rise = self.step_size_up / total                        # fraction of a cycle spent rising
        cycle = math.floor(1 + step / total)                    # cycles are numbered from 1
        x = 1.0 + step / total - cycle                          # position inside the cycle, in [0, 1)
        height = x / rise if x <= rise else (x - 1) / (rise - 1)  # 0 → 1 → 0
        return height * self.scale_fn(cycle if self.scale_mode == "cycle" else step)


def cos_anneal(start: float, end: float, fraction: float) -> float:
    """Half a cosine from ``start`` (fraction 0) to ``end`` (fraction 1): end + (start − end) · half_cosine.

    >>> [cos_anneal(1.0, 0.0, f) for f in (0.0, 0.5, 1.0)]
    [1.0, 0.5, 0.0]
    """
    return end + (start - end) * half_cosine(fraction)


def linear_anneal(start: float, end: float, fraction: float) -> float:
    """A straight line from ``start`` (fraction 0) to ``end`` (fraction 1).

    >>> [linear_anneal(1.0, 0.0, f) for f in (0.0, 0.25, 1.0)]
    [1.0, 0.75, 0.0]
    """
    return (end - start) * fraction + start


@dataclass(frozen=True)
class Anneal:
    """Piecewise interpolation through the points (knots[i], values[i]), by half-cosines or lines.

    The segment ending at knots[i] covers the steps in (knots[i−1], knots[i]]; a step past the last
    knot extends the last segment. Knots may be fractional: torch's OneCycleLR puts its peak at step
    ``pct_start · total_steps − 1``, and this reproduces its phases exactly.

    >>> [round(Anneal((0.0, 2.0, 6.0), (0.1, 1.0, 0.0), 'linear')(t), 3) for t in range(8)]
    [0.1, 0.55, 1.0, 0.75, 0.5, 0.25, 0.0, -0.25]
    """

    knots: tuple[float, ...]
    values: tuple[float, ...]
    shape: str = "cos"

    def __post_init__(self) -> None:
        check_choice("shape", self.shape, ANNEAL_SHAPES)
        if len(self.knots) < 2 or len(self.knots) != len(self.values):
            raise invalid("knots", self.knots, "at least two knots, as many as values")
        for index, knot in enumerate(self.knots):
            check_number(f"knots[{index}]", knot)
        if any(later <= earlier for earlier, later in zip(self.knots, self.knots[1:])):
            raise invalid("knots", self.knots, "strictly increasing steps")

    def __call__(self, step: int) -> float:
        last = len(self.knots) - 1
        i = next((i for i in range(1, last) if step <= self.knots[i]), last)
        fraction = (step - self.knots[i - 1]) / (self.knots[i] - self.knots[i - 1])
        interpolate = cos_anneal if self.shape == "cos" else linear_anneal
        return interpolate(self.values[i - 1], self.values[i], fraction)


@dataclass(frozen=True)
class CumulativeProduct:
    """m(t) = factor(1) · factor(2) · … · factor(t), and m(0) = 1: torch's MultiplicativeLR as a
    function of the step rather than a running product of the optimizer's lr.

    The prefix products are remembered, so each factor(s) is evaluated once and a scheduler's whole run
    costs O(t), not O(t²); the value at ``t`` does not depend on the order of the requests, provided
    ``factor`` is itself a pure function.

    >>> [CumulativeProduct(lambda s: 0.5)(t) for t in range(4)]
    [1.0, 0.5, 0.25, 0.125]
    """

    factor: Callable[[int], float]
    _prefix: list[float] = field(default_factory=lambda: [1.0], repr=False, compare=False)

    def __call__(self, step: int) -> float:
        while len(self._prefix) <= step:
            self._prefix.append(self._prefix[-1] * self.factor(len(self._prefix)))  # m(s) = m(s−1)·f(s)
        return self._prefix[step]
