"""LAMB: Adam's step, rescaled per layer by a trust ratio (You et al., 2020).

Adam's per-coordinate direction r = m̂ / (√v̂ + ε), plus decoupled weight decay, is rescaled for each
layer so that its length is proportional to the layer's norm: ‖x‖ / ‖r + λx‖. LAMB trained BERT with
batches of 64k. Biases and norms are excluded with the per-group flag ``layer_adaptation`` (see
:func:`optimlab.optim.lars.layer_adaptation_groups`), as the paper's code does.

Taught in: notebooks/15_many_processes.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, count_step, new_step_counter
from optimlab.optim.lars import safe_ratio
from optimlab.validation import check_bool, check_positive


def lamb_init(param: Tensor) -> dict[str, Any]:
    """Zeroed moments, torch's keys: ``step``, ``exp_avg``, ``exp_avg_sq``."""
    return {"step": new_step_counter(), "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format)}


def lamb_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    layer_adaptation: bool = True,
) -> None:
    """One LAMB step on ``param`` in place; an empty ``state`` is initialised on the first call."""
    if not state:
        state.update(lamb_init(param))
    beta1, beta2 = betas
    t = count_step(state)  # t ← t + 1
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m.lerp_(grad, 1 - beta1)  # mₜ = β₁ mₜ₋₁ + (1 − β₁) gₜ
    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # vₜ = β₂ vₜ₋₁ + (1 − β₂) gₜ²
    m_hat = m / (1 - beta1**t)  # m̂ₜ = mₜ / (1 − β₁ᵗ)
    v_hat = v / (1 - beta2**t)  # v̂ₜ = vₜ / (1 − β₂ᵗ)
    update = (m_hat / (v_hat.sqrt() + eps)).add_(param, alpha=weight_decay)  # rₜ + λx,  rₜ = m̂ₜ / (√v̂ₜ + ε)
    if layer_adaptation:
        ratio = safe_ratio(torch.linalg.vector_norm(param), torch.linalg.vector_norm(update))  # ‖x‖ / ‖r + λx‖
        state["trust_ratio"] = ratio
        update.mul_(ratio)
    param.add_(update, alpha=-lr)  # xₜ₊₁ = xₜ − η ‖x‖/‖r + λx‖ (r + λx)


class LAMB(Optimizer):
    r"""LAMB (You et al., 2020, Algorithm 2), with the scaling function φ the identity.

    .. math::
        m_t &= β_1 m_{t-1} + (1-β_1) g_t \qquad v_t = β_2 v_{t-1} + (1-β_2) g_t^2 \\
        r_t &= \frac{m_t/(1-β_1^t)}{\sqrt{v_t/(1-β_2^t)} + ε} \\
        x^{(i)}_{t+1} &= x^{(i)}_t - η_t \frac{φ(\lVert x^{(i)}_t \rVert)}{\lVert r^{(i)}_t + λ x^{(i)}_t \rVert}
                        \left(r^{(i)}_t + λ x^{(i)}_t\right)

    ==========  ===================  ==============================================
    symbol      argument             meaning
    ==========  ===================  ==============================================
    η           ``lr``               learning rate
    β₁, β₂      ``betas``            decay of the first and second moment averages
    ε           ``eps``              added to √v̂ (the paper's experiments: 1e-6)
    λ           ``weight_decay``     decoupled weight decay, inside the trust ratio
    ==========  ===================  ==============================================

    Per group, ``layer_adaptation=False`` drops the trust ratio (the step is AdamW's). The last trust
    ratio of each adapted tensor is kept in ``state["trust_ratio"]``.

    Differences from the paper: φ is the identity (the paper allows a clipped φ(z) = min(max(z, γₗ), γᵤ)
    and its experiments use the identity); where ‖x‖ or ‖r + λx‖ is 0 the ratio is 1.

    State keys: ``step`` (float32 scalar tensor), ``exp_avg``, ``exp_avg_sq``, ``trust_ratio``.

    Taught in: notebooks/15_many_processes.ipynb.
    """

    rules = {**Optimizer.rules, "eps": check_positive, "layer_adaptation": check_bool}
    state_keys = frozenset({"step", "exp_avg", "exp_avg_sq"})

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        layer_adaptation: bool = True,
        **implementation: Any,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, layer_adaptation=layer_adaptation)
        super().__init__(params, defaults, **implementation)  # checks every value with ``rules``, every group too

    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return lamb_init(param)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lamb_update(param, grad, state, lr=float(group["lr"]), betas=group["betas"], eps=group["eps"],
                    weight_decay=group["weight_decay"], layer_adaptation=group["layer_adaptation"])
