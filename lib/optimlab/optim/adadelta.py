"""Adadelta: a step whose units match the parameters', RMS of past steps over RMS of gradients.

Taught in: notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, apply_weight_decay, count_step, new_step_counter
from optimlab.validation import check_non_negative, check_number


def adadelta_init(param: Tensor) -> dict[str, Any]:
    """Zeroed averages, torch's keys: ``step``, ``square_avg`` (of g²), ``acc_delta`` (of Δ²)."""
    return {
        "step": new_step_counter(),
        "square_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
        "acc_delta": torch.zeros_like(param, memory_format=torch.preserve_format),
    }


def adadelta_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
) -> None:
    """One Adadelta step on ``param`` in place; an empty ``state`` is initialised on the first call."""
    if not state:
        state.update(adadelta_init(param))
    count_step(state)  # t ← t + 1 (kept for torch's checkpoints; the update does not read it)
    grad = apply_weight_decay(param, grad, lr=lr, weight_decay=weight_decay, decoupled=False)  # g ← g + λθ
    square_avg, acc_delta = state["square_avg"], state["acc_delta"]
    square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)  # E[g²]ₜ = ρ E[g²]ₜ₋₁ + (1 − ρ) gₜ²
    rms_grad = square_avg.add(eps).sqrt_()  # RMS[g]ₜ = √(E[g²]ₜ + ε)
    rms_delta = acc_delta.add(eps).sqrt_()  # RMS[Δ]ₜ₋₁ = √(E[Δ²]ₜ₋₁ + ε)
    delta = rms_delta.div_(rms_grad).mul_(grad)  # Δₜ = RMS[Δ]ₜ₋₁ / RMS[g]ₜ · gₜ
    acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)  # E[Δ²]ₜ = ρ E[Δ²]ₜ₋₁ + (1 − ρ) Δₜ²
    param.sub_(lr * delta)  # θₜ = θₜ₋₁ − γ Δₜ


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012) as ``torch.optim.Adadelta`` computes it.

    .. math::
        E[g^2]_t &= ρ E[g^2]_{t-1} + (1-ρ) g_t^2 \\
        Δ_t &= \frac{\sqrt{E[Δ^2]_{t-1} + ε}}{\sqrt{E[g^2]_t + ε}}\, g_t \\
        E[Δ^2]_t &= ρ E[Δ^2]_{t-1} + (1-ρ) Δ_t^2 \\
        θ_t &= θ_{t-1} - γ\, Δ_t

    ==========  ==================  ==============================================
    symbol      argument            meaning
    ==========  ==================  ==============================================
    γ           ``lr``              scales the step (1.0: the paper's method)
    ρ           ``rho``             decay of both running averages
    ε           ``eps``             inside both square roots; also the first steps' size
    λ           ``weight_decay``    L2 penalty added to the gradient (g ← g + λθ)
    ==========  ==================  ==============================================

    The numerator carries the units of θ, so the step needs no learning rate: the paper
    ("ADADELTA: An Adaptive Learning Rate Method", 2012, Algorithm 1) has none. Because
    E[Δ²] starts at zero, the first steps have size about √ε / RMS[g], which is why ε matters far
    more here than in Adam. ``maximize=True`` ascends.
    ``lr`` may be a 0-dim tensor; a complex parameter is optimized as its real and imaginary parts.

    Differences from the paper: torch multiplies the step by ``lr`` (default 1.0, which is the paper);
    E[Δ²] accumulates the step *before* that scaling, so ``lr`` does not feed back into later steps.
    Weight decay is torch's addition. The paper's experiments use ρ = 0.95, torch's default is 0.9.

    State keys: ``step`` (float32 scalar tensor), ``square_avg`` (E[g²]), ``acc_delta`` (E[Δ²]).
    """

    rules = {**Optimizer.rules, "rho": lambda n, v: check_number(n, v, low=0.0, high=1.0), "eps": check_non_negative}
    state_keys = frozenset({"step", "square_avg", "acc_delta"})
    compilable = True  # compiled=True / fused=True: this update under torch.compile

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, **implementation)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        adadelta_update(
            param, grad, state, lr=group["lr"], rho=group["rho"], eps=group["eps"],
            weight_decay=group["weight_decay"],
        )
