"""Run one training function in N processes on this machine, the way ``torchrun`` would on a cluster.

``launch(fn, world_size, kwargs)`` starts ``world_size`` fresh Python processes (``torch.multiprocessing``
spawn), joins them into one process group over the gloo backend, calls ``fn(**kwargs)`` in each, and
returns what each rank returned, as a list indexed by rank.

- **Only the loopback address.** The rendezvous store listens on a socket this process binds to
  ``127.0.0.1`` on a port the system picks at run time (no port to choose, none to collide with), and
  gloo's own sockets are bound to the loopback interface. Nothing listens on another address.
- **One thread per process** by default: N processes on N cores, not N × N threads fighting over them.
- **Errors come back with their rank.** When ``fn`` raises on any rank, the other ranks are stopped
  (they may be waiting for it inside a collective) and :class:`RankError` is raised here, naming the
  rank, the exception and the worker's traceback.
- **No hang, no orphan.** Past ``timeout`` seconds the processes are stopped and :class:`LaunchTimeout`
  names the ranks that had not finished. Every process is terminated (then killed) and reaped before
  ``launch`` returns or raises; the exceptions carry the processes' ``pids``.

``fn`` must be importable by module path (``optimlab.distributed.training.train_data_parallel``):
spawned processes start from scratch and import it by name, so a function defined in a notebook cell
(module ``__main__``) or inside another function cannot run there.

The same ``fn`` runs unchanged under ``torchrun``; see :mod:`optimlab.distributed.train_script`.

Taught in: notebooks/15_many_processes.ipynb.
"""

from __future__ import annotations

import builtins
import importlib
import os
import pickle
import queue as queue_module
import socket
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from optimlab.validation import check_int, check_positive, invalid

LOOPBACK = "127.0.0.1"


class RankError(RuntimeError):
    """``fn`` raised (or its process died) on one rank; ``rank``, ``error_type`` and ``remote_traceback`` say how."""

    def __init__(self, rank: int, error_type: str, message: str, remote_traceback: str, pids: list[int]) -> None:
        super().__init__(f"rank {rank} raised {error_type}: {message}\n\n--- traceback on rank {rank} ---\n"
                         f"{remote_traceback}")
        self.rank, self.error_type, self.remote_traceback, self.pids = rank, error_type, remote_traceback, pids


class LaunchTimeout(TimeoutError):
    """Some ranks had not finished within the timeout; they were stopped. ``ranks`` lists them."""

    def __init__(self, ranks: list[int], timeout: float, pids: list[int]) -> None:
        super().__init__(f"rank(s) {ranks} had not finished after timeout={timeout} s and were stopped; "
                         "a rank that never reaches a collective (all_reduce, barrier) blocks all the others. "
                         "Raise the timeout if the work is just slow.")
        self.ranks, self.timeout, self.pids = ranks, timeout, pids


def check_importable(fn: Any) -> Callable[..., Any]:
    """``fn`` must be a module-level function that a fresh process can import by name."""
    if not callable(fn):
        raise invalid("fn", fn, "a function")
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    in_notebook = module == "__main__" and hasattr(builtins, "__IPYTHON__")
    found: Callable[..., Any] | None = None
    if module and not in_notebook and "<" not in name:
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            found = None
    if found is not fn:
        raise invalid("fn", fn, "a function defined at the top level of an importable module (spawned processes "
                      "import it by name; a function from a notebook cell, a lambda or a nested function cannot "
                      "be imported): move it into a module, e.g. optimlab/distributed/training.py")
    return found


def _listening_socket() -> socket.socket:
    """A socket bound to 127.0.0.1 on a port the system chooses, already listening."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((LOOPBACK, 0))
    server.listen(128)
    return server


def _worker(rank: int, world_size: int, port: int, fn: Callable[..., Any], kwargs: dict[str, Any],
            results: Any, threads: int, timeout: float) -> None:
    """Body of each spawned process: join the group, run ``fn``, send back ``(rank, ok, payload)``."""
    os.environ.update(MASTER_ADDR=LOOPBACK, MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world_size))
    if "lo" in {name for _, name in socket.if_nameindex()}:
        os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # gloo binds its sockets to the loopback interface
    torch.set_num_threads(threads)
    try:
        store = dist.TCPStore(LOOPBACK, port, world_size, is_master=False, timeout=timedelta(seconds=timeout))
        dist.init_process_group("gloo", store=store, rank=rank, world_size=world_size,
                                timeout=timedelta(seconds=timeout))
        payload = pickle.dumps(fn(**kwargs))  # plain pickle: tensors travel by value, not as shared memory
        results.put((rank, True, payload))
    except BaseException as error:  # noqa: B036 -- the error is sent back to the caller, who re-raises it
        results.put((rank, False, (type(error).__name__, str(error), traceback.format_exc())))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _stop(processes: list[Any]) -> None:
    """Terminate, then kill, and reap every process; none outlives this call."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()


def launch(fn: Callable[..., Any], world_size: int = 2, kwargs: dict[str, Any] | None = None, *,
           timeout: float = 120.0, threads: int = 1) -> list[Any]:
    """Run ``fn(**kwargs)`` on ranks 0 .. world_size − 1 (gloo, 127.0.0.1); return each rank's result by rank.

    Raises :class:`RankError` if any rank raises, :class:`LaunchTimeout` after ``timeout`` seconds
    (start-up included). Results travel back by pickle, so return tensors, numbers, lists and dicts.

    Taught in: notebooks/15_many_processes.ipynb.
    """
    check_importable(fn)
    check_int("world_size", world_size, low=1, high=64)
    check_positive("timeout", timeout)
    check_int("threads", threads, low=1)
    if kwargs is not None and not isinstance(kwargs, dict):
        raise invalid("kwargs", kwargs, "a dict of keyword arguments for fn, or None")
    context = mp.get_context("spawn")
    results = context.Queue()
    server = _listening_socket()
    port = server.getsockname()[1]
    # The store's server lives here, in the caller, on the socket bound above (the store owns and closes it).
    store = dist.TCPStore(LOOPBACK, port, world_size, is_master=True, master_listen_fd=server.detach(),
                          wait_for_workers=False, timeout=timedelta(seconds=timeout))
    processes = [context.Process(target=_worker, args=(rank, world_size, port, fn, dict(kwargs or {}), results,
                                                       threads, timeout), daemon=True)
                 for rank in range(world_size)]
    try:
        for process in processes:
            process.start()
        pids = [int(process.pid or 0) for process in processes]
        return _collect(processes, results, timeout, pids)
    finally:
        _stop(processes)
        results.close()
        del store


def _collect(processes: list[Any], results: Any, timeout: float, pids: list[int]) -> list[Any]:
    deadline = time.monotonic() + timeout
    done: dict[int, Any] = {}
    while len(done) < len(processes):
        try:
            rank, ok, payload = results.get(timeout=0.05)
        except queue_module.Empty:
            if time.monotonic() > deadline:
                raise LaunchTimeout(sorted(set(range(len(processes))) - set(done)), timeout, pids) from None
            _check_for_silent_deaths(processes, results, done, pids)
            continue
        if not ok:
            raise RankError(rank, *_error_fields(payload), pids=pids)
        done[rank] = pickle.loads(payload)
    return [done[rank] for rank in range(len(processes))]


def _error_fields(payload: Any) -> tuple[str, str, str]:
    """What a failed rank sent: the exception's type name, its message and the formatted traceback."""
    error_type, message, remote_traceback = payload
    return str(error_type), str(message), str(remote_traceback)


def _check_for_silent_deaths(processes: list[Any], results: Any, done: dict[int, Any], pids: list[int]) -> None:
    """A process that exited with an error code without reporting (killed, crashed) is an error too."""
    for rank, process in enumerate(processes):
        if rank not in done and process.exitcode not in (None, 0):
            try:  # its message may still be in the pipe
                other, ok, payload = results.get(timeout=1.0)
            except queue_module.Empty:
                raise RankError(rank, "ProcessDied", f"exit code {process.exitcode} without a result",
                                "(no traceback: the process ended without reporting)", pids) from None
            if not ok:
                raise RankError(other, *_error_fields(payload), pids=pids)
            done[other] = pickle.loads(payload)
