"""Adagrad: a per-coordinate step that shrinks with the sum of all squared gradients seen so far.

Taught in: notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, apply_weight_decay, count_step, new_step_counter
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
    lr: float | Tensor = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
) -> None:
    """One Adagrad step on ``param`` in place; an empty ``state`` is initialised on the first call.

    ``grad`` may be sparse (``nn.Embedding(sparse=True)``): only the rows it holds are updated, as in torch.
    """
    if not state:
        state.update(adagrad_init(param, initial_accumulator_value=initial_accumulator_value))
    t = count_step(state)
    grad = apply_weight_decay(param, grad, lr=lr, weight_decay=weight_decay, decoupled=False)  # g ← g + λθ
    decayed_lr = lr / (1 + (t - 1) * lr_decay)  # γ̃ₜ = γ / (1 + (t − 1) η)
    sum_of_squares = state["sum"]
    if grad.is_sparse:
        _sparse_adagrad_step(param, grad, sum_of_squares, decayed_lr=decayed_lr, eps=eps)
        return
    sum_of_squares.addcmul_(grad, grad, value=1)  # Gₜ = Gₜ₋₁ + gₜ²
    std = sum_of_squares.sqrt().add_(eps)  # √Gₜ + ε
    param.sub_(decayed_lr * grad / std)  # θₜ = θₜ₋₁ − γ̃ₜ gₜ / (√Gₜ + ε)


def _sparse_adagrad_step(param: Tensor, grad: Tensor, sum_of_squares: Tensor, *, decayed_lr: Any, eps: float) -> None:
    """The same three equations on the entries a sparse gradient holds (torch's sparse branch)."""
    grad = grad.coalesce()  # the update is not linear in g, so each index must appear once
    indices, values = grad._indices(), grad._values()
    sum_of_squares.add_(torch.sparse_coo_tensor(indices, values.pow(2), grad.shape))  # Gₜ = Gₜ₋₁ + gₜ²
    std_values = sum_of_squares.sparse_mask(grad)._values().sqrt_().add_(eps)  # √Gₜ + ε, where g is
    step = torch.sparse_coo_tensor(indices, values / std_values, grad.shape)  # gₜ / (√Gₜ + ε)
    param.sub_(step * decayed_lr)  # θₜ = θₜ₋₁ − γ̃ₜ gₜ / (√Gₜ + ε)


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
    ``maximize=True`` ascends. ``lr`` may be a 0-dim tensor; gradients may be sparse (without weight
    decay, as in torch); a complex parameter is optimized as its real and imaginary parts.

    Differences from the paper (diagonal version, "Adaptive Subgradient Methods for Online Learning
    and Stochastic Optimization", JMLR 2011): ε plays the paper's δ, added *outside* the square root;
    ``lr_decay``, ``initial_accumulator_value`` and ``weight_decay`` are torch's additions (the paper
    has a fixed step size and a zero start).

    Like torch, the state exists from construction on (``step`` 0, ``sum`` = G₀), not only after the
    first step, so a checkpoint taken before training matches torch's. Also like torch, G₀ comes from
    the constructor's ``initial_accumulator_value``: a different value set in a param group is ignored.

    State keys: ``step`` (float32 scalar tensor), ``sum``.
    """

    rules = {
        **Optimizer.rules, "lr_decay": check_non_negative, "initial_accumulator_value": check_non_negative,
        "eps": check_non_negative,
    }
    state_keys = frozenset({"step", "sum"})
    compilable = True  # compiled=True / fused=True: this update under torch.compile
    supports_sparse_gradients = True

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
        )
        super().__init__(params, defaults, **implementation)
        for group in self.param_groups:  # eager, as torch does (see the class docstring)
            for param in group["params"]:
                self.state[param] = self.create_state(param, group)

    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        # torch reads G₀ from the constructor's defaults, never from the group.
        return adagrad_init(param, initial_accumulator_value=self.defaults["initial_accumulator_value"])

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        adagrad_update(
            param, grad, state, lr=group["lr"], lr_decay=group["lr_decay"],
            weight_decay=group["weight_decay"], eps=group["eps"],
        )
