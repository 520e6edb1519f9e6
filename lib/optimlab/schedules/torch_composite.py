"""Schedulers made of schedulers: SequentialLR (one after another) and ChainedScheduler (a product).

Both take schedulers already built on the same optimizer, as torch's do, and from then on step them
themselves: stepping one of the parts directly raises ``ValueError`` (torch would step it twice).
Both step their parts exactly as torch's do, so their values are torch's, including parts that
overwrite the lr (LambdaLR, OneCycleLR, ...) or cosines with a floor inside a ChainedScheduler.

Taught in: notebooks/09_schedulers.ipynb.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

import torch

from optimlab.schedules.functions import check_milestones
from optimlab.schedules.groups import check_optimizer, write_hyperparameter
from optimlab.schedules.scheduler import Scheduler, check_not_owned
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


def _adopt(container: Any, parts: list[Scheduler]) -> None:
    """From now on ``container`` steps the parts; stepping one of them directly is an error."""
    container.schedulers = parts
    for part in parts:
        part.owned = True
    container.hyperparameter = parts[0].hyperparameter
    container.companions, container.owned, container._step_count = [], False, 0
    container.group_count = len(container.optimizer.param_groups)


def _check_container_state(container: Any, state_dict: Any) -> None:
    name = type(container).__name__
    if not isinstance(state_dict, dict) or state_dict.get("scheduler") != name:
        found = state_dict.get("scheduler") if isinstance(state_dict, dict) else type(state_dict).__name__
        raise invalid("state_dict", f"<state of {found}>", f"the state of a {name}")
    if not isinstance(state_dict.get("schedulers"), list) or len(state_dict["schedulers"]) != len(container.schedulers):
        raise invalid("state_dict['schedulers']", state_dict.get("schedulers"),
                      f"a list of {len(container.schedulers)} states, one per part")
    for part, state in zip(container.schedulers, state_dict["schedulers"], strict=True):
        part._check_state(state)


class SequentialLR(Scheduler):
    """Run ``schedulers`` one after another: scheduler i runs from milestones[i−1] to milestones[i].

    lr(t) = schedulers[i].lr(t − milestones[i−1]): each part restarts its own clock at its milestone
    (torch resets it with its closed form at epoch 0), so the first update uses schedulers[0]'s lr(0) and
    the update at step milestones[i−1] is the first to use the next part's lr(0); the last part runs on
    for ever. This equals :func:`~optimlab.schedules.join` of their schedules. A MultiplicativeLR part
    has no closed form, so (as in torch) it starts from whatever lr the part before it left.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    chainable = False  # at a milestone torch overwrites the lr with the next part's closed form
    schedulers: list[Scheduler]

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
        if last_epoch >= 0:
            self.go_to(last_epoch + 1)
            return
        # torch: every group back to its base value, every part's clock back by one, part 0's first step
        for group, base in zip(self.optimizer.param_groups, self.base_values, strict=True):
            write_hyperparameter(group, self.hyperparameter, base)
        for part in parts:
            part.go_back_one()
        parts[0]._advance()
        self.last_epoch = 0
        self._last_lr = parts[0].get_last_lr()

    @property
    def hyperparameters(self) -> set[str]:
        """The one hyperparameter its parts schedule."""
        return {self.hyperparameter}

    def part_at(self, step: float) -> tuple[Scheduler, int]:
        """The scheduler in charge at ``step``, and the step on its own clock."""
        index = bisect_right(self.milestones, step)
        return self.schedulers[index], int(step) - (self.milestones[index - 1] if index else 0)

    def values_at(self, step: float) -> list[float]:
        """The closed form at ``step`` of the part in charge then."""
        part, local_step = self.part_at(int(step))
        return part.values_at(local_step)

    def go_to(self, step: float) -> None:
        """Write the closed form of the part in charge at ``step`` (a resume with ``last_epoch``)."""
        part, local_step = self.part_at(int(step))
        part.go_to(local_step)
        self.last_epoch = int(step)
        self._last_lr = part.get_last_lr()

    def _step(self, epoch: Any = None) -> None:
        self.last_epoch += 1
        index = bisect_right(self.milestones, self.last_epoch)
        part = self.schedulers[index]
        if index > 0 and self.milestones[index - 1] == self.last_epoch:
            part._jump(0)  # the next part starts at its step 0 (torch's closed form, no warning)
        else:
            part._step()
        self._last_lr = part.get_last_lr()

    def step(self) -> None:  # type: ignore[override]  # torch's SequentialLR.step() takes no epoch either
        """Advance one step: the part in charge steps, or the next one starts at its milestone."""
        check_not_owned(self)
        self._step()

    def holds_own_value(self) -> bool:
        """Whether the groups hold the closed form of the part in charge."""
        return self.part_at(self.last_epoch)[0].holds_own_value()

    def state_dict(self) -> dict[str, Any]:
        """The step, the milestones and every part's state."""
        return {"scheduler": "SequentialLR", "last_epoch": self.last_epoch, "milestones": list(self.milestones),
                "step_count": self._step_count, "schedulers": [part.state_dict() for part in self.schedulers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by a SequentialLR of the same parts and milestones."""
        _check_container_state(self, state_dict)
        check_int("state_dict['last_epoch']", state_dict.get("last_epoch"), low=0)
        if state_dict.get("milestones") != list(self.milestones):
            raise invalid("state_dict['milestones']", state_dict.get("milestones"), f"{list(self.milestones)}, "
                          "this SequentialLR's milestones")
        self.last_epoch, self._step_count = state_dict["last_epoch"], state_dict.get("step_count", 1)
        active, _ = self.part_at(self.last_epoch)
        states = list(zip(self.schedulers, state_dict["schedulers"], strict=True))
        for part, state in sorted(states, key=lambda pair: pair[0] is active):  # the part in charge writes last
            part.load_state_dict(state)
        self._last_lr = active.get_last_lr()


class ChainedScheduler(Scheduler):
    """Step ``schedulers`` together, in order, on every ``step()``: torch's ChainedScheduler.

    For parts that multiply (StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR, PolynomialLR,
    MultiplicativeLR, CosineAnnealingLR with eta_min = 0) the result is the product of their schedules,
    lr(t) = base_lr · m₁(t) · m₂(t) · …, which :func:`~optimlab.schedules.product` writes as one pure
    schedule. Other parts behave as when stepped back to back (see :mod:`optimlab.schedules.scheduler`):
    a cosine's floor is approached by the shrinking distance to it, a part that overwrites the lr
    (LambdaLR, OneCycleLR, ...) drops the factors of the parts before it. Stepping the parts yourself, back
    to back, gives the same values; this class only says the intent.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    schedulers: list[Scheduler]

    def __init__(self, schedulers: Sequence[Scheduler], optimizer: torch.optim.Optimizer | None = None) -> None:
        if not isinstance(schedulers, (list, tuple)) or not schedulers:
            raise invalid("schedulers", schedulers, "a non-empty list of optimlab schedulers for ChainedScheduler")
        if optimizer is None:  # torch's default: the first part's optimizer
            optimizer = getattr(schedulers[0], "optimizer", None)
        self.optimizer = check_optimizer(optimizer)
        parts = _check_parts(self.optimizer, schedulers, "ChainedScheduler")
        _adopt(self, parts)
        self.base_values, self.floors = list(parts[0].base_values), list(parts[0].floors)
        self._last_lr = parts[-1].get_last_lr()

    @property
    def last_epoch(self) -> float:  # type: ignore[override]
        """The first part's step count (torch's ChainedScheduler keeps none of its own)."""
        return self.schedulers[0].last_epoch

    def multipliers_at(self, step: float) -> list[float]:
        """m₁(step) · m₂(step) · … for every group."""
        per_part = [part.multipliers_at(step) for part in self.schedulers]
        return [math.prod(factors) for factors in zip(*per_part, strict=True)]

    def values_at(self, step: float) -> list[float]:
        """base_lr · m₁(step) · m₂(step) · …: the values when every part multiplies (see the class doc)."""
        return [base * m for base, m in zip(self.base_values, self.multipliers_at(step), strict=True)]

    def go_to(self, step: float) -> None:
        """Move every part to ``step`` and write the product of their schedules."""
        for part in self.schedulers:
            part.last_epoch = step
        self._write(step, self.values_at(step))

    def _write(self, step: float, values: list[float]) -> None:
        for group, value in zip(self.optimizer.param_groups, values, strict=True):
            write_hyperparameter(group, self.hyperparameter, value)
        self._last_lr = self.schedulers[-1].get_last_lr()

    def _step(self, epoch: Any = None) -> None:
        for part in self.schedulers:
            part._step()
        self._last_lr = [group["lr"].clone() if isinstance(group["lr"], torch.Tensor) else group["lr"]
                         for group in self.optimizer.param_groups]

    def step(self) -> None:  # type: ignore[override]  # torch's ChainedScheduler.step() takes no epoch either
        """Step every part, in order."""
        check_not_owned(self)
        self._step()

    def holds_own_value(self) -> bool:
        """Never: the product lives in the optimizer's state."""
        return False

    def state_dict(self) -> dict[str, Any]:
        """Every part's state."""
        return {"scheduler": "ChainedScheduler", "step_count": self._step_count,
                "schedulers": [part.state_dict() for part in self.schedulers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore every part (load the optimizer's state too: it holds the product)."""
        _check_container_state(self, state_dict)
        for part, state in zip(self.schedulers, state_dict["schedulers"], strict=True):
            part.load_state_dict(state)
        self._step_count = state_dict.get("step_count", 1)
        self._last_lr = self.schedulers[-1].get_last_lr()
