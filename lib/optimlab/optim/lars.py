"""LARS: layer-wise adaptive rate scaling for SGD with momentum (You, Gitman & Ginsburg, 2017).

Each layer (each parameter tensor) gets a *local* learning rate, the trust ratio
λ = η‖w‖ / (‖g‖ + β‖w‖), so every layer moves by about the same *fraction* of its own norm per step,
whatever the size of its gradient. This is what let ImageNet train with batches of 8k-32k.

Which tensors are adapted is a per-group flag, ``layer_adaptation`` (default ``True``).
:func:`layer_adaptation_groups` builds the usual split: matrices and kernels are adapted and decayed;
biases and normalisation scales/shifts (every tensor with fewer than 2 dimensions) take the plain
momentum step with no weight decay, as the papers' published training code does (MLPerf's LARS
reference, LAMB's ``exclude_from_layer_adaptation``). LAMB uses the same flag and helper.

Taught in: notebooks/15_many_processes.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from optimlab.optim.base import Optimizer
from optimlab.validation import check_bool, check_fraction, check_non_negative, check_positive


def layer_adaptation_groups(model: nn.Module, weight_decay: float, **hyperparameters: Any) -> list[dict[str, Any]]:
    """Two param groups for LARS/LAMB: tensors with ≥ 2 dimensions are adapted and decayed, the rest are not.

    Returns torch's list-of-dicts format; ``hyperparameters`` (``lr``, ...) go into both groups.

    Taught in: notebooks/15_many_processes.ipynb.
    """
    check_non_negative("weight_decay", weight_decay)
    trainable = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": weight_decay,
         "layer_adaptation": True, "name": "adapted", **hyperparameters},
        {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0,
         "layer_adaptation": False, "name": "not_adapted", **hyperparameters},
    ]


def safe_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """numerator / denominator, or 1 where either norm is 0 (a zero layer or a zero gradient is not rescaled)."""
    usable = (numerator > 0) & (denominator > 0)
    return torch.where(usable, numerator / torch.where(usable, denominator, 1.0), 1.0)


def lars_trust_ratio(param: Tensor, grad: Tensor, *, weight_decay: float = 0.0,
                     trust_coefficient: float = 0.001) -> Tensor:
    """LARS's local learning rate λ = η‖w‖ / (‖g‖ + β‖w‖) for one tensor (1 where ‖w‖ or ‖g‖ is 0).

    Taught in: notebooks/15_many_processes.ipynb.
    """
    w_norm, g_norm = torch.linalg.vector_norm(param), torch.linalg.vector_norm(grad)
    return safe_ratio(trust_coefficient * w_norm, g_norm + weight_decay * w_norm)  # λ = η‖w‖/(‖g‖ + β‖w‖)


def lars_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    trust_coefficient: float = 0.001,
    layer_adaptation: bool = True,
) -> None:
    """One LARS step on ``param`` in place; ``state`` gets ``momentum_buffer`` and ``trust_ratio``."""
    direction = grad.add(param, alpha=weight_decay)  # g + βw
    if layer_adaptation:
        local_lr = lars_trust_ratio(param, grad, weight_decay=weight_decay, trust_coefficient=trust_coefficient)
        state["trust_ratio"] = local_lr
        direction.mul_(local_lr)  # λ (g + βw)
    if momentum == 0:
        param.add_(direction, alpha=-lr)  # w ← w − γ λ (g + βw)
        return
    if "momentum_buffer" not in state:
        state["momentum_buffer"] = torch.zeros_like(param, memory_format=torch.preserve_format)  # v₀ = 0
    v = state["momentum_buffer"]
    v.mul_(momentum).add_(direction, alpha=lr)  # v ← m v + γ λ (g + βw)
    param.sub_(v)  # w ← w − v


class LARS(Optimizer):
    r"""LARS (You, Gitman & Ginsburg, 2017, Algorithm 1), one update per parameter tensor ("layer").

    .. math::
        λ^l &= η\, \frac{\lVert w^l \rVert}{\lVert g^l \rVert + β \lVert w^l \rVert} \\
        v^l &← m\, v^l + γ\, λ^l (g^l + β w^l) \qquad w^l ← w^l - v^l

    ==========  =======================  ================================================
    symbol      argument                 meaning
    ==========  =======================  ================================================
    γ           ``lr``                   global learning rate (the paper decays it as γ₀(1 − t/T)²:
                                         use a scheduler)
    m           ``momentum``             momentum factor
    β           ``weight_decay``         L2 weight decay, inside the trust ratio and the step
    η           ``trust_coefficient``    LARS coefficient: how far one step may move a layer, relative
                                         to its norm (the paper: 0.001)
    ==========  =======================  ================================================

    Per group, ``layer_adaptation=False`` sets λ = 1 (a plain momentum step): see
    :func:`layer_adaptation_groups` for the split the papers' code uses (no adaptation or decay for biases
    and norms). The last λ of each adapted tensor is kept in ``state["trust_ratio"]`` for plotting.

    Differences from the paper: where ‖w‖ or ‖g‖ is 0, λ = 1 (the paper leaves it undefined; a
    zero-initialised layer would otherwise never move). γ sits inside the momentum buffer as in the
    paper, unlike ``torch.optim.SGD`` (and timm's LARS), which multiply the buffer by γ: the two agree
    while γ is constant and differ when a schedule changes it.

    State keys: ``momentum_buffer`` (when momentum ≠ 0), ``trust_ratio`` (adapted tensors).

    Taught in: notebooks/15_many_processes.ipynb.
    """

    rules = {**Optimizer.rules, "momentum": check_fraction, "trust_coefficient": check_positive,
             "layer_adaptation": check_bool}

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,
        *,
        layer_adaptation: bool = True,
        **implementation: Any,
    ) -> None:
        check_non_negative("lr", lr)  # a number: lr multiplies inside the momentum buffer
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient,
                        layer_adaptation=layer_adaptation)
        super().__init__(params, defaults, **implementation)  # checks every value with ``rules``, every group too

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lars_update(param, grad, state, lr=float(group["lr"]), momentum=group["momentum"],
                    weight_decay=group["weight_decay"], trust_coefficient=group["trust_coefficient"],
                    layer_adaptation=group["layer_adaptation"])


def trust_ratios(optimizer: torch.optim.Optimizer, names: dict[Tensor, str] | None = None) -> dict[str, float]:
    """The last trust ratio of every adapted tensor of a LARS/LAMB optimizer, by name (or by position).

    ``names`` maps parameters to labels, e.g. ``{p: n for n, p in model.named_parameters()}``; without it a
    tensor is labelled by its position among the optimizer's parameters (groups in order).

    Taught in: notebooks/15_many_processes.ipynb.
    """
    ratios = {}
    params = [param for group in optimizer.param_groups for param in group["params"]]
    for index, param in enumerate(params):
        if "trust_ratio" in optimizer.state.get(param, {}):
            label = names[param] if names is not None and param in names else str(index)
            ratios[label] = float(optimizer.state[param]["trust_ratio"])
    return ratios
