"""One optimizer step: optimlab's readable implementation, uncompiled and compiled, vs torch.optim (for-loop,
foreach, fused), with the roofline.

    python benchmarks/optimizer_step.py [--repeats 15] [--quick] [--threads 1 2] [--algorithms adam]
                                        [--shapes a b] [--variants "optimlab compiled" "torch fused"]
                                        [--profile] [--device cuda]

Two shapes of model: (a) 200 small tensors, 1M parameters in all (per-tensor overhead dominates) and
(b) 4 large tensors, 20M parameters in all (memory traffic dominates). Threads are pinned (1, then 2)
because this machine is shared and noisy; the variants take turns inside each repeat so load hits them alike;
each figure is the median over repeats. The last column is the fraction of the memory-traffic bound: the
bytes an ideal step must read and write per parameter (optimlab.fast), divided by the best streaming bandwidth
measured in the same run; 1.0 would be a step as fast as a perfect streaming kernel.

For the compiled variant, "first call" is the seconds of its first compiled step (torch.compile's work; the
in-process cache is reset before each row, the on-disk cache is not, so only the first row pays a cold
start), and "pays off after" is the number of steps after which compile time is won back against our
uncompiled step. ``--profile`` prints where the time of one Adam step on (a) goes, before and after compiling.

Prints figures; asserts nothing (speed goals are read, not tested).
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from collections.abc import Callable

import torch

from optimlab.fast import median_step_seconds, roofline_fraction, streaming_bandwidth
from optimlab.optim import SGD, Adam

SHAPES = {"a": ("(a) 200 x 5k", [5_000] * 200), "b": ("(b) 4 x 5M", [5_000_000] * 4)}

Maker = Callable[[list[torch.Tensor]], torch.optim.Optimizer]


def variants(algorithm: str) -> dict[str, Maker]:
    """The implementations compared, by name; torch's three and ours twice."""
    if algorithm == "adam":
        return {
            "optimlab": lambda ps: Adam(ps, lr=1e-3),
            "optimlab compiled": lambda ps: Adam(ps, lr=1e-3, compiled=True),
            "torch for-loop": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False),
            "torch foreach": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True),
            "torch fused": lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True),
        }
    return {
        "optimlab": lambda ps: SGD(ps, lr=1e-3, momentum=0.9),
        "optimlab compiled": lambda ps: SGD(ps, lr=1e-3, momentum=0.9, compiled=True),
        "torch for-loop": lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, foreach=False),
        "torch foreach": lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, foreach=True),
        "torch fused": lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, fused=True),
    }


def make_params(sizes: list[int], device: str) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(n, generator=generator).to(device).requires_grad_() for n in sizes]
    for p in params:
        p.grad = (torch.randn(p.shape, generator=generator) * 1e-3).to(device)
    return params


def prepare(makers: dict[str, Maker], sizes: list[int], device: str, sync: Callable[[], None]
            ) -> tuple[dict[str, torch.optim.Optimizer], float]:
    """Each variant built and stepped once (its state created outside the timing); returns them and the
    seconds of the compiled variant's first compiled step (0 when there is none)."""
    optimizers = {name: make(make_params(sizes, device)) for name, make in makers.items()}
    first_call = 0.0
    for name, optimizer in optimizers.items():
        optimizer.step()  # creates the state (uncompiled, also for the compiled variant)
        if "compiled" in name:
            import torch._dynamo

            torch._dynamo.reset()  # so that each row measures its own compilation
            sync()
            start = time.perf_counter()
            optimizer.step()  # the first compiled call
            sync()
            first_call = time.perf_counter() - start
    return optimizers, first_call


def profile_small_tensors(device: str) -> None:
    """Where the time of an Adam step on (a) goes: our uncompiled step (hundreds of small kernels and the
    Python around them) vs the compiled one (concatenate, one compiled kernel, copy back)."""
    from torch.profiler import ProfilerActivity, profile

    sizes = SHAPES["a"][1]
    for name in ("optimlab", "optimlab compiled"):
        optimizer = variants("adam")[name](make_params(sizes, device))
        for _ in range(3):
            optimizer.step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(5):
                optimizer.step()
        print(f"\n### where 5 steps of {name} go, Adam (a) 200 x 5k, {torch.get_num_threads()} thread(s)\n")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1 thread: a smoke run of the script")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--algorithms", nargs="+", default=["adam", "sgd_momentum"], choices=["adam", "sgd_momentum"])
    parser.add_argument("--shapes", nargs="+", default=["a", "b"], choices=sorted(SHAPES))
    parser.add_argument("--variants", nargs="+", default=None, help="names from the table (default: all)")
    parser.add_argument("--profile", action="store_true", help="also print where an Adam step on (a) spends time")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    repeats, thread_counts = (3, [1]) if args.quick else (args.repeats, args.threads)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    machine = torch.cuda.get_device_name() if args.device == "cuda" else (platform.processor() or platform.machine())
    print(f"# optimizer step benchmark: {time.strftime('%Y-%m-%d %H:%M')}, {machine}, torch {torch.__version__}, "
          f"median of {repeats}")
    print("| threads | algorithm | model | variant | ms/step | ours / this | compiled / this | traffic bound "
          "| first call s | pays off after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for threads in thread_counts:
        torch.set_num_threads(threads)
        bandwidth = streaming_bandwidth() if args.device == "cpu" else _cuda_bandwidth()
        for algorithm in args.algorithms:
            makers = variants(algorithm)
            if args.variants:
                makers = {name: make for name, make in makers.items() if name in args.variants}
            for shape in args.shapes:
                shape_name, sizes = SHAPES[shape]
                optimizers, first_call = prepare(makers, sizes, args.device, sync)
                seconds = median_step_seconds({n: o.step for n, o in optimizers.items()}, repeats, sync)
                del optimizers
                for name, value in seconds.items():
                    ours = f"{seconds['optimlab'] / value:.2f}" if "optimlab" in seconds else ""
                    compiled = seconds.get("optimlab compiled")
                    versus = f"{compiled / value:.2f}" if compiled else ""
                    fraction = roofline_fraction(algorithm, sum(sizes), value, bandwidth)
                    first, payoff = "", ""
                    if name == "optimlab compiled":
                        first = f"{first_call:.1f}"
                        saved = seconds.get("optimlab", math.nan) - value
                        payoff = f"{math.ceil((first_call - value) / saved)}" if saved > 0 else "never"
                    print(f"| {threads} | {algorithm} | {shape_name} | {name} | {1e3 * value:.2f} | {ours} | {versus} "
                          f"| {fraction:.2f} | {first} | {payoff} |")
        print(f"| {threads} | streaming bandwidth | | | {bandwidth / 1e9:.1f} GB/s | | | | | |")
        if args.profile:
            profile_small_tensors(args.device)


def _cuda_bandwidth(numel: int = 50_000_000) -> float:
    """Device-memory bandwidth from an in-place ``a += b·c`` (3 reads + 1 write per element)."""
    a, b, c = (torch.randn(numel, device="cuda") for _ in range(3))
    times = median_step_seconds({"addcmul": lambda: a.addcmul_(b, c, value=1e-9)}, 20, torch.cuda.synchronize)
    return 4 * 4 * numel / times["addcmul"]


if __name__ == "__main__":
    main()
