"""optimlab.distributed: the launcher (results, errors, timeouts, no orphans, loopback only) and the parity of
single-process, hand-written all-reduce, DDP and ZeRO training, checkpoints included.

Process start-up costs seconds, so each test launches once and checks several things; the worker functions
live in this module at top level so that spawned processes can import them by name.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from optimlab.distributed import LaunchTimeout, RankError, launch, train_data_parallel
from optimlab.distributed.launch import check_importable
from optimlab.distributed.training import optimizer_class, optimizer_state_bytes
from optimlab.optim import OPTIMIZERS

# --- workers (top level: spawned processes import them by name) ---


def _listening(pid: int) -> list[str]:
    """Addresses ``ip:port`` on which process ``pid`` has a TCP socket in LISTEN state (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                hex_ip, hex_port = fields[1].split(":")
                packed = bytes.fromhex(hex_ip)
                words = b"".join(packed[i:i + 4][::-1] for i in range(0, len(packed), 4))  # little-endian words
                found.append(f"{socket.inet_ntop(family, words)}:{int(hex_port, 16)}")
    return found


def probe(value: float) -> dict:
    """Sum ``value · (rank + 1)`` over ranks, and report who and where we are."""
    rank, world_size = dist.get_rank(), dist.get_world_size()
    total = torch.tensor([value * (rank + 1)])
    dist.all_reduce(total)
    dist.barrier()  # every rank's sockets are open now
    listening = _listening(os.getpid()) + (_listening(os.getppid()) if rank == 0 else [])
    return {"rank": rank, "world_size": world_size, "sum": total.item(), "pid": os.getpid(),
            "threads": torch.get_num_threads(), "listening": listening}


def raise_on_rank_one() -> int:
    if dist.get_rank() == 1:
        raise ValueError("rank one cannot go on")
    dist.barrier()  # rank 0 waits here for a rank that will never come
    return dist.get_rank()


def hang_on_rank_one() -> int:
    if dist.get_rank() == 1:
        time.sleep(3600)
    return os.getpid()


def _gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "State:\tZ" in status.read_text()


# --- the launcher ---


def test_launch_returns_every_ranks_result_over_loopback_only_and_leaves_no_process():
    results = launch(probe, 2, {"value": 1.5}, timeout=60)
    assert [r["rank"] for r in results] == [0, 1] and all(r["world_size"] == 2 for r in results)
    assert [r["sum"] for r in results] == [1.5 * (1 + 2)] * 2  # the all-reduce really crossed processes
    assert all(r["threads"] == 1 for r in results)
    listening = [address for r in results for address in r["listening"]]
    assert listening and all(address.startswith("127.0.0.1:") for address in listening), listening
    assert len(listening) > len(results[1]["listening"])  # rank 0 saw the caller's store socket too
    assert all(_gone(r["pid"]) for r in results)


def test_a_rank_that_raises_reaches_the_caller_with_its_rank_and_no_process_survives():
    started = time.monotonic()
    with pytest.raises(RankError, match="rank 1 raised ValueError: rank one cannot go on") as caught:
        launch(raise_on_rank_one, 2, timeout=60)
    assert caught.value.rank == 1 and "raise_on_rank_one" in caught.value.remote_traceback
    assert time.monotonic() - started < 45  # rank 0, stuck in a barrier, was stopped, not waited for
    assert len(caught.value.pids) == 2 and all(_gone(pid) for pid in caught.value.pids)


def test_a_hung_rank_hits_the_timeout_with_a_clear_message_and_no_process_survives():
    started = time.monotonic()
    with pytest.raises(LaunchTimeout, match=r"rank\(s\) \[(0, )?1\] had not finished after timeout=12 s") as caught:
        launch(hang_on_rank_one, 2, timeout=12)
    assert 1 in caught.value.ranks  # rank 0 is listed too only when start-up alone took longer than the timeout
    assert 12 <= time.monotonic() - started < 12 + 20  # stopping the processes takes seconds, not an hour
    assert all(_gone(pid) for pid in caught.value.pids)


def _local():
    return 1


@pytest.mark.parametrize("fn", [lambda: 1, _local.__call__, 3], ids=["lambda", "method-wrapper", "not-callable"])
def test_launch_refuses_functions_spawned_processes_cannot_import(fn):
    with pytest.raises(ValueError, match=r"^fn=.* is invalid: expected a function"):
        check_importable(fn)


def test_a_nested_function_is_refused():
    def nested():
        return 1

    with pytest.raises(ValueError, match="fn=.*nested.* is invalid"):
        launch(nested, 2)


@pytest.mark.parametrize("kwargs,message", [
    (dict(world_size=0), "world_size=0 is invalid"),
    (dict(timeout=-1), "timeout=-1 is invalid"),
    (dict(threads=0), "threads=0 is invalid"),
    (dict(kwargs=[1]), r"kwargs=\[1\] is invalid"),
])
def test_launch_validates_its_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        launch(probe, **kwargs)


# --- training parity: one launch runs every distributed configuration ---

PARITY_OPTIMIZERS = {  # name -> hyperparameters
    "adam": dict(lr=0.01), "sgd": dict(lr=0.1, momentum=0.9),
    "torch.Adam": dict(lr=0.01), "torch.SGD": dict(lr=0.1, momentum=0.9),
}
BALANCED = (64, 64)  # two equal hidden layers: ZeRO can split the state about evenly over 2 ranks
STEPS, BATCH = 4, 32


OTHER_HYPERPARAMETERS = {"lars": dict(lr=2.0, momentum=0.9, weight_decay=1e-4),
                         "lamb": dict(lr=0.01, weight_decay=0.01)}


def _run(name, strategy, **extra):
    hyperparameters = PARITY_OPTIMIZERS.get(name, OTHER_HYPERPARAMETERS.get(name, {"lr": 0.01}))
    return {**dict(optimizer=name, hyperparameters=hyperparameters, strategy=strategy, steps=STEPS, batch_size=BATCH,
                   hidden=BALANCED), **extra}


NOT_A_PLAIN_STEP = {  # registered optimizers this dense MLP with a plain step() cannot train, and why
    "sparse_adam": "needs sparse gradients (nn.Embedding(sparse=True))",
    "lbfgs": "needs step(closure)",
    "muon": "takes 2-D parameters only",
    "sgd_schedule_free": "needs optimizer.train() before stepping",
    "adamw_schedule_free": "needs optimizer.train() before stepping",
}


def _every_registered():
    """Every optimizer of the registry under ZeRO, LARS/LAMB with their layer groups."""
    return {name: dict(layer_adaptation=name in ("lars", "lamb")) for name in sorted(OPTIMIZERS)
            if name not in NOT_A_PLAIN_STEP}


RUNS = (
    [_run(name, strategy) for name in PARITY_OPTIMIZERS for strategy in ("allreduce", "ddp", "zero")]
    + [_run(name, "zero", **extra) for name, extra in _every_registered().items()]
    + [_run("adam", "ddp", data_seed=7), _run("adam", "ddp", accumulation_steps=2),
       _run("adam", "zero", steps=2, checkpoint=True)]
)


@pytest.fixture(scope="module")
def distributed_runs():
    from optimlab.distributed import train_many

    ranks = launch(train_many, 2, {"runs": RUNS}, timeout=180)
    return [(run, [ranks[0][i], ranks[1][i]]) for i, run in enumerate(RUNS)]


def _single(run, **changes):
    keep = {k: v for k, v in run.items() if k not in ("strategy", "data_seed", "checkpoint")}
    return train_data_parallel(**{**keep, "strategy": "single", **changes})


def _assert_close(got, want, atol=1e-10):
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=atol, msg=f"{name} differs")


def _find(runs, **match):
    return [ranks for run, ranks in runs if all(run.get(k, None) == v for k, v in match.items())]


@pytest.mark.parametrize("name", list(PARITY_OPTIMIZERS))
def test_two_processes_with_half_batches_equal_one_process_with_the_whole(distributed_runs, name):
    """allreduce ≡ DDP ≡ ZeRO ≡ single process, for ours and torch's Adam and SGD with momentum."""
    reference = _single(_run(name, "single"))["params"]
    for strategy in ("allreduce", "ddp", "zero"):
        (ranks,) = _find(distributed_runs, optimizer=name, strategy=strategy, layer_adaptation=None, data_seed=None,
                         accumulation_steps=None, checkpoint=None)
        for rank in ranks:
            _assert_close(rank["params"], reference)
        assert all(torch.equal(ranks[0]["params"][k], ranks[1]["params"][k]) for k in reference)  # in lockstep
        assert ranks[0]["losses"] != ranks[1]["losses"]  # ... on different halves of each batch


def test_every_library_optimizer_runs_under_zero_and_matches_one_process(distributed_runs):
    for name, extra in _every_registered().items():
        (ranks,) = _find(distributed_runs, optimizer=name, strategy="zero", **extra)
        reference = _single(_run(name, "single", **extra))["params"]
        for rank in ranks:
            _assert_close(rank["params"], reference, atol=1e-9)


def test_zero_keeps_about_half_of_the_optimizer_state_on_each_of_two_ranks(distributed_runs):
    for name in ("adam", "torch.Adam", "sgd"):
        (ddp,) = _find(distributed_runs, optimizer=name, strategy="ddp", data_seed=None, accumulation_steps=None)
        (zero,) = _find(distributed_runs, optimizer=name, strategy="zero", layer_adaptation=None, checkpoint=None)
        full = ddp[0]["state_bytes"]
        assert ddp[1]["state_bytes"] == full > 0
        assert abs(zero[0]["state_bytes"] + zero[1]["state_bytes"] - full) <= 16  # Adam's step counters move
        assert all(0.4 * full < r["state_bytes"] < 0.6 * full for r in zero), [r["state_bytes"] for r in zero]


def test_ranks_with_their_own_data_order_stay_in_lockstep(distributed_runs):
    (ranks,) = _find(distributed_runs, data_seed=7)
    params = [r["params"] for r in ranks]
    assert all(torch.equal(params[0][k], params[1][k]) for k in params[0])
    assert ranks[0]["losses"] != ranks[1]["losses"]  # they did see different examples
    reference = _single(_run("adam", "single"))["params"]
    assert not all(torch.allclose(params[0][k], reference[k]) for k in reference)


def test_gradient_accumulation_over_two_processes_equals_one_big_batch(distributed_runs):
    (ranks,) = _find(distributed_runs, accumulation_steps=2)
    reference = _single(_run("adam", "single"))["params"]
    accumulated = _single(_run("adam", "single"), accumulation_steps=4)["params"]  # 4 micro-batches of 8
    for rank in ranks:
        _assert_close(rank["params"], reference)
    _assert_close(accumulated, reference)


def test_a_consolidated_zero_checkpoint_resumes_in_one_process_like_an_uninterrupted_run(distributed_runs):
    (ranks,) = _find(distributed_runs, checkpoint=True)
    checkpoint = ranks[0]["checkpoint"]
    assert "checkpoint" not in ranks[1]
    single_so_far = _single(_run("adam", "single", steps=2), checkpoint=True)["checkpoint"]
    ours, theirs = checkpoint["optimizer"]["state"], single_so_far["optimizer"]["state"]
    assert ours.keys() == theirs.keys() and len(ours) == 6  # both ranks' shards, every parameter
    for index in theirs:
        _assert_close(ours[index], theirs[index])
    resumed = _single(_run("adam", "single", steps=STEPS - 2), start_from=checkpoint)
    uninterrupted = _single(_run("adam", "single"))
    _assert_close(resumed["params"], uninterrupted["params"])


def test_resuming_from_a_checkpoint_in_one_process_is_exact():
    first = _single(_run("adam", "single", steps=2), checkpoint=True)["checkpoint"]
    resumed = _single(_run("adam", "single", steps=3), start_from=first)
    uninterrupted = _single(_run("adam", "single", steps=5))
    assert all(torch.equal(resumed["params"][k], uninterrupted["params"][k]) for k in uninterrupted["params"])


# --- helpers and validation ---


def test_optimizer_class_by_name():
    assert optimizer_class("adam") is OPTIMIZERS["adam"] and optimizer_class("torch.SGD") is torch.optim.SGD
    with pytest.raises(ValueError, match="optimizer='torch.Nope' is invalid"):
        optimizer_class("torch.Nope")
    with pytest.raises(ValueError, match="optimizer='adamm' is invalid"):
        optimizer_class("adamm")


def test_optimizer_state_bytes_counts_every_state_tensor():
    param = torch.zeros(10, requires_grad=True)
    optimizer = torch.optim.Adam([param])
    param.grad = torch.ones(10)
    optimizer.step()
    assert optimizer_state_bytes(optimizer) == 2 * 10 * 4 + 4  # two moments + the float32 step counter


@pytest.mark.parametrize("kwargs,message", [
    (dict(strategy="zero"), "strategy='zero' is invalid: expected 'single' without a process group"),
    (dict(strategy="fsdp"), "strategy='fsdp' is invalid"),
    (dict(batch_size=30, accumulation_steps=4), "batch_size=30 is invalid: expected a multiple of"),
    (dict(steps=0), "steps=0 is invalid"),
    (dict(dtype="float16"), "dtype='float16' is invalid"),
])
def test_train_data_parallel_validates_its_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_data_parallel(**{"strategy": "single", **kwargs})


# --- memory and scaling calculations ---


def test_bytes_per_rank_and_the_memory_table():
    from optimlab.distributed.memory import bytes_per_rank, memory_table

    assert bytes_per_rank(10, 8.0, 4, sharded=False) == 10 * 16 and bytes_per_rank(10, 8.0, 4, sharded=True) == 10 * 10
    rows = memory_table(2**30, {"adam": 8.0}, [1, 64])
    assert [(r["N"], r["DDP GiB/rank"], r["ZeRO-1 GiB/rank"]) for r in rows] == [(1, 16.0, 16.0), (64, 16.0, 8.125)]
    for kwargs, message in ((dict(num_parameters=0), "num_parameters=0"), (dict(state_bytes=-1.0), "state_bytes=-1.0"),
                            (dict(world_size=0), "world_size=0")):
        with pytest.raises(ValueError, match=message + " is invalid"):
            bytes_per_rank(**{"num_parameters": 10, "state_bytes": 8.0, "world_size": 2, **kwargs}, sharded=True)


def test_state_bytes_per_parameter_is_measured_on_a_real_optimizer():
    from optimlab.distributed.memory import state_bytes_per_parameter

    weight = torch.zeros(100, requires_grad=True)
    for name, options, expected in (("sgd", {}, 0.0), ("sgd", {"momentum": 0.9}, 4.0), ("adam", {}, 8.0),
                                    ("lamb", {}, 8.0)):
        optimizer = optimizer_class(name)([weight], lr=0.1, **options)
        weight.grad = torch.ones(100)
        optimizer.step()
        assert state_bytes_per_parameter(optimizer) == expected, name


def test_scaled_lr_rules_and_their_validation():
    from optimlab.distributed.scaling import scaled_lr

    assert scaled_lr(0.1, 16, 256, "linear") == pytest.approx(1.6)
    assert scaled_lr(0.1, 16, 256, "sqrt") == pytest.approx(0.4)
    assert scaled_lr(0.1, 16, 256, "none") == 0.1
    for kwargs, message in ((dict(base_lr=0.0), "base_lr=0.0"), (dict(base_batch=0), "base_batch=0"),
                            (dict(batch=1.5), "batch=1.5"), (dict(rule="cubic"), "rule='cubic'")):
        with pytest.raises(ValueError, match=message + " is invalid"):
            scaled_lr(**{"base_lr": 0.1, "base_batch": 16, "batch": 64, "rule": "linear", **kwargs})


def test_a_function_from_a_notebook_cell_is_refused_with_the_reason(monkeypatch):
    import builtins

    def cell_function():
        return 1

    cell_function.__module__, cell_function.__qualname__ = "__main__", "cell_function"
    monkeypatch.setattr(builtins, "__IPYTHON__", True, raising=False)
    with pytest.raises(ValueError, match="from a notebook cell.*move it into a module"):
        check_importable(cell_function)
