"""Data-parallel training of the course's digits MLP, runnable in one process, under ``launch`` or ``torchrun``.

Data parallelism is the four steps of ``fit`` with one more between backward and update:

    1. forward    on this rank's shard of the global batch (B / N examples)
    2. loss       the mean over the shard
    3. backward   this rank's gradient
    3½. average   all-reduce the gradients and divide by N: every rank now holds the gradient of the
                  whole batch's mean loss
    4. update     the same update on every rank, so the replicas stay identical

``strategy`` picks who does step 3½ and who keeps the optimizer state:

- ``"single"``: no process group; the whole global batch in one process (the reference).
- ``"allreduce"``: step 3½ written out with ``dist.all_reduce`` (:func:`average_gradients`).
- ``"ddp"``: ``DistributedDataParallel`` does it, overlapped with backward, in buckets.
- ``"zero"``: DDP + ``ZeroRedundancyOptimizer``: each rank keeps the optimizer state of only its shard
  of the parameters, updates those, and broadcasts them to the other ranks.

Every function here is importable by name, which spawned processes need (see :mod:`.launch`).

Taught in: notebooks/15_many_processes.ipynb.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.functional import cross_entropy
from torch.nn.parallel import DistributedDataParallel

from optimlab.data.digits import load_digits_split
from optimlab.models import mlp
from optimlab.optim import OPTIMIZERS
from optimlab.optim.lars import layer_adaptation_groups
from optimlab.validation import check_choice, check_int, invalid

STRATEGIES = ("single", "allreduce", "ddp", "zero")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def zero_redundancy_optimizer() -> Any:
    """``torch.distributed.optim.ZeroRedundancyOptimizer``, imported on first use.

    Importing ``torch.distributed.optim`` compiles torch's functional optimizers with ``torch.jit.script``, which
    takes a second and warns that TorchScript is deprecated (torch's own code, nothing to act on here).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
        from torch.distributed.optim import ZeroRedundancyOptimizer
    return ZeroRedundancyOptimizer


def rank_and_world_size() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def average_gradients(model: nn.Module) -> None:
    """Step 3½ by hand: g ← (1/N) Σᵣ gᵣ on every rank (one all-reduce per parameter)."""
    _, world_size = rank_and_world_size()
    for param in model.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)  # Σᵣ gᵣ, the same on every rank
            param.grad.div_(world_size)  # the mean: the gradient of the global batch's mean loss


def optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    """Ours by registry name (``"adam"``), torch's with a prefix (``"torch.Adam"``)."""
    if name.startswith("torch."):
        cls = getattr(torch.optim, name.removeprefix("torch."), None)
        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            raise invalid("optimizer", name, "'torch.<Name>' naming a class of torch.optim, e.g. 'torch.Adam'")
        return cls
    return OPTIMIZERS[check_choice("optimizer", name, [*OPTIMIZERS, "torch.<Name>"])]


def optimizer_state_bytes(optimizer: Any) -> int:
    """Bytes of every tensor in the optimizer state held by *this* process (for ZeRO: its shard only)."""
    sharded = "torch.distributed.optim" in sys.modules and isinstance(optimizer, zero_redundancy_optimizer())
    local = optimizer.optim if sharded else optimizer  # ZeRO keeps its shard's state in a local optimizer
    return sum(value.numel() * value.element_size() for state in local.state.values()
               for value in state.values() if isinstance(value, Tensor))


def global_batch_indices(num_examples: int, batch_size: int, step: int, seed: int) -> Tensor:
    """The example indices of global batch ``step``: epoch e is a permutation drawn from ``(seed, e)``."""
    per_epoch = num_examples // batch_size
    epoch, position = divmod(step, per_epoch)
    order = torch.randperm(num_examples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return order[position * batch_size:(position + 1) * batch_size]


def _build_optimizer(params: list[dict[str, Any]], name: str, hyperparameters: dict[str, Any],
                     strategy: str) -> torch.optim.Optimizer:
    cls = optimizer_class(name)
    if strategy == "zero":
        return zero_redundancy_optimizer()(params, optimizer_class=cls, **hyperparameters)
    return cls(params, **hyperparameters)


def train_data_parallel(
    *,
    optimizer: str = "adam",
    hyperparameters: dict[str, Any] | None = None,
    strategy: str = "ddp",
    steps: int = 5,
    batch_size: int = 64,
    accumulation_steps: int = 1,
    hidden: tuple[int, ...] = (32,),
    seed: int = 0,
    data_seed: int | None = None,
    dtype: str = "float64",
    layer_adaptation: bool = False,
    start_from: dict[str, Any] | None = None,
    checkpoint: bool = False,
) -> dict[str, Any]:
    """Train the digits MLP for ``steps`` updates of a global batch of ``batch_size``; return what a test needs.

    Each of the N ranks takes its contiguous slice of B/N examples of each global batch and splits it
    again into ``accumulation_steps`` micro-batches (gradients summed, each loss divided by their count).
    ``data_seed=None`` gives every rank the same sequence of global batches; an int gives rank r its own
    order from ``data_seed + r`` (different data per rank: the replicas must still agree).
    ``start_from`` (a returned ``checkpoint``) resumes a run, data order included. ``layer_adaptation=True``
    builds LARS/LAMB's two groups (:func:`~optimlab.optim.lars.layer_adaptation_groups`).

    Returns ``params`` (name → tensor), ``losses`` (this rank's), ``state_bytes`` and ``param_bytes`` of this
    rank, ``rank``, ``world_size``, ``pid``, and, with ``checkpoint=True``, ``checkpoint`` (on rank 0):
    the model's and the *whole* optimizer's state dicts, consolidated from all ranks under ZeRO.

    Taught in: notebooks/15_many_processes.ipynb.
    """
    check_choice("strategy", strategy, STRATEGIES)
    check_int("steps", steps, low=1)
    check_int("accumulation_steps", accumulation_steps, low=1)
    rank, world_size = rank_and_world_size()
    grouped = dist.is_available() and dist.is_initialized()
    if (strategy == "single" and world_size > 1) or (strategy != "single" and not grouped):
        raise invalid("strategy", strategy, "'single' without a process group, and a data-parallel strategy "
                      f"inside one (launch or torchrun); here world_size={world_size}, process group: {grouped}")
    if batch_size % (world_size * accumulation_steps):
        raise invalid("batch_size", batch_size, f"a multiple of world_size × accumulation_steps = "
                      f"{world_size * accumulation_steps}, so every rank and micro-batch gets equal shares")
    data = load_digits_split(seed=seed, standardize=True, dtype=DTYPES[check_choice("dtype", dtype, DTYPES)])
    model = mlp(64, hidden, 10, seed=seed).to(DTYPES[dtype])
    params = layer_adaptation_groups(model, (hyperparameters or {}).get("weight_decay", 0.0)) if layer_adaptation \
        else [{"params": list(model.parameters())}]
    opt = _build_optimizer(params, optimizer, dict(hyperparameters or {}), strategy)
    start_step = 0
    if start_from is not None:
        model.load_state_dict(start_from["model"])
        opt.load_state_dict(start_from["optimizer"])
        start_step = start_from["step"]
    net: nn.Module = DistributedDataParallel(model) if strategy in ("ddp", "zero") and world_size > 1 else model
    shard, micro = batch_size // world_size, batch_size // world_size // accumulation_steps
    own_order = data_seed is not None
    losses = []
    for step in range(start_step, start_step + steps):
        index = global_batch_indices(len(data.y_train), shard if own_order else batch_size, step,
                                     seed if data_seed is None else data_seed + rank)
        mine = index if own_order else index[rank * shard:(rank + 1) * shard]  # this rank's B/N examples
        opt.zero_grad()
        for k in range(accumulation_steps):
            part = mine[k * micro:(k + 1) * micro]
            loss = cross_entropy(net(data.X_train[part]), data.y_train[part]) / accumulation_steps  # 1, 2
            if isinstance(net, DistributedDataParallel) and k < accumulation_steps - 1:
                with net.no_sync():  # DDP averages only on the last micro-batch's backward
                    loss.backward()
            else:
                loss.backward()  # 3 (and, under DDP, 3½ on the last micro-batch)
            losses.append(loss.item() * accumulation_steps)
        if strategy == "allreduce":
            average_gradients(model)  # 3½
        opt.step()  # 4
    result: dict[str, Any] = {
        "rank": rank, "world_size": world_size, "pid": os.getpid(), "losses": losses,
        "params": {name: p.detach().clone() for name, p in model.named_parameters()},
        "state_bytes": optimizer_state_bytes(opt),
        "param_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
    }
    if checkpoint:
        if isinstance(opt, zero_redundancy_optimizer()):
            opt.consolidate_state_dict(to=0)  # every rank sends its shard of the state to rank 0
        if rank == 0:
            result["checkpoint"] = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                    "step": start_step + steps}
    return result


def train_many(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``train_data_parallel(**run)`` for each run, in one launch (process start-up costs seconds).

    Taught in: notebooks/15_many_processes.ipynb.
    """
    if not isinstance(runs, list) or not all(isinstance(run, dict) for run in runs):
        raise invalid("runs", runs, "a list of dicts of train_data_parallel's keyword arguments")
    return [train_data_parallel(**run) for run in runs]
