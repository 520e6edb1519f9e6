"""A strong-Wolfe line search along a direction d, as torch's LBFGS does it (Nocedal & Wright, Algorithms 3.5–3.6).

It looks for a step t with

- sufficient decrease (Armijo): f(x + t d) ≤ f(x) + c₁ t ∇f(x)·d, and
- strong curvature: |∇f(x + t d)·d| ≤ c₂ |∇f(x)·d|,

first by *bracketing* (grow t until an interval must contain such a point), then by *zooming* (shrink the
interval with cubic interpolation). Each trial costs one evaluation of the loss and its gradient.
Steps, losses and slopes stay whatever type torch's LBFGS gives them (floats or 0-dim tensors), so the
arithmetic, and therefore every trial step, is the same as torch's.

Taught in: notebooks/13_modern_optimizers.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor


@dataclass
class Point:
    """One trial of the line search: step t, loss f, flat gradient g, directional derivative gtd = g·d."""

    t: Any  # float or 0-dim tensor
    f: float
    g: Tensor
    gtd: Any  # 0-dim tensor (or float)


Objective = Callable[[Any], Point]  # t -> the Point at x + t d (the caller restores x afterwards)


def cubic_minimum(a: Point, b: Point, bounds: tuple[Any, Any] | None = None) -> Any:
    """Minimiser of the cubic through (t, f, f') at a and b, clipped to ``bounds`` (default: between them).

    d₁ = f'ₐ + f'_b − 3 (fₐ − f_b)/(tₐ − t_b), d₂ = √(d₁² − f'ₐ f'_b),
    t* = t_b − (t_b − tₐ)(f'_b + d₂ − d₁)/(f'_b − f'ₐ + 2 d₂) with b the farther point;
    the middle of the bounds when d₂ is imaginary (the cubic has no minimum).
    """
    low, high = bounds if bounds is not None else ((a.t, b.t) if a.t <= b.t else (b.t, a.t))
    d1 = a.gtd + b.gtd - 3 * (a.f - b.f) / (a.t - b.t)
    d2_square = d1**2 - a.gtd * b.gtd
    if not d2_square >= 0:
        return (low + high) / 2.0
    d2 = d2_square.sqrt()
    near, far = (a, b) if a.t <= b.t else (b, a)
    t = far.t - (far.t - near.t) * ((far.gtd + d2 - d1) / (far.gtd - near.gtd + 2 * d2))
    return min(max(t, low), high)


def strong_wolfe(objective: Objective, start: Point, t: Any, d_norm: Any, *, c1: float = 1e-4,
                 c2: float = 0.9, tolerance_change: float = 1e-9, max_ls: int = 25) -> tuple[Point, int]:
    """Search along d from ``start`` (t = 0) with first trial ``t``; return the accepted point and the evaluations.

    ``d_norm`` is max|d|: the zoom stops once the bracket moves no coordinate by more than
    ``tolerance_change``. At most ``max_ls`` evaluations after the first.
    """
    def armijo_fails(p: Point) -> bool:
        return bool(p.f > (start.f + c1 * p.t * start.gtd))  # not enough decrease for a step this long

    def curvature_holds(p: Point) -> bool:
        return bool(abs(p.gtd) <= -c2 * start.gtd)  # the slope has flattened enough

    bracket, done, extra = _bracket(objective, start, t, armijo_fails, curvature_holds, max_ls)
    if done:
        return bracket[0], 1 + extra
    point, zoomed = _zoom(objective, bracket, armijo_fails, curvature_holds, d_norm, tolerance_change,
                          budget=max_ls - extra)
    return point, 1 + extra + zoomed


def _bracket(objective: Objective, start: Point, t: Any, armijo_fails: Callable[[Point], bool],
             curvature_holds: Callable[[Point], bool], max_ls: int) -> tuple[list[Point], bool, int]:
    """Phase 1: grow t (cubic extrapolation) until [previous, current] must contain a Wolfe point.

    Returns the bracket (a single point if it already satisfies both conditions), whether it does,
    and the number of evaluations after the first.
    """
    previous, current = start, objective(t)
    for extra in range(max_ls):
        if armijo_fails(current) or (extra > 1 and current.f >= previous.f):
            return [previous, current], False, extra  # overshot: a Wolfe point lies between
        if curvature_holds(current):
            return [current], True, extra
        if current.gtd >= 0:
            return [previous, current], False, extra  # the slope turned uphill: a minimum lies between
        # still going steeply down: extrapolate, at least 1% further and at most to 10× the step
        bounds = (current.t + 0.01 * (current.t - previous.t), current.t * 10)
        previous, current = current, objective(cubic_minimum(previous, current, bounds))
    return [start, current], False, max_ls  # out of evaluations: bracket from the start (no zoom left)


def _zoom(objective: Objective, bracket: list[Point], armijo_fails: Callable[[Point], bool],
          curvature_holds: Callable[[Point], bool], d_norm: Any, tolerance_change: float,
          budget: int) -> tuple[Point, int]:
    """Phase 2: shrink the bracket by cubic interpolation until a point satisfies both conditions.

    ``bracket[low]`` always holds the lowest loss seen; returns it and the number of evaluations.
    """
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    close_last_time, evals = False, 0
    while evals < budget:
        if abs(bracket[1].t - bracket[0].t) * d_norm < tolerance_change:
            break  # the bracket is too small to matter
        t, close_last_time = _away_from_ends(cubic_minimum(bracket[0], bracket[1]), bracket, close_last_time)
        point = objective(t)
        evals += 1
        if armijo_fails(point) or point.f >= bracket[low].f:
            bracket[high] = point  # no better than the best: it becomes the far end
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
            continue
        if curvature_holds(point):
            bracket[low] = point
            break  # both Wolfe conditions hold
        if point.gtd * (bracket[high].t - bracket[low].t) >= 0:
            bracket[high] = bracket[low]  # the slope points away from the far end: the old best is the far end
        bracket[low] = point
    return bracket[low], evals


def _away_from_ends(t: Any, bracket: list[Point], close_last_time: bool) -> tuple[Any, bool]:
    """Keep a trial at least 10% of the bracket away from its ends (torch's "insufficient progress" rule).

    A trial that close is accepted once; if the previous one was close too, or the trial lies on or
    beyond an end, it is moved to 10% inside the nearer end. Returns the trial and whether it is close.
    """
    left, right = min(p.t for p in bracket), max(p.t for p in bracket)
    margin = 0.1 * (right - left)
    if not min(right - t, t - left) < margin:
        return t, False
    if close_last_time or t >= right or t <= left:
        return (right - margin if abs(t - right) < abs(t - left) else left + margin), False
    return t, True
