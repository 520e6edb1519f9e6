"""Adamax: Adam with the infinity norm, a decaying maximum of |g| in place of the root mean square.

Taught in: notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, apply_weight_decay, count_step, new_step_counter
from optimlab.validation import check_betas, check_non_negative


def adamax_init(param: Tensor) -> dict[str, Any]:
    """Zeroed moments, torch's keys: ``step``, ``exp_avg``, ``exp_inf``."""
    return {
        "step": new_step_counter(),
        "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
        "exp_inf": torch.zeros_like(param, memory_format=torch.preserve_format),
    }


def adamax_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> None:
    """One Adamax step on ``param`` in place; an empty ``state`` is initialised on the first call."""
    if not state:
        state.update(adamax_init(param))
    beta1, beta2 = betas
    t = count_step(state)
    grad = apply_weight_decay(param, grad, lr=lr, weight_decay=weight_decay, decoupled=False)  # g ← g + λθ
    m, u = state["exp_avg"], state["exp_inf"]
    m.lerp_(grad, 1 - beta1)  # mₜ = β₁ mₜ₋₁ + (1 − β₁) gₜ
    torch.maximum(u.mul_(beta2), grad.abs().add_(eps), out=u)  # uₜ = max(β₂ uₜ₋₁, |gₜ| + ε)
    param.sub_(lr / (1 - beta1**t) * m / u)  # θₜ = θₜ₋₁ − γ / (1 − β₁ᵗ) · mₜ / uₜ


class Adamax(Optimizer):
    r"""Adamax (Kingma & Ba, 2015, section 7.1) as ``torch.optim.Adamax`` computes it.

    .. math::
        m_t &= β_1 m_{t-1} + (1-β_1) g_t \\
        u_t &= \max(β_2 u_{t-1},\, |g_t| + ε) \\
        θ_t &= θ_{t-1} - \frac{γ}{1-β_1^t}\, \frac{m_t}{u_t}

    ==========  ==================  ==============================================
    symbol      argument            meaning
    ==========  ==================  ==============================================
    γ           ``lr``              learning rate
    β₁, β₂      ``betas``           decay of the first moment and of the maximum
    ε           ``eps``             added to |g| so that u is never zero
    λ           ``weight_decay``    L2 penalty added to the gradient (g ← g + λθ)
    ==========  ==================  ==============================================

    Adam's vₜ is an average of |g|²; letting the exponent 2 grow to ∞ turns the average into a
    decaying maximum uₜ, which needs no bias correction (it does not start biased towards zero
    the way an average does). ``maximize=True`` ascends.
    ``lr`` may be a 0-dim tensor; a complex parameter is optimized as its real and imaginary parts.

    Differences from the paper ("Adam: A Method for Stochastic Optimization", ICLR 2015,
    Algorithm 2): the paper has no ε, uₜ = max(β₂ uₜ₋₁, |gₜ|); torch adds ε to |gₜ| *inside* the
    maximum (so ε also bounds u from below on every step, not only the first). Weight decay is
    torch's addition.

    State keys: ``step`` (float32 scalar tensor), ``exp_avg``, ``exp_inf``.
    """

    rules = {**Optimizer.rules, "eps": check_non_negative}
    state_keys = frozenset({"step", "exp_avg", "exp_inf"})
    compilable = True  # compiled=True / fused=True: this update under torch.compile

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        check_betas("betas", betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, **implementation)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        adamax_update(
            param, grad, state, lr=group["lr"], betas=group["betas"], eps=group["eps"],
            weight_decay=group["weight_decay"],
        )
