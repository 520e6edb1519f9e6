"""Draw a schedule without training a model: run its scheduler on a throw-away optimizer and record.

- :func:`trace` records every group's learning rate and momentum (or β₁) at each step: the values each
  update *uses* (read before the update, as :func:`optimlab.train.fit` records them);
- :func:`plot_scheduler` draws them, one line per group, momentum dashed on a second axis where it moves;
- :func:`plot_schedule` draws a pure schedule's multiplier m(t).

They return the Axes and show nothing themselves. Works with our schedulers and torch's.

Taught in: notebooks/09_schedulers.ipynb, notebooks/10_schedulers_in_training.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from optimlab.schedules.combinators import Schedule
from optimlab.validation import check_choice, check_int, check_number, invalid

OPTIMIZER_KINDS = {"sgd": "momentum", "adam": "beta1"}


def throwaway_optimizer(kind: str, lrs: Sequence[float], momentum: float) -> torch.optim.Optimizer:
    """One group per lr, each holding one parameter that never gets a gradient (so nothing moves)."""
    check_choice("optimizer", kind, OPTIMIZER_KINDS)
    if not isinstance(lrs, (list, tuple)) or not lrs:
        raise invalid("lrs", lrs, "a non-empty list of learning rates, one per param group")
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": check_number("lr", lr, low=0.0)} for lr in lrs]
    if kind == "sgd":
        return torch.optim.SGD(groups, momentum=momentum)
    return torch.optim.Adam(groups, betas=(momentum, 0.999))


def _run(make_scheduler: Callable[[torch.optim.Optimizer], Any], steps: int, lrs: Sequence[float],
         optimizer: str, momentum: float, metrics: Sequence[float] | None) -> tuple[Any, dict[str, list]]:
    check_int("steps", steps, low=1)
    opt = throwaway_optimizer(optimizer, lrs, momentum)
    scheduler = make_scheduler(opt)
    by_metric = getattr(scheduler, "needs_metric", False) or isinstance(
        scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if by_metric and (metrics is None or len(metrics) < steps - 1):
        raise invalid("metrics", metrics, f"at least steps − 1 = {steps - 1} values for {type(scheduler).__name__}")
    second = OPTIMIZER_KINDS[optimizer]
    records: dict[str, list] = {"lr": [], second: []}
    for t in range(steps):
        records["lr"].append([float(group["lr"]) for group in opt.param_groups])
        records[second].append([float(group["momentum"] if second == "momentum" else group["betas"][0])
                                for group in opt.param_groups])
        opt.step()  # no gradients: a no-op, but torch's schedulers expect it before their step()
        if t < steps - 1 and metrics is not None and by_metric:
            scheduler.step(metrics[t])
        elif t < steps - 1:
            scheduler.step()
    return scheduler, records


def trace(make_scheduler: Callable[[torch.optim.Optimizer], Any], steps: int, *, lrs: Sequence[float] = (0.1,),
          optimizer: str = "sgd", momentum: float = 0.9, metrics: Sequence[float] | None = None) -> dict[str, list]:
    """Values used by updates 0 … steps−1: ``{"lr": [[lr of each group] per step], "momentum": ...}``.

    ``make_scheduler(optimizer)`` builds the scheduler, e.g. ``lambda opt: OneCycleLR(opt, 1.0, 100)``.
    The optimizer is SGD (``"momentum"`` recorded) or Adam (``"beta1"``), with one group per entry of
    ``lrs``. A plateau scheduler gets ``metrics[t]`` after update t.
    """
    return _run(make_scheduler, steps, lrs, optimizer, momentum, metrics)[1]


def plot_scheduler(make_scheduler: Callable[[torch.optim.Optimizer], Any], steps: int, *,
                   lrs: Sequence[float] = (0.1,), optimizer: str = "sgd", momentum: float = 0.9,
                   metrics: Sequence[float] | None = None, ax: Any = None, title: str | None = None) -> Any:
    """Draw each group's lr over ``steps`` updates (and momentum / β₁, dashed, where it moves); return the Axes.

    Arguments as for :func:`trace`; ``ax`` draws into existing Axes. The momentum axis, when drawn, is
    ``ax.right_ax`` (a twin sharing the x axis).

    Taught in: notebooks/09_schedulers.ipynb.
    """
    import matplotlib.pyplot as plt  # here, so that importing optimlab.schedules needs no matplotlib

    scheduler, records = _run(make_scheduler, steps, lrs, optimizer, momentum, metrics)
    if ax is None:
        _, ax = plt.subplots()
    steps_axis = range(steps)
    lines = []
    for g in range(len(lrs)):
        lines += ax.plot(steps_axis, [row[g] for row in records["lr"]], label=f"group {g}: lr")
    ax.set(xlabel="step t (updates so far)", ylabel="learning rate", title=title or type(scheduler).__name__)
    second = next(key for key in records if key != "lr")
    if any(row != records[second][0] for row in records[second]):
        ax.right_ax = ax.twinx()
        for g, line in enumerate(lines[: len(lrs)]):
            lines += ax.right_ax.plot(steps_axis, [row[g] for row in records[second]], linestyle="--",
                                      color=line.get_color(), label=f"group {g}: {second}")
        ax.right_ax.set_ylabel(second)
        ax.right_ax.grid(False)
    ax.legend(lines, [line.get_label() for line in lines], loc="best")
    return ax


def plot_schedule(schedule: Schedule, steps: int, *, ax: Any = None, title: str | None = None,
                  label: str | None = None) -> Any:
    """Draw the multiplier m(t) of a pure schedule for t = 0 … steps−1; return the Axes.

    Taught in: notebooks/09_schedulers.ipynb.
    """
    import matplotlib.pyplot as plt

    check_int("steps", steps, low=1)
    if ax is None:
        _, ax = plt.subplots()
    name = type(schedule).__name__
    ax.plot(range(steps), [schedule(t) for t in range(steps)], label=label or name)
    ax.set(xlabel="step t (updates so far)", ylabel="multiplier m(t)", title=title or name)
    ax.legend(loc="best")
    return ax
