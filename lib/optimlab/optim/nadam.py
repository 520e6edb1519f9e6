"""NAdam: Adam with Nesterov momentum, the first moment looked at one step ahead.

Taught in: notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, apply_weight_decay, count_step, new_step_counter
from optimlab.validation import check_betas, check_non_negative


def nadam_init(param: Tensor) -> dict[str, Any]:
    """torch's keys: ``step``, ``mu_product`` (float32 scalar, 1), ``exp_avg``, ``exp_avg_sq``."""
    return {
        "step": new_step_counter(),
        "mu_product": torch.tensor(1.0, dtype=torch.float32),
        "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
        "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
    }


def momentum_schedule(t: Any, beta1: float, momentum_decay: float) -> Any:
    """Dozat's warming-up momentum μₜ = β₁ (1 − ½ · 0.96^(t ψ)): from β₁/2 at t = 0 towards β₁."""
    return beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))


def nadam_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
) -> None:
    """One NAdam step on ``param`` in place; an empty ``state`` is initialised on the first call."""
    if not state:
        state.update(nadam_init(param))
    beta1, beta2 = betas
    t = count_step(state)
    grad = apply_weight_decay(param, grad, lr=lr, weight_decay=weight_decay, decoupled=decoupled_weight_decay)
    mu = momentum_schedule(t, beta1, momentum_decay)  # μₜ
    mu_next = momentum_schedule(t + 1, beta1, momentum_decay)  # μₜ₊₁
    state["mu_product"] *= mu.to(state["mu_product"].dtype)  # Πᵢ₌₁ᵗ μᵢ   (kept in float32, as torch does)
    mu_product = state["mu_product"].to(torch.float64)
    mu_product_next = mu_product * mu_next  # Πᵢ₌₁ᵗ⁺¹ μᵢ
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m.lerp_(grad, 1 - beta1)  # mₜ = β₁ mₜ₋₁ + (1 − β₁) gₜ
    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # vₜ = β₂ vₜ₋₁ + (1 − β₂) gₜ²
    denom = v.div(1 - beta2**t).sqrt().add_(eps)  # √v̂ₜ + ε,  v̂ₜ = vₜ / (1 − β₂ᵗ)
    # θₜ = θₜ₋₁ − γ [(1 − μₜ) gₜ / (1 − Πᵢ₌₁ᵗ μᵢ) + μₜ₊₁ mₜ / (1 − Πᵢ₌₁ᵗ⁺¹ μᵢ)] / (√v̂ₜ + ε), one term at a time:
    param.sub_(lr * (1 - mu) / (1 - mu_product) * grad / denom)  # the current gradient's share
    param.sub_(lr * mu_next / (1 - mu_product_next) * m / denom)  # the look-ahead momentum's share


class NAdam(Optimizer):
    r"""NAdam (Dozat, 2016) as ``torch.optim.NAdam`` computes it.

    .. math::
        μ_t &= β_1 \big(1 - \tfrac12\, 0.96^{tψ}\big) \\
        m_t &= β_1 m_{t-1} + (1-β_1) g_t \qquad v_t = β_2 v_{t-1} + (1-β_2) g_t^2 \\
        \hat m_t &= \frac{μ_{t+1}\, m_t}{1 - \prod_{i=1}^{t+1} μ_i} + \frac{(1-μ_t)\, g_t}{1 - \prod_{i=1}^{t} μ_i}
        \qquad \hat v_t = v_t / (1-β_2^t) \\
        θ_t &= θ_{t-1} - γ\, \hat m_t / (\sqrt{\hat v_t} + ε)

    ==========  ============================  ==============================================
    symbol      argument                      meaning
    ==========  ============================  ==============================================
    γ           ``lr``                        learning rate
    β₁, β₂      ``betas``                     decay of the first and second moment averages
    ε           ``eps``                       added to √v̂ for numerical stability
    λ           ``weight_decay``              L2 penalty (or decoupled decay, see below)
    ψ           ``momentum_decay``            speed of the momentum warm-up μₜ
    ==========  ============================  ==============================================

    Nesterov's idea in Adam's terms: instead of stepping along mₜ, step along the mix of the current
    gradient and the momentum *as it will be one step later* (weight μₜ₊₁). The momentum
    coefficient μₜ warms up from β₁/2 towards β₁ (ψ = 0.004 is Dozat's 0.96^(t/250)); the
    products of the μᵢ play the role of Adam's bias correction 1 − β₁ᵗ.
    ``decoupled_weight_decay=True`` shrinks θ by γλ first (NAdamW); otherwise λθ is added to the
    gradient. ``maximize=True`` ascends.
    ``lr`` may be a 0-dim tensor; a complex parameter is optimized as its real and imaginary parts.

    Differences from the paper ("Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop):
    torch, like Keras, averages the first moment with the *constant* β₁ and uses the schedule μₜ only
    in the Nesterov mix and its corrections; ε is added after bias-correcting √v. ``momentum_decay=0``
    makes μₜ = β₁/2 for every t, which is *not* Adam. ∏μᵢ is kept as a float32 tensor (torch's
    ``mu_product``), so its rounding is float32's even for float64 parameters.

    State keys: ``step`` (float32 scalar tensor), ``mu_product`` (float32 scalar tensor), ``exp_avg``,
    ``exp_avg_sq``.
    """

    rules = {**Optimizer.rules, "eps": check_non_negative, "momentum_decay": check_non_negative}
    state_keys = frozenset({"step", "mu_product", "exp_avg", "exp_avg_sq"})
    compilable = True  # compiled=True / fused=True: this update under torch.compile

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        check_betas("betas", betas)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
        )
        super().__init__(params, defaults, **implementation)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's loader casts every state tensor to the parameter's dtype; ∏μ goes back to float32, so a
        resumed run continues exactly like an uninterrupted one."""
        super().load_state_dict(state_dict)
        for state in self.state.values():
            if "mu_product" in state:
                state["mu_product"] = state["mu_product"].to(torch.float32)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        nadam_update(
            param, grad, state, lr=group["lr"], betas=group["betas"], eps=group["eps"],
            weight_decay=group["weight_decay"], momentum_decay=group["momentum_decay"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
        )
