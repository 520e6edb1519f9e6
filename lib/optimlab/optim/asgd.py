"""Averaged SGD: SGD with a decaying step and a running (Polyak–Ruppert) average of the iterates.

Taught in: notebooks/13_modern_optimizers.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, new_step_counter
from optimlab.validation import check_non_negative


def real_view(tensor: Tensor) -> Tensor:
    """A complex tensor as its real and imaginary parts (a view), as torch optimizes complex parameters."""
    return torch.view_as_real(tensor) if torch.is_complex(tensor) else tensor


def asgd_init(param: Tensor, *, lr: float | Tensor) -> dict[str, Any]:
    """torch's keys: ``step``, ``eta`` (the current step size), ``mu`` (the averaging weight), ``ax`` (the average).

    ``eta`` and ``mu`` are float32 scalar tensors as in torch, so the step size is rounded to float32.
    """
    return {
        "step": new_step_counter(),
        "eta": torch.tensor(float(lr), dtype=torch.float32),  # η₁ = γ
        "mu": torch.ones((), dtype=torch.float32),
        "ax": torch.zeros_like(param, memory_format=torch.preserve_format),
    }


def asgd_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0.0,
) -> None:
    """One ASGD step on ``param`` in place; an empty ``state`` is initialised on the first call."""
    if not state:
        state.update(asgd_init(param, lr=lr))
    param, grad, ax = real_view(param), real_view(grad), real_view(state["ax"])
    state["step"] += 1
    t = state["step"].item()
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)  # g ← g + λ_wd θ
    eta = state["eta"].item()
    param.mul_(1 - lambd * eta)  # θ ← θ (1 − λ ηₜ)
    param.add_(grad, alpha=-eta)  # θₜ = θ − ηₜ g
    mu = state["mu"]
    if mu.item() != 1:
        ax.add_(param.sub(ax).mul_(mu))  # āₜ = āₜ₋₁ + μₜ (θₜ − āₜ₋₁)
    else:
        ax.copy_(param)  # μₜ = 1: the "average" is the iterate itself (before averaging starts)
    # Through a default-dtype (float32) tensor, as torch does: η and μ are rounded to float32 even when a
    # checkpoint load has cast the state tensors to float64.
    state["eta"].copy_(torch.as_tensor(lr / (1 + lambd * lr * t) ** alpha))  # ηₜ₊₁ = γ / (1 + λ γ t)^α
    state["mu"].copy_(torch.as_tensor(1 / max(1, t - t0)))  # μₜ₊₁ = 1 / max(1, t − t₀)


class ASGD(Optimizer):
    r"""Averaged SGD (Polyak & Juditsky, 1992) as ``torch.optim.ASGD`` computes it.

    .. math::
        θ_t &= θ_{t-1}(1 - λ η_t) - η_t g_t \\
        \bar a_t &= \bar a_{t-1} + μ_t (θ_t - \bar a_{t-1}) \\
        η_{t+1} &= γ / (1 + λ γ t)^α \qquad μ_{t+1} = 1 / \max(1, t - t_0)

    ==========  ==================  =====================================================
    symbol      argument            meaning
    ==========  ==================  =====================================================
    γ           ``lr``              initial step size η₁
    λ           ``lambd``           decay term: shrinks θ and the step size
    α           ``alpha``           power of the step-size decay
    t₀          ``t0``              step at which averaging starts
    λ_wd        ``weight_decay``    L2 penalty added to the gradient
    ==========  ==================  =====================================================

    The parameters follow plain SGD with a slowly decaying step; the average ā (state ``ax``) is the
    answer Polyak–Ruppert averaging gives: its noise shrinks like 1/t even though the step does not.
    Until step t₀ the average is just the current iterate (μ = 1). ``maximize=True`` ascends.

    Differences from the paper: the paper averages from the start and leaves the step-size schedule
    open; torch fixes η and μ as above, and also shrinks θ by (1 − λη) each step. The parameters
    themselves stay the SGD iterates; to use the average, copy ``state[p]["ax"]`` into the model.
    ``eta`` and ``mu`` are float32 scalars (torch's choice), so η is rounded to float32 even for
    float64 parameters. Complex parameters are optimized as their real and imaginary parts.

    State keys: ``step``, ``eta``, ``mu`` (float32 scalar tensors), ``ax``.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    rules = {**Optimizer.rules, "lambd": check_non_negative, "alpha": check_non_negative, "t0": check_non_negative}
    state_keys = frozenset({"step", "eta", "mu", "ax"})

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, **implementation)

    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return asgd_init(param, lr=group["lr"])

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        asgd_update(
            param, grad, state, lr=group["lr"], lambd=group["lambd"], alpha=group["alpha"], t0=group["t0"],
            weight_decay=group["weight_decay"],
        )
