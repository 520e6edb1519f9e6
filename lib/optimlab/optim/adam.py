"""Adam and AMSGrad, with L2 (coupled) or decoupled weight decay.

Taught in: notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, apply_weight_decay, count_step, new_step_counter
from optimlab.validation import check_betas, check_non_negative, invalid


def adam_init(param: Tensor, *, amsgrad: bool = False) -> dict[str, Any]:
    """Zeroed moments, torch's keys: ``step``, ``exp_avg``, ``exp_avg_sq`` (+ ``max_exp_avg_sq``)."""
    state = {
        "step": new_step_counter(),
        "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
        "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
    }
    if amsgrad:
        state["max_exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    return state


def adam_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 1e-3,
    betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    decoupled_weight_decay: bool = False,
) -> None:
    """One Adam step on ``param`` in place; an empty ``state`` is initialised on the first call."""
    if not state:
        state.update(adam_init(param, amsgrad=amsgrad))
    beta1, beta2 = betas
    t = count_step(state)
    grad = apply_weight_decay(param, grad, lr=lr, weight_decay=weight_decay, decoupled=decoupled_weight_decay)
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m.lerp_(grad, 1 - beta1)  # mₜ = β₁ mₜ₋₁ + (1 − β₁) gₜ
    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # vₜ = β₂ vₜ₋₁ + (1 − β₂) gₜ²
    if amsgrad:
        v = torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])  # v̂ₘₐₓ = max(v̂ₘₐₓ, vₜ)
    bias_correction1 = 1 - beta1**t  # m̂ₜ = mₜ / (1 − β₁ᵗ)
    bias_correction2_sqrt = (1 - beta2**t).sqrt()  # v̂ₜ = vₜ / (1 − β₂ᵗ)
    denom = (v.sqrt() / bias_correction2_sqrt).add_(eps)  # √v̂ₜ + ε
    param.sub_(lr / bias_correction1 * m / denom)  # θₜ = θₜ₋₁ − γ m̂ₜ / (√v̂ₜ + ε)


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015) as ``torch.optim.Adam`` computes it.

    .. math::
        m_t &= β_1 m_{t-1} + (1-β_1) g_t \qquad v_t = β_2 v_{t-1} + (1-β_2) g_t^2 \\
        \hat m_t &= m_t / (1-β_1^t) \qquad \hat v_t = v_t / (1-β_2^t) \\
        θ_t &= θ_{t-1} - γ\, \hat m_t / (\sqrt{\hat v_t} + ε)

    ==========  ===========================  ==============================================
    symbol      argument                     meaning
    ==========  ===========================  ==============================================
    γ           ``lr``                       learning rate
    β₁, β₂      ``betas``                    decay of the first and second moment averages
    ε           ``eps``                      added to √v̂ for numerical stability
    λ           ``weight_decay``             L2 penalty (or decoupled decay, see below)
    ==========  ===========================  ==============================================

    ``amsgrad=True`` (Reddi et al., 2018) divides by the running maximum of v instead of v.
    ``decoupled_weight_decay=True`` shrinks θ by γλ before the update, which is AdamW
    (Loshchilov & Hutter, 2019); otherwise λθ is added to the gradient and so is rescaled by the
    adaptive denominator (Adam + L2). ``maximize=True`` ascends. ``lr`` and ``betas`` may be 0-dim
    tensors, as in torch; a complex parameter is optimized as its real and imaginary parts.

    Differences from the paper: ε is added *after* bias-correcting √v (the paper's Algorithm 1 adds it
    to √v̂ too, but its efficient form, section 2, puts ε outside the correction); AMSGrad keeps the
    maximum of the raw ``exp_avg_sq`` and bias-corrects it with β₂ᵗ, while the AMSGrad paper has no
    bias correction.

    State keys: ``step`` (float32 scalar tensor), ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``.
    """

    rules = {**Optimizer.rules, "eps": check_non_negative, "betas": lambda n, v: check_betas(n, v, tensors=True)}
    state_keys = frozenset({"step", "exp_avg", "exp_avg_sq"})
    compilable = True  # compiled=True / fused=True: this update under torch.compile

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        **implementation: Any,
    ) -> None:
        check_betas("betas", betas, tensors=True)
        betas = tuple(b.reshape(()) if isinstance(b, Tensor) else b for b in betas)  # type: ignore[assignment]
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults, **implementation)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        adam_update(
            param, grad, state, lr=group["lr"], betas=group["betas"], eps=group["eps"],
            weight_decay=group["weight_decay"], amsgrad=group["amsgrad"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
        )


def _check_true(name: str, value: Any) -> bool:
    """AdamW is Adam with decoupled decay: a group (or a loaded Adam checkpoint) that switches it off is refused."""
    if value is not True:
        raise invalid(name, value, "True in AdamW (use Adam for L2 weight decay)")
    return value


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): ``torch.optim.AdamW``.

    Identical to ``Adam(..., decoupled_weight_decay=True)``; note the different default
    ``weight_decay=1e-2``, as in torch. See :class:`Adam` for the update and symbol table.

    Taught in: notebooks/05_adaptive_methods.ipynb.
    """

    rules = {**Adam.rules, "decoupled_weight_decay": lambda name, value: _check_true(name, value)}

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, decoupled_weight_decay=True, **implementation,
        )
