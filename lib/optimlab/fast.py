"""What an optimizer step costs: bytes moved per parameter, this machine's memory bandwidth, and the roofline.

An element-wise update such as Adam's does a few multiplications per byte it touches, so on a CPU (and a GPU)
its speed is set by memory traffic, not arithmetic: a step can be no faster than the bytes it must read and
write divided by the memory bandwidth. :func:`traffic_bound_seconds` is that bound; the fraction of it a step
reaches (:func:`roofline_fraction`) says how close an implementation gets (1.0: a perfect streaming kernel).

Ideal traffic per float32 parameter (each tensor read once, and written once if it changes):

==================  ================================================  ==================
update              reads / writes                                    bytes (float32)
==================  ================================================  ==================
SGD                 θ, g / θ                                          3 × 4 = 12
SGD with momentum   θ, g, b / θ, b                                    5 × 4 = 20
Adam                θ, g, m, v / θ, m, v                              7 × 4 = 28
==================  ================================================  ==================

An unfused step moves far more: each line of the update reads its inputs and writes a temporary, so Adam's
eight lines stream the parameter-sized tensors some twenty times.

Taught in: notebooks/14_fast_steps.ipynb.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

import torch

from optimlab.validation import check_choice, check_int

# Parameter-sized tensors read plus tensors written by an ideal (fused) step.
STREAMS_PER_PARAMETER = {"sgd": 3, "sgd_momentum": 5, "adam": 7}


def traffic_bytes(algorithm: str, numel: int, element_bytes: int = 4) -> int:
    """The bytes an ideal step of ``algorithm`` ("sgd", "sgd_momentum", "adam") reads and writes for ``numel``
    parameters of ``element_bytes`` each (4 for float32).

    >>> traffic_bytes("adam", 1_000_000)
    28000000
    """
    check_choice("algorithm", algorithm, STREAMS_PER_PARAMETER)
    return STREAMS_PER_PARAMETER[algorithm] * element_bytes * numel


def streaming_bandwidth(numel: int = 20_000_000, repeats: int = 15) -> float:
    """Best bytes per second of three in-place streaming kernels on float32 (counted as reads + writes per
    element): a copy (1 + 1), an axpy ``a += s·b`` (2 + 1) and ``a += b·c`` (3 + 1). An optimizer step is in
    place too; the best of the three is the bandwidth a fused step could reach."""
    check_int("numel", numel, low=1)
    check_int("repeats", repeats, low=1)
    a, b, c = torch.randn(numel), torch.randn(numel), torch.randn(numel)
    kernels = {2: lambda: c.copy_(a), 3: lambda: a.add_(b, alpha=1e-9), 4: lambda: a.addcmul_(b, c, value=1e-9)}
    best = 0.0
    for streams, kernel in kernels.items():
        kernel()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            kernel()
            times.append(time.perf_counter() - start)
        best = max(best, streams * 4 * numel / min(times))
    return best


def traffic_bound_seconds(algorithm: str, numel: int, bandwidth: float, element_bytes: int = 4) -> float:
    """The fastest a step can be: its ideal traffic (:func:`traffic_bytes`) over ``bandwidth`` bytes/s."""
    return traffic_bytes(algorithm, numel, element_bytes) / bandwidth


def roofline_fraction(algorithm: str, numel: int, seconds: float, bandwidth: float) -> float:
    """The fraction of the memory-traffic bound a step taking ``seconds`` reaches (1.0 = the bound)."""
    return traffic_bound_seconds(algorithm, numel, bandwidth) / seconds


def median_step_seconds(steps: Mapping[str, Callable[[], object]], repeats: int,
                        sync: Callable[[], None] = lambda: None) -> dict[str, float]:
    """Median seconds of each named callable (e.g. ``optimizer.step``). They take turns within each repeat, so
    a burst of load from another process hits all of them alike; ``sync`` (``torch.cuda.synchronize``) is called
    before each clock reading on an asynchronous device."""
    check_int("repeats", repeats, low=1)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            sync()
            start = time.perf_counter()
            step()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}
