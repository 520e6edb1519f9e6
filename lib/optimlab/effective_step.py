r"""The effective step: the per-coordinate learning rate an adaptive optimizer actually applied.

An adaptive optimizer divides one learning rate γ by a running statistic of each coordinate's own
gradients. Read from the optimizer's state *after* step t, the factor that multiplied the step's
direction is:

===============================  ==========================================  ==========================
algorithm                        effective step                              multiplies
===============================  ==========================================  ==========================
SGD (any momentum)               γ (one value for every coordinate)          g, or the momentum buffer
Adagrad                          γₜ / (√Gₜ + ε),  γₜ = γ / (1 + (t − 1)η)    gₜ
RMSprop                          γ / (√vₜ + ε)   (centered: √(vₜ − ḡₜ²))     gₜ (into the buffer with momentum)
Adam, AdamW, NAdam               γ / (√v̂ₜ + ε),  v̂ₜ = vₜ / (1 − β₂ᵗ)          m̂ₜ (NAdam: its mix of g and m)
Adam(amsgrad=True)               γ / (√(max v)/√(1 − β₂ᵗ) + ε)               m̂ₜ
RAdam                            γ rₜ √(1 − β₂ᵗ) / (√vₜ + ε) if ρₜ > 5, else γ    m̂ₜ
Adamax                           γ / uₜ,  uₜ = max(β₂ uₜ₋₁, |gₜ| + ε)          m̂ₜ
===============================  ==========================================  ==========================

so the update was exactly ``−effective_step × direction`` (the tests check this against the
parameters' real change). State keys are torch's, so the same code reads ``torch.optim`` optimizers
and the course's. ``bias_correction=False`` shows what Adam would use with the raw, zero-initialised
vₜ: far larger steps at the start, because vₜ is then mostly its zero initialisation.

**This is not a learning-rate schedule.** A schedule is a function of the step (or epoch) only: it
sets one value, ``group["lr"]``, shared by every parameter of a group, and it would be the same on any
data. An effective step is computed *inside* the algorithm, from each coordinate's own gradient
history: it differs from coordinate to coordinate, and it changes when the data does. Both act at once
(γ above is whatever the schedule set), and a scheduler never reads or writes the optimizer's state.

Lion (a sign, so every coordinate moves by exactly γ) and Adadelta (whose step depends on an
accumulator the update itself changes afterwards) are not covered. Parameters that have not been
updated yet (no state, or ``step`` 0) are left out.

Taught in: notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

from optimlab.optim.radam import RECTIFICATION_THRESHOLD, sma_length
from optimlab.validation import check_choice, invalid

ALGORITHMS = ("adagrad", "adam", "adamax", "adamw", "nadam", "radam", "rmsprop", "sgd")
STATISTICS: dict[str, Callable[[Tensor], Tensor]] = {
    "median": torch.median, "mean": torch.mean, "min": torch.min, "max": torch.max,
}


def algorithm_of(optimizer: torch.optim.Optimizer) -> str:
    """The algorithm's name from the optimizer's class (ours and torch's share class names), lower case."""
    for cls in type(optimizer).__mro__:
        if cls.__name__.lower() in ALGORITHMS:
            return cls.__name__.lower()
    raise invalid("optimizer", type(optimizer).__name__, "an optimizer of " + ", ".join(ALGORITHMS))


def effective_step(
    algorithm: str, state: Mapping[str, Any], group: Mapping[str, Any], *, bias_correction: bool = True,
) -> Tensor:
    """The effective step of one parameter from its ``state`` after a step and its param ``group``.

    For ``"sgd"`` the result is a 0-dim tensor (γ, the same for every coordinate); otherwise it has the
    parameter's shape.
    """
    check_choice("algorithm", algorithm, ALGORITHMS)
    lr = float(group["lr"])
    if algorithm == "sgd":
        return torch.tensor(lr, dtype=torch.float64)
    t = float(state["step"])
    if t < 1:
        raise invalid("state['step']", t, "a state after at least one step (step >= 1)")
    if algorithm == "adagrad":
        decayed_lr = lr / (1 + (t - 1) * group["lr_decay"])  # γₜ = γ / (1 + (t − 1) η)
        return decayed_lr / (state["sum"].sqrt() + group["eps"])  # γₜ / (√Gₜ + ε)
    if algorithm == "rmsprop":
        v = state["square_avg"]
        if group.get("centered", False):
            v = v.addcmul(state["grad_avg"], state["grad_avg"], value=-1)  # vₜ − ḡₜ²
        return lr / (v.sqrt() + group["eps"])  # γ / (√vₜ + ε)
    beta1, beta2 = (float(b) for b in group["betas"])
    if algorithm == "adamax":
        return lr / state["exp_inf"]  # γ / uₜ   (ε is already inside uₜ)
    v = state["max_exp_avg_sq"] if group.get("amsgrad", False) else state["exp_avg_sq"]
    if algorithm == "radam":
        if not bias_correction:
            raise invalid("bias_correction", bias_correction, "True for RAdam (its rectification needs it)")
        return lr * _radam_factor(v, t, beta2, group["eps"])
    correction = math.sqrt(1 - beta2**t) if bias_correction else 1.0
    return lr / (v.sqrt() / correction + group["eps"])  # γ / (√v̂ₜ + ε)


def _radam_factor(v: Tensor, t: float, beta2: float, eps: float) -> Tensor:
    """RAdam's multiplier of γ: the rectified adaptive factor, or 1 while the variance is untrustworthy."""
    rho_t, rho_inf = sma_length(t, beta2)  # RAdam's own ρₜ and ρ∞
    if rho_t <= RECTIFICATION_THRESHOLD:
        return torch.ones_like(v)  # the first steps are SGD with momentum on m̂ₜ
    rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return rect * math.sqrt(1 - beta2**t) / (v.sqrt() + eps)  # rₜ √(1 − β₂ᵗ) / (√vₜ + ε), as torch


def effective_steps(optimizer: torch.optim.Optimizer, *, bias_correction: bool = True) -> dict[Tensor, Tensor]:
    """Every updated parameter's effective step, keyed by the parameter, each with the parameter's shape.

    A wrapper that keeps its inner optimizer as ``.optimizer`` (Lookahead) is read through to the inner one.
    """
    inner = getattr(optimizer, "optimizer", None)
    if isinstance(inner, torch.optim.Optimizer):
        return effective_steps(inner, bias_correction=bias_correction)
    algorithm = algorithm_of(optimizer)
    steps = {}
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            if algorithm != "sgd" and float(state.get("step", 0)) < 1:
                continue  # not updated yet
            step = effective_step(algorithm, state, group, bias_correction=bias_correction)
            steps[param] = torch.full_like(param, step.item()) if step.ndim == 0 else step.detach().clone()
    return steps


def summarize_effective_steps(
    optimizer: torch.optim.Optimizer,
    named_parameters: Iterable[tuple[str, Tensor]],
    *,
    statistic: str = "median",
    bias_correction: bool = True,
) -> dict[str, float]:
    """One number per named tensor (``model.named_parameters()``): the median (or mean/min/max) effective step.

    The microscope calls this after every ``optimizer.step()`` and stacks the results over time.
    """
    reduce = STATISTICS[check_choice("statistic", statistic, STATISTICS)]
    steps = effective_steps(optimizer, bias_correction=bias_correction)
    return {name: reduce(steps[p].flatten()).item() for name, p in named_parameters if p in steps}


__all__ = ["ALGORITHMS", "algorithm_of", "effective_step", "effective_steps", "summarize_effective_steps"]
