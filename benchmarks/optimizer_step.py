"""One optimizer step: optimlab's readable implementation vs torch.optim (for-loop, foreach, fused).

    python benchmarks/optimizer_step.py [--repeats 15] [--quick]

Two shapes of model: (a) 200 small tensors, 1M parameters in all (per-tensor overhead dominates) and
(b) 4 large tensors, 20M parameters in all (memory traffic dominates). Threads are pinned (1, then 2)
because this machine is shared and noisy; each figure is the median over repeats. For (b) the table
also gives the fraction of the memory-traffic bound: the bytes an ideal step must read and write per
parameter, divided by the best streaming bandwidth measured here (copy, axpy, addcmul);
1.0 would be a step as fast as a perfect streaming kernel.

Prints figures; asserts nothing (speed goals are read, not tested).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from optimlab.optim import SGD, Adam

# Bytes moved per float32 parameter by an ideal fused step: reads and writes of each tensor involved.
TRAFFIC_BYTES = {
    "adam": 4 * (4 + 3),  # read param, grad, exp_avg, exp_avg_sq; write param, exp_avg, exp_avg_sq
    "sgd_momentum": 4 * (3 + 2),  # read param, grad, momentum_buffer; write param, momentum_buffer
}

SHAPES = {
    "(a) 200 x 5k": [5_000] * 200,
    "(b) 4 x 5M": [5_000_000] * 4,
}


def make_params(sizes: list[int]) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(n, generator=generator).requires_grad_() for n in sizes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator) * 1e-3
    return params


def variants(algorithm: str) -> dict[str, Callable[[list[torch.Tensor]], torch.optim.Optimizer]]:
    if algorithm == "adam":
        return {
            "optimlab": lambda ps: Adam(ps, lr=1e-3),
            "torch for-loop": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False),
            "torch foreach": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True),
            "torch fused": lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True),
        }
    return {
        "optimlab": lambda ps: SGD(ps, lr=1e-3, momentum=0.9),
        "torch for-loop": lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, foreach=False),
        "torch foreach": lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, foreach=True),
        "torch fused": lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, fused=True),
    }


def median_step_seconds(makers: dict[str, Callable], sizes: list[int], repeats: int) -> dict[str, float]:
    """Median seconds per step of each variant. The variants take turns within each repeat, so a burst
    of load from another process on this shared machine hits all of them alike."""
    optimizers = {name: make(make_params(sizes)) for name, make in makers.items()}
    for optimizer in optimizers.values():
        optimizer.step()  # create the state outside the timing
    times: dict[str, list[float]] = {name: [] for name in optimizers}
    for _ in range(repeats):
        for name, optimizer in optimizers.items():
            start = time.perf_counter()
            optimizer.step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def streaming_bandwidth(numel: int = 20_000_000, repeats: int = 15) -> float:
    """Best bytes per second of three streaming kernels on float32, counted as reads + writes per element:
    a copy (1 + 1), an in-place axpy ``a += s·b`` (2 + 1) and an in-place ``a += b·c`` (3 + 1). In-place
    kernels stream faster here (the written line was just read), and an optimizer step is in place too."""
    a, b, c = torch.randn(numel), torch.randn(numel), torch.randn(numel)
    kernels = {
        2: lambda: c.copy_(a),
        3: lambda: a.add_(b, alpha=1e-9),
        4: lambda: a.addcmul_(b, c, value=1e-9),
    }
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1 thread: a smoke run of the script")
    args = parser.parse_args()
    repeats, thread_counts = (3, [1]) if args.quick else (args.repeats, [1, 2])
    machine = platform.processor() or platform.machine()
    print(f"# optimizer step benchmark: {time.strftime('%Y-%m-%d')}, {machine}, torch {torch.__version__}, "
          f"median of {repeats}")
    print("| threads | algorithm | model | variant | ms/step | ours / this | fraction of traffic bound |")
    print("|---|---|---|---|---|---|---|")
    for threads in thread_counts:
        torch.set_num_threads(threads)
        bandwidth = streaming_bandwidth()
        for algorithm in ("adam", "sgd_momentum"):
            for shape_name, sizes in SHAPES.items():
                seconds = median_step_seconds(variants(algorithm), sizes, repeats)
                bound = TRAFFIC_BYTES[algorithm] * sum(sizes) / bandwidth
                for name, value in seconds.items():
                    fraction = f"{bound / value:.2f}" if shape_name.startswith("(b)") else ""
                    ratio = seconds["optimlab"] / value
                    print(f"| {threads} | {algorithm} | {shape_name} | {name} | {1e3 * value:.2f} | {ratio:.2f} "
                          f"| {fraction} |")
        print(f"| {threads} | streaming bandwidth | | | {bandwidth / 1e9:.1f} GB/s | | |")


if __name__ == "__main__":
    main()
