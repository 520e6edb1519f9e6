"""Memory per rank: what the optimizer state costs, and what ZeRO's sharding saves (a calculation).

Training a model in 32-bit floats keeps, per parameter: the weight (4 bytes), its gradient (4 bytes) and
the optimizer state (SGD: 0; momentum: one buffer, 4; Adam: two moments, 8). Plain data parallelism
replicates all three on every rank. ZeRO stage 1 (``ZeroRedundancyOptimizer``) shards the optimizer state
over the N ranks, so each keeps 1/N of it:

    per rank, replicated:  P · (w + g + s)          per rank, ZeRO-1:  P · (w + g + s / N)

ZeRO stages 2 and 3 (Rajbhandari et al., 2020) also shard the gradients and then the weights; torch's
``FullyShardedDataParallel`` implements those and is not needed on a CPU course.

Taught in: notebooks/15_many_processes.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from optimlab.validation import check_int, check_non_negative, invalid

FLOAT32_BYTES = 4


def state_bytes_per_parameter(optimizer: torch.optim.Optimizer) -> float:
    """Measured: bytes of optimizer state per parameter, after the optimizer has taken one step.

    Scalars such as Adam's ``step`` counter (one per tensor, not per parameter) are left out; a stateless
    optimizer (plain SGD) gives 0. State is created lazily, so measure after a step.

    Taught in: notebooks/15_many_processes.ipynb.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not params:
        raise invalid("optimizer", type(optimizer).__name__, "an optimizer with parameters")
    count = sum(p.numel() for p in params)
    state_bytes = sum(v.numel() * v.element_size() for s in optimizer.state.values() for v in s.values()
                      if isinstance(v, torch.Tensor) and v.dim() > 0)
    return state_bytes / count


def bytes_per_rank(num_parameters: int, state_bytes: float, world_size: int, *, sharded: bool,
                   weight_bytes: int = FLOAT32_BYTES, grad_bytes: int = FLOAT32_BYTES) -> float:
    """P · (w + g + s), or P · (w + g + s/N) with the state sharded (ZeRO-1); see the module docstring.

    >>> bytes_per_rank(1000, 8, 4, sharded=False), bytes_per_rank(1000, 8, 4, sharded=True)
    (16000, 10000.0)

    Taught in: notebooks/15_many_processes.ipynb.
    """
    check_int("num_parameters", num_parameters, low=1)
    check_non_negative("state_bytes", state_bytes)
    check_int("world_size", world_size, low=1)
    state = state_bytes / world_size if sharded else state_bytes
    return num_parameters * (weight_bytes + grad_bytes + state)


def memory_table(num_parameters: int, state_bytes: dict[str, float],
                 world_sizes: Sequence[int]) -> list[dict[str, Any]]:
    """One row per (optimizer, N): GiB per rank replicated and with ZeRO-1 (computed, not measured).

    Taught in: notebooks/15_many_processes.ipynb.
    """
    gib = 2**30
    return [{"optimizer": name, "state bytes/param": s, "N": n,
             "DDP GiB/rank": bytes_per_rank(num_parameters, s, n, sharded=False) / gib,
             "ZeRO-1 GiB/rank": bytes_per_rank(num_parameters, s, n, sharded=True) / gib}
            for name, s in state_bytes.items() for n in world_sizes]
