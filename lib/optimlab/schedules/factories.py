"""Schedules that modern training uses and torch has no class for, built by joining pure schedules.

All three share one warmup convention: step t of a W-step warmup has m(t) = s + (1 − s) · t / W, with
s = ``start_factor`` (0 by default, as in Hugging Face's and optax's schedules). So the first update
(t = 0) uses s · peak, and the update at step W is the first one at the peak. Apply one with
``Scheduler(optimizer, warmup_cosine(100, 1000))``; each group's own lr is its peak.

Taught in: notebooks/09_schedulers.ipynb, notebooks/10_schedulers_in_training.ipynb.
"""

from __future__ import annotations

from optimlab.schedules.combinators import Join, Schedule, join
from optimlab.schedules.functions import Constant, Cosine, InverseSqrt, Linear, SqrtDecay
from optimlab.validation import check_choice, check_int, check_number, invalid

DECAY_SHAPES = ("linear", "cosine", "sqrt")


def warmup_cosine(warmup_steps: int, total_steps: int, *, start_factor: float = 0.0,
                  end_factor: float = 0.0) -> Join:
    """Linear warmup, then a half-cosine down to ``end_factor`` at ``total_steps``, then flat.

        m(t) = s + (1 − s) · t / W                                 0 ≤ t ≤ W
        m(t) = e + (1 − e) · (1 + cos(π (t − W) / (T − W))) / 2    W ≤ t ≤ T
        m(t) = e                                                   t ≥ T

    Step convention: the first update uses s · peak; the update at step W is the first at the peak; the
    update at step T is the first at e · peak, and the rate stays there (no second cosine, unlike
    CosineAnnealingLR). ``warmup_steps=0`` gives a plain cosine. This is nanoGPT's schedule and Hugging
    Face's ``get_cosine_schedule_with_warmup`` (with e = 0).

    Taught in: notebooks/09_schedulers.ipynb.

    >>> [round(warmup_cosine(2, 6)(t), 4) for t in range(8)]
    [0.0, 0.5, 1.0, 0.8536, 0.5, 0.1464, 0.0, 0.0]
    """
    start_factor, end_factor = _check_factors(start_factor, end_factor)
    warmup_steps, total_steps = _check_lengths(warmup_steps, total_steps)
    return _in_sequence([(_warmup(start_factor, warmup_steps), warmup_steps),
                         (Cosine(total_steps - warmup_steps, end_factor), total_steps - warmup_steps)], end_factor)


def warmup_stable_decay(warmup_steps: int, total_steps: int, decay_steps: int, *, start_factor: float = 0.0,
                        end_factor: float = 0.0, decay_shape: str = "linear") -> Join:
    """Warmup-stable-decay (WSD; Zhai et al. 2022, Hu et al. 2024 "MiniCPM", Hägele et al. 2024).

        m(t) = s + (1 − s) · t / W             0 ≤ t ≤ W          (warmup)
        m(t) = 1                               W ≤ t ≤ T − D      (stable: a constant plateau)
        m(t) = decay from 1 to e over D steps  T − D ≤ t ≤ T      (a short cool-down)
        m(t) = e                               t ≥ T

    ``decay_shape`` is "linear", "cosine" or "sqrt" (1 − √, which Hägele et al. found best). Step
    convention: the peak is first used at step W and last at step T − D; the update at step T is the first
    at e · peak, and the rate stays there. Because the plateau does not depend on T, a run can be extended
    and only the cool-down redone.

    Taught in: notebooks/09_schedulers.ipynb.

    >>> [round(warmup_stable_decay(2, 8, 3)(t), 4) for t in range(10)]
    [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.6667, 0.3333, 0.0, 0.0]
    """
    start_factor, end_factor = _check_factors(start_factor, end_factor)
    warmup_steps, total_steps = _check_lengths(warmup_steps, total_steps)
    check_int("decay_steps", decay_steps, low=1)
    if warmup_steps + decay_steps > total_steps:
        raise invalid("decay_steps", decay_steps, f"at most total_steps − warmup_steps = {total_steps - warmup_steps}")
    shapes: dict[str, Schedule] = {"linear": Linear(1.0, end_factor, decay_steps),
                                   "cosine": Cosine(decay_steps, end_factor),
                                   "sqrt": SqrtDecay(decay_steps, end_factor)}
    shape = shapes[check_choice("decay_shape", decay_shape, DECAY_SHAPES)]
    stable_steps = total_steps - warmup_steps - decay_steps
    return _in_sequence([(_warmup(start_factor, warmup_steps), warmup_steps), (Constant(1.0), stable_steps),
                         (shape, decay_steps)], end_factor)


def inverse_sqrt(warmup_steps: int, *, start_factor: float = 0.0) -> Join:
    """Linear warmup, then decay as 1/√t: the Transformer's "Noam" schedule (Vaswani et al. 2017, eq. 3).

        m(t) = s + (1 − s) · t / W      0 ≤ t ≤ W
        m(t) = √(W / t)                 t ≥ W         (one half at t = 4W; never 0, no last step)

    With s = 0 and peak = (d_model · W)^(−1/2), peak · m(n) is the paper's
    d_model^(−1/2) · min(n^(−1/2), n · W^(−3/2)) at its step n. The paper counts updates from n = 1 and
    we from t = 0, so our first update uses 0 where the paper's uses peak / W; pass ``start_factor=1 / W``
    for a non-zero first step.

    Taught in: notebooks/09_schedulers.ipynb.

    >>> [round(inverse_sqrt(4)(t), 4) for t in (0, 2, 4, 16)]
    [0.0, 0.5, 1.0, 0.5]
    """
    start_factor, _ = _check_factors(start_factor, 0.0)
    check_int("warmup_steps", warmup_steps, low=1)
    return join([_warmup(start_factor, warmup_steps), InverseSqrt(warmup_steps)], [warmup_steps])


def _warmup(start_factor: float, warmup_steps: int) -> Schedule:
    return Linear(start_factor, 1.0, max(warmup_steps, 1))  # unused when warmup_steps is 0


def _in_sequence(pieces: list[tuple[Schedule, int]], end_value: float) -> Join:
    """Join the pieces that last at least one step, then stay at ``end_value`` for ever."""
    kept = [(schedule, length) for schedule, length in pieces if length > 0]
    boundaries = [sum(length for _, length in kept[: i + 1]) for i in range(len(kept))]
    return join([schedule for schedule, _ in kept] + [Constant(end_value)], boundaries)


def _check_factors(start_factor: float, end_factor: float) -> tuple[float, float]:
    return (check_number("start_factor", start_factor, low=0.0, high=1.0),
            check_number("end_factor", end_factor, low=0.0, high=1.0))


def _check_lengths(warmup_steps: int, total_steps: int) -> tuple[int, int]:
    check_int("total_steps", total_steps, low=1)
    check_int("warmup_steps", warmup_steps, low=0)
    if warmup_steps >= total_steps:
        raise invalid("warmup_steps", warmup_steps, f"fewer than total_steps={total_steps}: a warmup cannot be "
                      "as long as the whole schedule")
    return warmup_steps, total_steps
