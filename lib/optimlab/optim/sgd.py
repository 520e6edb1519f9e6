"""Stochastic gradient descent, with heavy-ball or Nesterov momentum, dampening and weight decay.

Taught in: notebooks/03_optimizer_anatomy.ipynb, notebooks/04_sgd_momentum_nesterov.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from optimlab.optim.base import Optimizer, apply_weight_decay
from optimlab.validation import invalid


def sgd_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> None:
    """One SGD step on ``param`` in place; ``state`` holds ``momentum_buffer`` once momentum is used.

    ``grad`` may be sparse (``nn.Embedding(sparse=True)``), as torch allows; the buffer is then sparse too.
    """
    grad = apply_weight_decay(param, grad, lr=lr, weight_decay=weight_decay, decoupled=False)  # g ← g + λθ
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = grad.clone()  # b₁ = g₁  (no dampening on the first step)
        else:
            buf.mul_(momentum).add_(grad, alpha=1 - dampening)  # bₜ = μ bₜ₋₁ + (1 − τ) gₜ
        grad = grad.add(buf, alpha=momentum) if nesterov else buf  # Nesterov: g + μ bₜ; heavy ball: bₜ
    # torch's own arithmetic, bit for bit (lr-finder and notebook checks compare exactly); a tensor γ is read as a
    # number here, as torch's SGD reads it.
    param.add_(grad, alpha=-lr)  # type: ignore[arg-type]  # θₜ = θₜ₋₁ − γ g


class SGD(Optimizer):
    r"""SGD as ``torch.optim.SGD`` computes it.

    .. math::
        g_t &= \nabla f(\theta_{t-1}) + \lambda \theta_{t-1} \\
        b_t &= \mu b_{t-1} + (1 - \tau) g_t \quad (b_1 = g_1) \\
        \theta_t &= \theta_{t-1} - \gamma\, (g_t + \mu b_t \text{ if nesterov else } b_t)

    ============  ==================  ========================================
    symbol        argument            meaning
    ============  ==================  ========================================
    :math:`γ`     ``lr``              learning rate
    :math:`μ`     ``momentum``        momentum factor (0: plain SGD)
    :math:`τ`     ``dampening``       dampening of the new gradient
    :math:`λ`     ``weight_decay``    L2 penalty added to the gradient
    ============  ==================  ========================================

    ``nesterov=True`` uses Nesterov's look-ahead; ``maximize=True`` ascends. ``lr`` may be a 0-dim tensor;
    gradients may be sparse (without weight decay, as in torch); a complex parameter is optimized as its
    real and imaginary parts.

    Differences from the papers: Polyak (1964) and Sutskever et al. (2013) write the velocity as
    :math:`v_t = μ v_{t-1} - γ g_t` with the learning rate inside the buffer; torch keeps γ outside,
    so changing ``lr`` mid-training does not rescale the accumulated velocity. The first buffer is the
    raw gradient (no dampening). Nesterov here is the reformulation of Sutskever et al., evaluated at
    the current parameters rather than at a look-ahead point.

    State key: ``momentum_buffer`` (absent until the first step with momentum).
    """

    supports_sparse_gradients = True
    compilable = True  # compiled=True / fused=True: this update under torch.compile

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize,
        )
        super().__init__(params, defaults, **implementation)

    def check_hyperparameters(self, values: Mapping[str, Any]) -> None:
        super().check_hyperparameters(values)
        if values.get("nesterov") and values.get("momentum", 0) <= 0:
            raise invalid("nesterov", values["nesterov"], "False when momentum=0 (Nesterov needs momentum > 0)")
        if values.get("nesterov") and values.get("dampening", 0) != 0:
            raise invalid("nesterov", values["nesterov"], "False when dampening != 0 (Nesterov needs dampening=0)")

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        sgd_update(
            param, grad, state, lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
            weight_decay=group["weight_decay"], nesterov=group["nesterov"],
        )
