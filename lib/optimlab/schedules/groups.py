"""Param-group plumbing shared by the schedulers: one value per group, and reading or writing a
hyperparameter by name (``"lr"``, ``"momentum"``, ``"weight_decay"``, or an item such as ``"betas[0]"``).

Taught in: notebooks/09_schedulers.ipynb.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch

from optimlab.schedules.functions import Schedule
from optimlab.validation import check_number, invalid

_INDEXED = re.compile(r"^(\w+)\[(\d+)\]$")  # "betas[0]" -> ("betas", 0)


def check_optimizer(optimizer: Any) -> torch.optim.Optimizer:
    """The optimizer, if it is a ``torch.optim.Optimizer`` (ours or torch's)."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise invalid("optimizer", type(optimizer).__name__, "a torch.optim.Optimizer (ours or torch's)")
    return optimizer


def check_schedule(name: str, schedule: Any) -> Schedule:
    """The schedule, if it is callable (step -> multiplier)."""
    if not callable(schedule):
        raise invalid(name, schedule, "a callable step -> multiplier")
    return schedule


def one_per_group(name: str, value: Any, count: int, *, check: Callable = check_number) -> list:
    """One value per param group: a single value is repeated; a list must have one item per group.
    A 0-dim Tensor (torch allows ``max_lr=torch.tensor(0.1)``) is read as its number."""
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise invalid(name, value, f"one value or a list of {count}, one per param group")
        return [check(f"{name}[{index}]", _number(item)) for index, item in enumerate(value)]
    return [check(name, _number(value))] * count


def _number(value: Any) -> Any:
    return value.item() if isinstance(value, torch.Tensor) and value.ndim == 0 else value


def _split(hyperparameter: str) -> tuple[str, int | None]:
    match = _INDEXED.match(hyperparameter)
    return (match.group(1), int(match.group(2))) if match else (hyperparameter, None)


def numeric_entries(group: dict[str, Any]) -> list[str]:
    """The keys a scheduler can drive in ``group``: numbers (not bools) and items of number tuples."""
    names = []
    for key, value in sorted(group.items()):
        if key == "params" or key.startswith("initial_"):
            continue
        if isinstance(value, (float, int, torch.Tensor)) and not isinstance(value, bool):
            names.append(key)
        elif isinstance(value, tuple) and all(isinstance(v, (float, int)) and not isinstance(v, bool) for v in value):
            names += [f"{key}[{index}]" for index in range(len(value))]
    return names


def check_hyperparameter(optimizer: torch.optim.Optimizer, hyperparameter: Any) -> str:
    """A numeric entry of every group: ``"lr"``, ``"momentum"``, ... or an item like ``"betas[0]"``."""
    numeric = numeric_entries(optimizer.param_groups[0])
    allowed = "a numeric param-group entry: " + ", ".join(numeric)
    if not isinstance(hyperparameter, str):
        raise invalid("hyperparameter", hyperparameter, allowed)
    key, index = _split(hyperparameter)
    for group in optimizer.param_groups:
        value = group.get(key)
        if index is not None:
            value = value[index] if isinstance(value, (tuple, list)) and index < len(value) else None
        if isinstance(value, bool) or not isinstance(value, (float, int, torch.Tensor)):
            raise invalid("hyperparameter", hyperparameter, allowed)
    return hyperparameter


def read_hyperparameter(group: dict[str, Any], hyperparameter: str) -> float:
    """The value of ``hyperparameter`` in ``group``, as a float (a Tensor lr is read, not kept)."""
    key, index = _split(hyperparameter)
    return float(group[key] if index is None else group[key][index])


def write_hyperparameter(group: dict[str, Any], hyperparameter: str, value: float) -> None:
    """Set ``hyperparameter`` in ``group``: a Tensor in place, a tuple item by a new tuple, else rebind."""
    key, index = _split(hyperparameter)
    if index is not None:  # a tuple such as betas: replace one item, as torch's OneCycleLR does
        group[key] = (*group[key][:index], value, *group[key][index + 1:])
    elif isinstance(group[key], torch.Tensor):  # a tensor lr is updated in place, never re-bound
        group[key].fill_(value)
    else:
        group[key] = value


def initial_key(hyperparameter: str) -> str:
    """Where a group keeps its base value: torch's ``initial_lr``; ``initial_beta1`` for ``betas[0]``."""
    key, index = _split(hyperparameter)
    return f"initial_{key}" if index is None else f"initial_{key.rstrip('s')}{index + 1}"


def group_bases(optimizer: torch.optim.Optimizer, hyperparameter: str, last_epoch: int) -> list[float]:
    """Each group's base value. A fresh scheduler stores the current value (unless one is there
    already, as torch does); one resumed with ``last_epoch >= 0`` needs the stored one."""
    key = initial_key(hyperparameter)
    for group in optimizer.param_groups:
        if last_epoch == -1:  # a Tensor lr keeps a Tensor copy, as torch does
            current = group[key.removeprefix("initial_")] if key == "initial_lr" else None
            group.setdefault(key, current.clone() if isinstance(current, torch.Tensor)
                             else read_hyperparameter(group, hyperparameter))
        elif key not in group:
            raise invalid("last_epoch", last_epoch, f"-1, unless every param group holds {key!r} (from a checkpoint)")
    return [float(group[key]) for group in optimizer.param_groups]
