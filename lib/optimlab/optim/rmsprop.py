"""RMSprop: divide each coordinate's step by a running root-mean-square of its gradients.

Taught in: notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, apply_weight_decay, count_step, new_step_counter
from optimlab.validation import check_non_negative, check_number


def rmsprop_init(param: Tensor, *, momentum: float = 0.0, centered: bool = False) -> dict[str, Any]:
    """torch's keys: ``step``, ``square_avg``; ``momentum_buffer`` if momentum > 0; ``grad_avg`` if centered."""
    state = {"step": new_step_counter(), "square_avg": torch.zeros_like(param, memory_format=torch.preserve_format)}
    if momentum > 0:
        state["momentum_buffer"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    if centered:
        state["grad_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    return state


def rmsprop_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
) -> None:
    """One RMSprop step on ``param`` in place; an empty ``state`` is initialised on the first call."""
    if not state:
        state.update(rmsprop_init(param, momentum=momentum, centered=centered))
    count_step(state)  # t ← t + 1 (kept for torch's checkpoints; the update does not read it)
    grad = apply_weight_decay(param, grad, lr=lr, weight_decay=weight_decay, decoupled=False)  # g ← g + λθ
    square_avg = state["square_avg"]
    square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)  # vₜ = α vₜ₋₁ + (1 − α) gₜ²
    if centered:
        grad_avg = state["grad_avg"]
        grad_avg.lerp_(grad, 1 - alpha)  # ḡₜ = α ḡₜ₋₁ + (1 − α) gₜ
        rms = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()  # √(vₜ − ḡₜ²)  (a standard deviation)
    else:
        rms = square_avg.sqrt()  # √vₜ
    rms = rms.add_(eps)  # ... + ε
    if momentum > 0:
        buf = state["momentum_buffer"]
        buf.mul_(momentum).addcdiv_(grad, rms)  # bₜ = μ bₜ₋₁ + gₜ / (√vₜ + ε)
        param.sub_(lr * buf)  # θₜ = θₜ₋₁ − γ bₜ
    else:
        param.sub_(lr * grad / rms)  # θₜ = θₜ₋₁ − γ gₜ / (√vₜ + ε)


class RMSprop(Optimizer):
    r"""RMSprop (Tieleman & Hinton, 2012) as ``torch.optim.RMSprop`` computes it.

    .. math::
        v_t &= α v_{t-1} + (1-α) g_t^2 \\
        d_t &= \sqrt{v_t} + ε \quad \text{or, centered:} \quad
              \bar g_t = α \bar g_{t-1} + (1-α) g_t, \;\; d_t = \sqrt{v_t - \bar g_t^2} + ε \\
        b_t &= μ b_{t-1} + g_t / d_t \qquad (b_0 = 0) \\
        θ_t &= θ_{t-1} - γ\, b_t \qquad (μ = 0: \; θ_t = θ_{t-1} - γ\, g_t / d_t)

    ==========  ==================  ==============================================
    symbol      argument            meaning
    ==========  ==================  ==============================================
    γ           ``lr``              learning rate
    α           ``alpha``           decay of the running averages
    ε           ``eps``             added to the root mean square
    λ           ``weight_decay``    L2 penalty added to the gradient (g ← g + λθ)
    μ           ``momentum``        momentum on the normalised step (0: none)
    ==========  ==================  ==============================================

    ``centered=True`` divides by the running standard deviation √(v − ḡ²) instead of the root mean
    square (Graves, 2013, "Generating Sequences With Recurrent Neural Networks", eqs. 38-41).
    ``maximize=True`` ascends.
    ``lr`` may be a 0-dim tensor; a complex parameter is optimized as its real and imaginary parts.

    Differences from the sources: RMSprop was never published as a paper; it comes from Tieleman and
    Hinton's Coursera lecture 6.5 (Neural Networks for Machine Learning), which has neither momentum
    nor ε. ε sits *outside* the square root here;
    Graves (and TensorFlow) put it inside, √(v − ḡ² + ε). Graves keeps γ inside the momentum
    buffer, Δ = μΔ − γ g/√(...); torch keeps it outside, so changing ``lr`` does not rescale past steps.
    The momentum buffer starts at zero (SGD's starts at the first gradient).

    State keys: ``step`` (float32 scalar tensor), ``square_avg``, ``momentum_buffer`` (only when
    momentum > 0), ``grad_avg`` (only when centered).
    """

    rules = {**Optimizer.rules, "alpha": lambda n, v: check_number(n, v, low=0.0, high=1.0), "eps": check_non_negative}
    state_keys = frozenset({"step", "square_avg"})
    compilable = True  # compiled=True / fused=True: this update under torch.compile

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults, **implementation)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        rmsprop_update(
            param, grad, state, lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
            weight_decay=group["weight_decay"], momentum=group["momentum"], centered=group["centered"],
        )
