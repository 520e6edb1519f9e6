"""Optimizer memory, measured: the bytes of state an optimizer keeps per parameter.

SGD keeps nothing, SGD with momentum one buffer (4 bytes per float32 parameter), Adam two moments (8 bytes),
AMSGrad three (12), Lion one, Adafactor a row and a column per matrix (far less than one per parameter).
These functions read the numbers from the state itself, for any ``torch.optim.Optimizer`` (the course's or
torch's), so a table of them is measured, not typed. State is created lazily: measure after one ``step()``.

Counted: every tensor in the state with at least one dimension, once per storage (two views of one buffer
count once), at its own dtype's size (float64 state is twice float32's; complex64 counts 8 bytes an element).
Not counted by default: 0-dim tensors such as ``step`` and NAdam's ``mu_product``. They are per-tensor
bookkeeping (4 bytes per *tensor*, not per parameter): on a model with millions of parameters they are
invisible, while on a toy model they would dominate. Pass ``count_scalars=True`` to include them. Non-tensor
values (a Python step counter) are never counted. A wrapper that keeps its inner optimizer as ``.optimizer``
(Lookahead) is measured with its inner optimizer's state included.

Taught in: notebooks/13_modern_optimizers.ipynb.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor


def _state_tensors(optimizer: torch.optim.Optimizer) -> Iterator[Tensor]:
    inner = getattr(optimizer, "optimizer", None)
    if isinstance(inner, torch.optim.Optimizer) and inner is not optimizer:
        yield from _state_tensors(inner)
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, Tensor):
                yield value


def _storages(tensor: Tensor) -> list[tuple[tuple[str, int], int]]:
    """(identity, bytes) of the memory a tensor holds; a sparse tensor holds its indices and values."""
    if tensor.is_sparse:
        return _storages(tensor._indices()) + _storages(tensor._values())
    storage = tensor.untyped_storage()
    return [((str(tensor.device), storage.data_ptr()), storage.nbytes())]


def state_bytes(optimizer: torch.optim.Optimizer, *, count_scalars: bool = False) -> int:
    """Total bytes of the optimizer's state tensors (see the module for what counts)."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    seen: dict[tuple[str, int], int] = {}
    for tensor in _state_tensors(optimizer):
        if tensor.ndim == 0 and not count_scalars:
            continue
        for identity, nbytes in _storages(tensor):
            seen[identity] = max(nbytes, seen.get(identity, 0))
    return sum(seen.values())


def parameter_count(optimizer: torch.optim.Optimizer) -> int:
    """How many scalar parameters the optimizer trains (each tensor once, however many groups list it)."""
    unique = {id(p): p for group in optimizer.param_groups for p in group["params"]}
    return sum(p.numel() for p in unique.values())


def state_bytes_per_parameter(optimizer: torch.optim.Optimizer, *, count_scalars: bool = False) -> float:
    """Bytes of optimizer state per trained parameter, e.g. 8.0 for Adam on float32 parameters.

    Measure after at least one ``step()``: before it, lazily created state does not exist yet.
    """
    count = parameter_count(optimizer)
    if count == 0:
        raise ValueError("optimizer=<no parameters> is invalid: expected an optimizer with at least one parameter")
    return state_bytes(optimizer, count_scalars=count_scalars) / count


__all__ = ["parameter_count", "state_bytes", "state_bytes_per_parameter"]
