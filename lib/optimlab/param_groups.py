"""Parameter groups: different hyperparameters for different parts of one model, in torch's format.

Every helper here is a pure function that returns torch's list of dicts, ready for any optimizer::

    [{"params": [...], "lr": 1e-4, "name": "backbone"}, {"params": [...], "lr": 1e-2, "name": "head"}]

The ``name`` key is ours: torch keeps extra keys in a group untouched, and it makes plots and reports
readable. Every helper checks that each trainable parameter lands in exactly one group, and checks the
hyperparameters it writes with the rules every optimizer shares (``lr=-1.0`` fails here, not mid-training).

Taught in: notebooks/07_parameter_groups.ipynb (also used in 10 and 11).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from optimlab.optim.base import check_common_hyperparameters
from optimlab.validation import check_int, check_non_negative, check_positive, invalid


def decay_groups(model: nn.Module, weight_decay: float, **hyperparameters: Any) -> list[dict[str, Any]]:
    """Two groups: matrices and kernels decay; biases and normalisation weights do not.

    The rule is nanoGPT's: a parameter with 2 or more dimensions (a weight matrix, a conv kernel, an
    embedding) decays; 1-D ones (biases, LayerNorm/BatchNorm scales and shifts) do not, because shrinking
    a bias or a norm's scale toward zero regularises nothing useful and can hurt.
    """
    check_non_negative("weight_decay", weight_decay)
    check_common_hyperparameters(hyperparameters)
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]
    return [
        {"params": decay, "weight_decay": weight_decay, "name": "decay", **hyperparameters},
        {"params": no_decay, "weight_decay": 0.0, "name": "no_decay", **hyperparameters},
    ]


def geometric_rates(lowest: float, highest: float, count: int) -> list[float]:
    """``count`` rates spread geometrically from ``lowest`` (first) to ``highest`` (last).

    rateᵢ = lowest · (highest / lowest)^(i / (count − 1)), so neighbouring groups differ by one constant
    factor (fastai's discriminative learning rates, ULMFiT's "slanted" layers).
    """
    check_positive("lowest", lowest)
    check_positive("highest", highest)
    check_int("count", count, low=1)
    if count == 1:
        return [highest]
    return [lowest * (highest / lowest) ** (i / (count - 1)) for i in range(count)]


def layerwise_groups(
    layers: Sequence[nn.Module] | dict[str, nn.Module], lowest_lr: float, highest_lr: float, **hyperparameters: Any
) -> list[dict[str, Any]]:
    """One group per layer (first = input side), learning rates geometric from ``lowest_lr`` to ``highest_lr``.

    ``layers`` is a list of modules or a dict ``name -> module``; layers without trainable parameters
    (ReLU, pooling) are skipped before the rates are spread.
    """
    check_common_hyperparameters(hyperparameters)
    named = layers.items() if isinstance(layers, dict) else ((str(i), m) for i, m in enumerate(layers))
    with_params = [(name, _trainable(module)) for name, module in named]
    with_params = [(name, params) for name, params in with_params if params]
    if not with_params:
        raise invalid("layers", layers, "modules with at least one trainable parameter")
    rates = geometric_rates(lowest_lr, highest_lr, len(with_params))
    groups = [{"params": params, "lr": lr, "name": name, **hyperparameters}
              for (name, params), lr in zip(with_params, rates)]
    _check_disjoint(groups)
    return groups


def describe_groups(groups: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per group: its name, how many tensors and scalar parameters it holds, and its settings."""
    rows = []
    for index, group in enumerate(groups):
        settings = {k: v for k, v in group.items() if k not in ("params", "name")}
        rows.append({
            "group": group.get("name", str(index)),
            "tensors": len(group["params"]),
            "parameters": sum(p.numel() for p in group["params"]),
            **settings,
        })
    return rows


def check_partition(model: nn.Module, groups: Sequence[dict[str, Any]]) -> None:
    """Raise ``ValueError`` unless every trainable parameter of ``model`` is in exactly one group."""
    _check_disjoint(groups)
    grouped = {id(p) for group in groups for p in group["params"]}
    missing = [name for name, p in model.named_parameters() if p.requires_grad and id(p) not in grouped]
    if missing:
        raise invalid("groups", [g.get("name", i) for i, g in enumerate(groups)],
                      f"groups covering every trainable parameter (missing: {missing})")


def _check_disjoint(groups: Sequence[dict[str, Any]]) -> None:
    seen: dict[int, Any] = {}
    for index, group in enumerate(groups):
        for param in group["params"]:
            if id(param) in seen:
                raise invalid("groups", group.get("name", index),
                              f"disjoint groups (a parameter is also in group {seen[id(param)]!r})")
            seen[id(param)] = group.get("name", index)


def _trainable(module: nn.Module) -> list[Tensor]:
    return [p for p in module.parameters() if p.requires_grad]


def backbone_head_groups(model: nn.Module, backbone_lr: float, head_lr: float, **extra: Any) -> list[dict[str, Any]]:
    """Two groups: ``model.features`` (the backbone) at ``backbone_lr``, ``model.classifier`` (the head) at ``head_lr``.

    ``extra`` (momentum, weight_decay, ...) goes into both groups. Every parameter of the model lands
    in exactly one group, frozen ones included (a parameter without a gradient is skipped by the step);
    a model with parameters outside ``features`` and ``classifier`` is refused rather than half-trained.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    check_non_negative("backbone_lr", backbone_lr)
    check_non_negative("head_lr", head_lr)
    check_common_hyperparameters(extra)
    backbone, head = model.features, model.classifier
    if not isinstance(backbone, nn.Module) or not isinstance(head, nn.Module):
        raise invalid("model", type(model).__name__, "a model with .features and .classifier sub-modules")
    groups = [
        {"params": list(backbone.parameters()), "lr": backbone_lr, "name": "backbone", **extra},
        {"params": list(head.parameters()), "lr": head_lr, "name": "head", **extra},
    ]
    grouped = {id(p) for group in groups for p in group["params"]}
    if len(grouped) != sum(len(group["params"]) for group in groups) or grouped != {id(p) for p in model.parameters()}:
        raise invalid("model", type(model).__name__, "a model whose parameters all sit in .features or .classifier")
    return groups
