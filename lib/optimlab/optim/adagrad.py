"""Adagrad: a per-coordinate step that shrinks with the sum of all squared gradients seen so far.

Taught in: notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, new_step_counter
from optimlab.validation import check_non_negative


def adagrad_init(param: Tensor, *, initial_accumulator_value: float = 0.0) -> dict[str, Any]:
    """torch's keys: ``step`` (0) and ``sum``, every entry set to ``initial_accumulator_value``."""
    return {
        "step": new_step_counter(),
        "sum": torch.full_like(param, initial_accumulator_value, memory_format=torch.preserve_format),
    }


def adagrad_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
) -> None:
    """One Adagrad step on ``param`` in place; an empty ``state`` is initialised on the first call."""
    if not state:
        state.update(adagrad_init(param, initial_accumulator_value=initial_accumulator_value))
    state["step"] += 1
    t = state["step"].item()
    if weight_decay != 0:
        grad = grad.add(param, alpha=weight_decay)  # g ← g + λθ
    decayed_lr = lr / (1 + (t - 1) * lr_decay)  # γ̃ₜ = γ / (1 + (t − 1) η)
    sum_of_squares = state["sum"]
    sum_of_squares.addcmul_(grad, grad, value=1)  # Gₜ = Gₜ₋₁ + gₜ²
    std = sum_of_squares.sqrt().add_(eps)  # √Gₜ + ε
    param.addcdiv_(grad, std, value=-decayed_lr)  # θₜ = θₜ₋₁ − γ̃ₜ gₜ / (√Gₜ + ε)


class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, 2011) as ``torch.optim.Adagrad`` computes it.

    .. math::
        G_t &= G_{t-1} + g_t^2 \qquad (G_0 = \text{initial\_accumulator\_value}) \\
        \tilde γ_t &= γ / (1 + (t-1)\,η) \\
        θ_t &= θ_{t-1} - \tilde γ_t\, g_t / (\sqrt{G_t} + ε)

    ==========  ==============================  ==============================================
    symbol      argument                        meaning
    ==========  ==============================  ==============================================
    γ           ``lr``                          learning rate
    η           ``lr_decay``                    the step-size decay γ / (1 + (t − 1) η)
    λ           ``weight_decay``                L2 penalty added to the gradient (g ← g + λθ)
    G₀          ``initial_accumulator_value``   starting value of every squared-gradient sum
    ε           ``eps``                         added to √G for numerical stability
    ==========  ==============================  ==============================================

    Every coordinate's step is γ divided by the root of the sum of its squared gradients, so
    coordinates with large past gradients slow down, and every step size only ever shrinks.
    ``maximize=True`` ascends.

    Differences from the paper (diagonal version, "Adaptive Subgradient Methods for Online Learning
    and Stochastic Optimization", JMLR 2011): ε plays the paper's δ, added *outside* the square root;
    ``lr_decay``, ``initial_accumulator_value`` and ``weight_decay`` are torch's additions (the paper
    has a fixed step size and a zero start).

    Like torch, the state exists from construction on (``step`` 0, ``sum`` = G₀), not only after the
    first step, so a checkpoint taken before training matches torch's. Also like torch, G₀ comes from
    the constructor's ``initial_accumulator_value``: a different value set in a param group is ignored.

    State keys: ``step`` (float32 scalar tensor), ``sum``.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        check_non_negative("lr", lr)
        check_non_negative("lr_decay", lr_decay)
        check_non_negative("weight_decay", weight_decay)
        check_non_negative("initial_accumulator_value", initial_accumulator_value)
        check_non_negative("eps", eps)
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:  # eager, as torch does (see the class docstring)
            for param in group["params"]:
                self.state[param] = self.init_state(param, group)

    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        # torch reads G₀ from the constructor's defaults, never from the group.
        return adagrad_init(param, initial_accumulator_value=self.defaults["initial_accumulator_value"])

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        adagrad_update(
            param, grad, state, lr=group["lr"], lr_decay=group["lr_decay"],
            weight_decay=group["weight_decay"], eps=group["eps"],
        )
