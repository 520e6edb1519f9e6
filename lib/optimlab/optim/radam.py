"""RAdam: Adam whose adaptive step is switched on only once its variance can be estimated.

Taught in: notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, apply_weight_decay, count_step, new_step_counter
from optimlab.validation import check_betas, check_non_negative

# torch switches the adaptive step on when ρₜ > 5 (the authors' code: ρₜ ≥ 5); the paper's Algorithm 2: ρₜ > 4.
RECTIFICATION_THRESHOLD = 5.0


def radam_init(param: Tensor) -> dict[str, Any]:
    """Zeroed moments, torch's keys: ``step``, ``exp_avg``, ``exp_avg_sq``."""
    return {
        "step": new_step_counter(),
        "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
        "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
    }


def sma_length(t: Any, beta2: float) -> tuple[Any, float]:
    """(ρₜ, ρ∞): the length of the simple moving average that vₜ approximates, now and in the limit."""
    rho_inf = 2 / (1 - beta2) - 1  # ρ∞ = 2 / (1 − β₂) − 1
    rho_t = rho_inf - 2 * t * (beta2**t) / (1 - beta2**t)  # ρₜ = ρ∞ − 2t β₂ᵗ / (1 − β₂ᵗ)
    return rho_t, rho_inf


def radam_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
) -> None:
    """One RAdam step on ``param`` in place; an empty ``state`` is initialised on the first call."""
    if not state:
        state.update(radam_init(param))
    beta1, beta2 = betas
    t = count_step(state)
    grad = apply_weight_decay(param, grad, lr=lr, weight_decay=weight_decay, decoupled=decoupled_weight_decay)
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m.lerp_(grad, 1 - beta1)  # mₜ = β₁ mₜ₋₁ + (1 − β₁) gₜ
    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # vₜ = β₂ vₜ₋₁ + (1 − β₂) gₜ²
    bias_correction2 = 1 - beta2**t
    m_hat = m / (1 - beta1**t)  # m̂ₜ = mₜ / (1 − β₁ᵗ)
    rho_t, rho_inf = sma_length(t, beta2)
    adaptive = bias_correction2**0.5 / v.sqrt().add_(eps)  # lₜ = √(1 − β₂ᵗ) / (√vₜ + ε)
    # rₜ = √[(ρₜ − 4)(ρₜ − 2) ρ∞ / ((ρ∞ − 4)(ρ∞ − 2) ρₜ)]   (NaN while ρₜ < 4, where it is not used)
    rectification = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    # θₜ = θₜ₋₁ − γ m̂ₜ lₜ rₜ once ρₜ > 5, else θₜ₋₁ − γ m̂ₜ (too few samples: momentum SGD). torch.where, not
    # `if`, picks the branch: the choice stays a tensor (no host sync; torch.compile sees one graph).
    rectified = torch.as_tensor(rho_t > RECTIFICATION_THRESHOLD)
    param.sub_(torch.where(rectified, m_hat * lr * adaptive * rectification, m_hat * lr))


class RAdam(Optimizer):
    r"""RAdam (Liu et al., 2020) as ``torch.optim.RAdam`` computes it.

    .. math::
        m_t &= β_1 m_{t-1} + (1-β_1) g_t \qquad v_t = β_2 v_{t-1} + (1-β_2) g_t^2
        \qquad \hat m_t = m_t / (1-β_1^t) \\
        ρ_∞ &= \frac{2}{1-β_2} - 1 \qquad ρ_t = ρ_∞ - \frac{2 t β_2^t}{1-β_2^t} \\
        θ_t &= \begin{cases}
            θ_{t-1} - γ\, \hat m_t\, r_t\, \frac{\sqrt{1-β_2^t}}{\sqrt{v_t} + ε}
                & ρ_t > 5, \quad r_t = \sqrt{\frac{(ρ_t-4)(ρ_t-2)ρ_∞}{(ρ_∞-4)(ρ_∞-2)ρ_t}} \\
            θ_{t-1} - γ\, \hat m_t & \text{otherwise}
        \end{cases}

    ==========  ============================  ==============================================
    symbol      argument                      meaning
    ==========  ============================  ==============================================
    γ           ``lr``                        learning rate
    β₁, β₂      ``betas``                     decay of the first and second moment averages
    ε           ``eps``                       added to √v for numerical stability
    λ           ``weight_decay``              L2 penalty (or decoupled decay, see below)
    ==========  ============================  ==============================================

    ρₜ is the length of the simple moving average that the exponential average vₜ behaves like
    (SMA: simple moving average). Early on it is short, the adaptive rate 1/√v̂ₜ has a large (or
    undefined) variance, and RAdam takes un-adapted momentum-SGD steps γ m̂ₜ; once ρₜ > 5 it takes
    Adam steps scaled by rₜ < 1, which rises to 1 as ρₜ → ρ∞: a warm-up built into the optimizer.
    With β₂ = 0.999 the first 5 steps are un-adapted. ``decoupled_weight_decay=True`` shrinks θ by
    γλ first (as AdamW does); otherwise λθ is added to the gradient. ``maximize=True`` ascends.
    ``lr`` may be a 0-dim tensor; a complex parameter is optimized as its real and imaginary parts.

    Differences from the paper ("On the Variance of the Adaptive Learning Rate and Beyond", ICLR
    2020, Algorithm 2): the paper rectifies when ρₜ > 4, torch when ρₜ > 5; the paper has no ε
    (lₜ = √((1 − β₂ᵗ) / vₜ)), torch adds ε to √vₜ *before* the bias correction √(1 − β₂ᵗ), unlike Adam.
    Weight decay is torch's addition.

    State keys: ``step`` (float32 scalar tensor), ``exp_avg``, ``exp_avg_sq``.
    """

    rules = {**Optimizer.rules, "eps": check_non_negative}
    state_keys = frozenset({"step", "exp_avg", "exp_avg_sq"})
    compilable = True  # compiled=True / fused=True: this update under torch.compile

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        check_betas("betas", betas)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
        )
        super().__init__(params, defaults, **implementation)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        radam_update(
            param, grad, state, lr=group["lr"], betas=group["betas"], eps=group["eps"],
            weight_decay=group["weight_decay"], decoupled_weight_decay=group["decoupled_weight_decay"],
        )
