"""Schedulers made of schedulers: SequentialLR (one after another) and ChainedScheduler (a product).

Both take schedulers already built on the same optimizer, as torch's do, and from then on step them
themselves: stepping one of the parts directly raises ``ValueError``.

Taught in: notebooks/09_schedulers.ipynb.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

import torch

from optimlab.schedules.functions import check_milestones
from optimlab.schedules.groups import check_optimizer
from optimlab.schedules.scheduler import Scheduler, register_driver
from optimlab.validation import check_int, invalid


def _check_parts(optimizer: torch.optim.Optimizer, schedulers: Any, owner: str) -> list[Scheduler]:
    """The parts must be our schedulers, of ``optimizer``, all of one hyperparameter."""
    parts = list(schedulers) if isinstance(schedulers, (list, tuple)) else []
    if not parts:
        raise invalid("schedulers", schedulers, f"a non-empty list of optimlab schedulers for {owner}")
    for index, part in enumerate(parts):
        if getattr(part, "needs_metric", False):
            raise invalid(f"schedulers[{index}]", type(part).__name__, f"a step-driven scheduler: {owner} cannot "
                          "pass ReduceLROnPlateau its metric (torch refuses it too)")
        if not isinstance(part, Scheduler):
            raise invalid(f"schedulers[{index}]", type(part).__name__, "an optimlab.schedules scheduler")
        if part.optimizer is not optimizer:
            raise invalid(f"schedulers[{index}]", type(part).__name__, f"a scheduler of {owner}'s optimizer")
        if part.hyperparameter != parts[0].hyperparameter:
            raise invalid(f"schedulers[{index}]", type(part).__name__, f"a scheduler of "
                          f"{parts[0].hyperparameter!r}, like schedulers[0]")
    return parts


def _adopt(container: Scheduler, parts: list[Scheduler]) -> None:
    """From now on ``container`` steps the parts; stepping one of them directly is an error."""
    container.schedulers = parts
    for part in parts:
        part.owned = True
    container.hyperparameter = parts[0].hyperparameter
    container.companions, container.owned = [], False
    register_driver(container)


def _load_parts(container: Scheduler, state_dict: dict[str, Any]) -> None:
    for part, state in zip(container.schedulers, state_dict["schedulers"], strict=True):
        part.load_state_dict(state)


class SequentialLR(Scheduler):
    """Run ``schedulers`` one after another: scheduler i runs from milestones[i−1] to milestones[i].

    lr(t) = schedulers[i].lr(t − milestones[i−1]): each part restarts its own clock at its milestone
    (torch resets it with its closed form at epoch 0), so the first update uses schedulers[0]'s lr(0) and
    the update at step milestones[i−1] is the first to use the next part's lr(0); the last part runs on
    for ever. This equals :func:`~optimlab.schedules.join` of their schedules.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    chainable = False  # at a milestone torch overwrites the lr with the next part's closed form

    def __init__(self, optimizer: torch.optim.Optimizer, schedulers: Sequence[Scheduler], milestones: Sequence[int],
                 last_epoch: int = -1) -> None:
        self.optimizer = check_optimizer(optimizer)
        parts = _check_parts(optimizer, schedulers, "SequentialLR")
        self.milestones = check_milestones("milestones", milestones, low=1)
        if len(self.milestones) != len(parts) - 1:
            raise invalid("milestones", list(self.milestones), f"{len(parts) - 1} steps: one fewer than the schedulers")
        check_int("last_epoch", last_epoch, low=-1)
        _adopt(self, parts)
        self.base_values, self.floors = parts[0].base_values, parts[0].floors
        self.go_to(last_epoch + 1)

    @property
    def hyperparameters(self) -> set[str]:
        return set().union(*(part.hyperparameters for part in self.schedulers))

    def part_at(self, step: int) -> tuple[Scheduler, int]:
        """The scheduler in charge at ``step``, and the step on its own clock."""
        index = bisect_right(self.milestones, step)
        return self.schedulers[index], step - (self.milestones[index - 1] if index else 0)

    def values_at(self, step: int) -> list[float]:
        part, local_step = self.part_at(step)
        return part.values_at(local_step)

    def go_to(self, step: int) -> None:
        part, local_step = self.part_at(step)
        part.go_to(local_step)
        self.last_epoch = step
        self._last_lr = part.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "schedulers": [part.state_dict() for part in self.schedulers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _load_parts(self, state_dict)
        self.go_to(state_dict["last_epoch"])


class ChainedScheduler(Scheduler):
    """Multiply ``schedulers``: lr(t) = base_lr · m₁(t) · m₂(t) · …, all stepped together.

    Step convention: the first update uses base_lr · m₁(0) · m₂(0) · …; each part's own convention
    (warmup peak, last step) carries over to its factor.

    torch gets the same product by letting each part multiply the current lr in turn; the two agree
    when every part is a multiplier of base_lr (StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR,
    PolynomialLR, MultiplicativeLR, CosineAnnealingLR with eta_min=0). Parts that torch lets *overwrite*
    the lr (LambdaLR, CyclicLR, OneCycleLR, CosineAnnealingWarmRestarts, SequentialLR, a cosine with a
    floor) make torch's result depend on their order, so they raise ``ValueError`` here; multiply their
    schedules with :func:`~optimlab.schedules.product` instead. One more deviation: past T_max torch's
    recursive cosine restarts from base_lr alone, dropping the other factors; ours keeps the product.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, schedulers: Sequence[Scheduler], optimizer: torch.optim.Optimizer | None = None) -> None:
        if not isinstance(schedulers, (list, tuple)) or not schedulers:
            raise invalid("schedulers", schedulers, "a non-empty list of optimlab schedulers for ChainedScheduler")
        if optimizer is None:  # torch's default: the first part's optimizer
            optimizer = getattr(schedulers[0], "optimizer", None)
        self.optimizer = check_optimizer(optimizer)
        parts = _check_parts(self.optimizer, schedulers, "ChainedScheduler")
        for index, part in enumerate(parts):
            if not part.chainable or any(part.floors):
                raise invalid(f"schedulers[{index}]", type(part).__name__, "a multiplicative scheduler (StepLR, "
                              "ExponentialLR, LinearLR, ...); torch lets this one overwrite the lr, so chaining "
                              "it drops the other factors. Multiply schedules with product() instead")
            if part.last_epoch != parts[0].last_epoch or part.base_values != parts[0].base_values:
                raise invalid(f"schedulers[{index}]", type(part).__name__, "a scheduler at the same step and "
                              "with the same base values as schedulers[0]")
        _adopt(self, parts)
        self.base_values, self.floors = list(parts[0].base_values), [0.0] * len(parts[0].base_values)
        self.go_to(parts[0].last_epoch)

    def multipliers_at(self, step: int) -> list[float]:
        per_part = [part.multipliers_at(step) for part in self.schedulers]
        return [math.prod(factors) for factors in zip(*per_part, strict=True)]

    def go_to(self, step: int) -> None:
        super().go_to(step)
        for part in self.schedulers:  # keep the parts' clocks (and their state_dicts) in step
            part.last_epoch = step

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "schedulers": [part.state_dict() for part in self.schedulers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _load_parts(self, state_dict)
        self.base_values = list(self.schedulers[0].base_values)
        self.go_to(state_dict["last_epoch"])
