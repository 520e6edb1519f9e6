"""The same optimizers under ``torch.distributed``, on one CPU machine: launcher, data parallelism, ZeRO.

- :mod:`.launch`        ``launch(fn, world_size, kwargs)``: N processes over gloo on 127.0.0.1, results by rank
- :mod:`.training`      the digits MLP trained single-process, with a hand-written all-reduce, DDP or ZeRO
- :mod:`.memory`        bytes per parameter and the per-rank memory of DDP vs ZeRO, multiplied out
- :mod:`.scaling`       the large-batch learning-rate rules (linear, square root)
- :mod:`.train_script`  the command line, under torchrun or not: ``-m optimlab.distributed.train_script``

Importing this package starts no process and opens no socket.

Taught in: notebooks/15_many_processes.ipynb.
"""

from optimlab.distributed.launch import LaunchTimeout, RankError, launch
from optimlab.distributed.training import (
    average_gradients,
    optimizer_state_bytes,
    rank_and_world_size,
    train_data_parallel,
    train_many,
)

__all__ = [
    "LaunchTimeout", "RankError", "average_gradients", "launch", "optimizer_state_bytes", "rank_and_world_size",
    "train_data_parallel", "train_many",
]
