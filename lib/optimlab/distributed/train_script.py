"""Command-line entry point: the notebook's data-parallel training, under ``torchrun`` or the course's launcher.

On a cluster (or here), ``torchrun`` starts the processes and sets ``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``; this script joins the group and calls the same
:func:`~optimlab.distributed.training.train_data_parallel` the notebook launches::

    torchrun --nproc-per-node 2 --master-addr 127.0.0.1 --master-port 29500 \\
        -m optimlab.distributed.train_script --optimizer adam --strategy zero --steps 20

    # several machines: the same command on each, with --nnodes, --node-rank and the first one's address

Without ``torchrun`` it starts the processes itself with :func:`~optimlab.distributed.launch.launch`::

    python -m optimlab.distributed.train_script --nproc 2 --optimizer lamb --strategy ddp

Rank 0 prints one JSON line: the final losses, each rank's optimizer state bytes and the parameters' sum.

Taught in: notebooks/15_many_processes.ipynb.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist

from optimlab.distributed.launch import launch
from optimlab.distributed.training import STRATEGIES, train_data_parallel


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; ``--lr`` etc. become the optimizer's hyperparameters."""
    parser = argparse.ArgumentParser(prog="python -m optimlab.distributed.train_script", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, default=2, help="processes to start when not under torchrun")
    parser.add_argument("--optimizer", default="adam", help="a registered name ('adam', 'lamb') or 'torch.Adam'")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--momentum", type=float, default=None, help="for SGD-like optimizers")
    parser.add_argument("--strategy", choices=[s for s in STRATEGIES if s != "single"], default="ddp")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch, split over the processes")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _kwargs(args: argparse.Namespace) -> dict[str, Any]:
    hyperparameters: dict[str, Any] = {"lr": args.lr}
    if args.momentum is not None:
        hyperparameters["momentum"] = args.momentum
    return dict(optimizer=args.optimizer, hyperparameters=hyperparameters, strategy=args.strategy,
                steps=args.steps, batch_size=args.batch_size, seed=args.seed, dtype="float32")


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """What rank 0 prints: losses of rank 0, state bytes per rank, and a checksum of the parameters."""
    return {"world_size": len(results), "first_loss": results[0]["losses"][0], "last_loss": results[0]["losses"][-1],
            "state_bytes_per_rank": [r["state_bytes"] for r in results],
            "param_sum": float(sum(p.sum() for p in results[0]["params"].values()))}


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Run under torchrun (``RANK`` set) or launch ``--nproc`` processes; rank 0 prints and returns the summary."""
    args = parse_args(argv)
    if "RANK" not in os.environ:
        result = summary(launch(train_data_parallel, args.nproc, _kwargs(args)))
        print(json.dumps(result))
        return result
    torch.set_num_threads(1)
    dist.init_process_group("gloo")  # env:// — torchrun has set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
    try:
        mine = train_data_parallel(**_kwargs(args))
        everyone: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, {k: mine[k] for k in ("losses", "state_bytes", "params")})
        if dist.get_rank() == 0:
            result = summary(everyone)
            print(json.dumps(result))
            return result
        return None
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
