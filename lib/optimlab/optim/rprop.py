"""Rprop: a step size per coordinate that grows while the gradient keeps its sign and shrinks when it flips.

Taught in: notebooks/13_modern_optimizers.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from optimlab.optim.asgd import real_view
from optimlab.optim.base import Optimizer, new_step_counter
from optimlab.validation import invalid


def rprop_init(param: Tensor, *, lr: float | Tensor) -> dict[str, Any]:
    """torch's keys: ``step``, ``prev`` (the last gradient used), ``step_size`` (one per coordinate, starts at lr)."""
    first = complex(lr, lr) if torch.is_complex(param) else float(lr)  # Δ₀ = γ (each of a complex number's parts)
    return {
        "step": new_step_counter(),
        "prev": torch.zeros_like(param, memory_format=torch.preserve_format),
        "step_size": torch.full_like(param, first, memory_format=torch.preserve_format),
    }


def rprop_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 1e-2,
    etas: tuple[float, float] = (0.5, 1.2),
    step_sizes: tuple[float, float] = (1e-6, 50.0),
) -> None:
    """One Rprop step on ``param`` in place; an empty ``state`` is initialised on the first call."""
    if not state:
        state.update(rprop_init(param, lr=lr))
    param, grad = real_view(param), real_view(grad)
    prev, step_size = real_view(state["prev"]), real_view(state["step_size"])
    eta_minus, eta_plus = etas
    state["step"] += 1
    agreement = grad.mul(prev).sign()  # sign(gₜ · gₜ₋₁): +1 same sign, −1 flipped, 0 either is zero
    factor = torch.ones_like(grad).masked_fill_(agreement > 0, eta_plus).masked_fill_(agreement < 0, eta_minus)
    step_size.mul_(factor).clamp_(*step_sizes)  # Δₜ = clamp(η± Δₜ₋₁, Δ_min, Δ_max)
    grad = grad.masked_fill(agreement < 0, 0)  # after a sign flip, skip this coordinate's step (and forget gₜ)
    param.addcmul_(grad.sign(), step_size, value=-1)  # θₜ = θₜ₋₁ − sign(gₜ) Δₜ
    prev.copy_(grad)


def check_pair(name: str, pair: Any, allowed: str, ok: Callable[[float, float], bool]) -> tuple[float, float]:
    """Check that ``pair`` is two finite numbers satisfying ``ok(first, second)``; ``allowed`` says which."""
    numbers = isinstance(pair, (tuple, list)) and len(pair) == 2
    numbers = numbers and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in pair)
    if not numbers or not all(math.isfinite(x) for x in pair) or not ok(*pair):
        raise invalid(name, pair, allowed)
    return tuple(pair)


def check_etas(name: str, etas: Any) -> tuple[float, float]:
    """Rprop's (η⁻, η⁺): 0 < η⁻ < 1 < η⁺, as torch requires."""
    return check_pair(name, etas, "(eta_minus, eta_plus) with 0 < eta_minus < 1 < eta_plus",
                      lambda low, high: 0 < low < 1 < high)


def check_step_sizes(name: str, step_sizes: Any) -> tuple[float, float]:
    """Rprop's (Δ_min, Δ_max): 0 <= Δ_min <= Δ_max (torch does not check; a reversed pair clamps everything)."""
    return check_pair(name, step_sizes, "(min_step, max_step) with 0 <= min_step <= max_step",
                      lambda low, high: 0 <= low <= high)


class Rprop(Optimizer):
    r"""Resilient backpropagation (Riedmiller & Braun, 1993) as ``torch.optim.Rprop`` computes it.

    .. math::
        Δ_t &= \mathrm{clamp}(η^{+} Δ_{t-1}) \text{ if } g_t g_{t-1} > 0,\;
               \mathrm{clamp}(η^{-} Δ_{t-1}) \text{ if } g_t g_{t-1} < 0,\; Δ_{t-1} \text{ otherwise} \\
        g_t &\leftarrow 0 \text{ where } g_t g_{t-1} < 0 \\
        θ_t &= θ_{t-1} - \mathrm{sign}(g_t)\, Δ_t

    ==================  ==================  ===================================================
    symbol              argument            meaning
    ==================  ==================  ===================================================
    Δ₀                  ``lr``              initial step size of every coordinate
    η⁻, η⁺              ``etas``            shrink and growth factors, 0 < η⁻ < 1 < η⁺
    Δ_min, Δ_max        ``step_sizes``      bounds of each coordinate's step size
    ==================  ==================  ===================================================

    Only the sign of the gradient is used, so the step is independent of the gradient's scale: this
    is a full-batch method (minibatch noise flips signs and keeps shrinking the steps).
    ``maximize=True`` ascends.

    Differences from the paper: this is the "Rprop without weight-backtracking" variant (Rprop⁻ in
    Igel & Hüsken, 2000): after a sign flip the step is skipped and the gradient is remembered as 0,
    rather than undoing the previous step. Complex parameters are optimized as their real and
    imaginary parts, each with its own step size.

    State keys: ``step`` (float32 scalar tensor), ``prev``, ``step_size``.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    rules = {**Optimizer.rules, "etas": check_etas, "step_sizes": check_step_sizes}
    state_keys = frozenset({"step", "prev", "step_size"})

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50.0),
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize)
        super().__init__(params, defaults, **implementation)

    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return rprop_init(param, lr=group["lr"])

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        rprop_update(param, grad, state, lr=group["lr"], etas=group["etas"], step_sizes=group["step_sizes"])
