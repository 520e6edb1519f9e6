"""Lion: step by the sign of a momentum mix, so every coordinate moves by exactly the learning rate.

torch.optim has no Lion; its tests check it against the paper's pseudo-code instead.

Taught in: notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, apply_weight_decay
from optimlab.validation import check_betas


def lion_init(param: Tensor) -> dict[str, Any]:
    """A zeroed momentum under the key ``exp_avg`` (Lion keeps no step counter)."""
    return {"exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format)}


def lion_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 1e-4,
    betas: tuple[float, float] = (0.9, 0.99),
    weight_decay: float = 0.0,
) -> None:
    """One Lion step on ``param`` in place; an empty ``state`` is initialised on the first call."""
    if not state:
        state.update(lion_init(param))
    beta1, beta2 = betas
    m = state["exp_avg"]
    apply_weight_decay(param, grad, lr=lr, weight_decay=weight_decay, decoupled=True)  # θ ← θ(1 − γλ), as AdamW
    direction = m.lerp(grad, 1 - beta1).sign_()  # sign(cₜ),  cₜ = β₁ mₜ₋₁ + (1 − β₁) gₜ
    param.sub_(lr * direction)  # θₜ = θₜ₋₁ − γ sign(cₜ)
    m.lerp_(grad, 1 - beta2)  # mₜ = β₂ mₜ₋₁ + (1 − β₂) gₜ


class Lion(Optimizer):
    r"""Lion, "EvoLved Sign Momentum" (Chen et al., 2023).

    .. math::
        c_t &= β_1 m_{t-1} + (1-β_1) g_t \\
        θ_t &= θ_{t-1} - γ \big(\operatorname{sign}(c_t) + λ θ_{t-1}\big) \\
        m_t &= β_2 m_{t-1} + (1-β_2) g_t

    ==========  ==================  ==============================================
    symbol      argument            meaning
    ==========  ==================  ==============================================
    γ           ``lr``              learning rate: the size of every coordinate's step
    β₁          ``betas[0]``        weight of the momentum in the step's direction
    β₂          ``betas[1]``        decay of the momentum itself
    λ           ``weight_decay``    decoupled weight decay, θ ← θ(1 − γλ)
    ==========  ==================  ==============================================

    The step is a sign, so each coordinate moves by exactly γ (plus the decay) whatever the
    gradient's scale: the update has a larger norm than Adam's, hence the paper's advice of a
    learning rate 3-10x smaller than AdamW's and a weight decay 3-10x larger. Two betas separate
    how much the momentum counts *now* (β₁) from how long it remembers (β₂ > β₁). It keeps a single
    state tensor, half of Adam's memory. ``maximize=True`` ascends. ``lr`` may be a 0-dim tensor. A complex
    parameter is optimized as its real and imaginary parts, as torch does for its optimizers (torch has no Lion).

    Paper: "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023, Algorithm 2 (Lion), found
    by program search. Differences from the paper: none in the update. The paper's schedule ηₜ is
    ``lr`` here, to be changed by a scheduler; the decay is applied before the sign step, which is
    the paper's θₜ₋₁ − γ(sign(cₜ) + λθₜ₋₁) rearranged (equal up to rounding). sign(0) = 0, as in the paper's code.

    State key: ``exp_avg`` (the momentum m; the name matches Adam's first moment).
    """

    state_keys = frozenset({"exp_avg"})
    compilable = True  # compiled=True / fused=True: this update under torch.compile

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        check_betas("betas", betas)
        defaults = dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, **implementation)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lion_update(param, grad, state, lr=group["lr"], betas=group["betas"], weight_decay=group["weight_decay"])
