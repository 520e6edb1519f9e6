"""The one scheduler class: it writes a schedule's value into one hyperparameter of every param group.

    value_g(t) = floor_g + (base_g − floor_g) · m(t)

- ``m`` is a schedule (:mod:`optimlab.schedules.functions`): a pure function of the step that returns a
  multiplier; one per group is allowed (torch's LambdaLR takes a list).
- ``base_g`` is the group's own value when the scheduler is built, kept in the group under torch's key
  ``initial_lr`` (``initial_momentum``, ``initial_beta1``, ... for the others), so differential
  learning rates and a schedule combine; or an explicit value per group (CyclicLR's ``max_lr``).
- ``floor_g`` is 0 unless given (then value = base · m): CosineAnnealingLR's ``eta_min``, CyclicLR's ``base_lr``.

Any ``torch.optim.Optimizer`` works (ours or torch's), and any numeric hyperparameter of its groups:
``"lr"``, ``"momentum"``, ``"weight_decay"``, ``"betas[0]"`` (β₁), ``"betas[1]"``.

Step convention (torch's): building the scheduler applies step 0, so the first ``optimizer.step()`` uses
value(0); each ``scheduler.step()``, called after ``optimizer.step()``, moves on by one. After n calls
the groups hold value(n) and ``last_epoch == n``.

Checkpoints: ``state_dict()`` holds ``last_epoch`` and the base and floor values; ``load_state_dict()``
restores them and rewrites value(last_epoch) into the groups, so it does not matter whether the scheduler
is built before or after ``optimizer.load_state_dict()``. The schedule is not saved (it may be a lambda):
rebuild the scheduler with the same arguments, then load.

Several schedulers on one optimizer: torch multiplies their effects (each multiplies the current lr).
Ours each write a closed-form value, so the last one would silently win; instead, stepping a scheduler
while another live one drives the same hyperparameter of the same optimizer raises ``ValueError`` that
points to ChainedScheduler (multiply) and SequentialLR (one after another).

Taught in: notebooks/09_schedulers.ipynb.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import torch

from optimlab.schedules.functions import Schedule
from optimlab.schedules.groups import (
    check_hyperparameter,
    check_optimizer,
    check_schedule,
    group_bases,
    one_per_group,
    read_hyperparameter,
    write_hyperparameter,
)
from optimlab.validation import check_int, invalid

# optimizer -> weak references to the schedulers that write into its groups (the optimizer is not modified).
_DRIVERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Scheduler:
    """Apply ``schedule`` to ``hyperparameter`` of every param group of ``optimizer``; see the module doc.

    ============  ===============  ==============================================================
    symbol        argument         meaning
    ============  ===============  ==============================================================
    m(t)          ``schedule``     multiplier at step t (a callable, or a list: one per group)
    base_g        ``base``         value at m = 1 (None: the group's own value, kept as initial_*)
    floor_g       ``floor``        value at m = 0 (default 0)
    t             ``last_epoch``   steps taken; building performs one, so -1 starts at t = 0
    ============  ===============  ==============================================================

    Taught in: notebooks/09_schedulers.ipynb.
    """

    needs_metric = False  # optimlab.train.fit steps it after every batch (or epoch), without a metric
    chainable = True      # ChainedScheduler may multiply it with others (torch agrees; see there)

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule | Sequence[Schedule],
                 hyperparameter: str = "lr", *, base: float | Sequence[float] | None = None,
                 floor: float | Sequence[float] = 0.0, last_epoch: int = -1) -> None:
        self.optimizer = check_optimizer(optimizer)
        self.hyperparameter = check_hyperparameter(optimizer, hyperparameter)
        count = len(optimizer.param_groups)
        self.schedules = one_per_group("schedule", schedule, count, check=check_schedule)
        self.floors = one_per_group("floor", floor, count)
        check_int("last_epoch", last_epoch, low=-1)
        if base is None:
            self.base_values = group_bases(optimizer, hyperparameter, last_epoch)
        else:
            self.base_values = one_per_group("base", base, count)
        self.companions: list[Scheduler] = []  # schedulers stepped with this one (CyclicLR's momentum)
        self.owned = False                     # True once a ChainedScheduler / SequentialLR steps it
        register_driver(self)
        self.go_to(last_epoch + 1)

    @property
    def hyperparameters(self) -> set[str]:
        """Every hyperparameter this scheduler writes (its own and its companions')."""
        return {self.hyperparameter}.union(*(c.hyperparameters for c in self.companions))

    @property
    def base_lrs(self) -> list[float]:
        """torch's name for the base values of an lr scheduler."""
        return list(self.base_values)

    def multipliers_at(self, step: int) -> list[float]:
        """m_g(step) for every group."""
        return [schedule(step) for schedule in self.schedules]

    def values_at(self, step: int) -> list[float]:
        """value_g(step) = floor_g + (base_g − floor_g) · m_g(step), for every group."""
        return [floor + (base - floor) * m
                for floor, base, m in zip(self.floors, self.base_values, self.multipliers_at(step), strict=True)]

    def go_to(self, step: int) -> None:
        """Write the values at ``step`` into the groups (closed forms allow jumping anywhere)."""
        values = self.values_at(step)  # first, so that a step out of range changes nothing
        self.last_epoch = step
        for group, value in zip(self.optimizer.param_groups, values, strict=True):
            write_hyperparameter(group, self.hyperparameter, value)
        for companion in self.companions:
            companion.go_to(step)
        self._last_lr = [float(group["lr"]) for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance one step; call it after ``optimizer.step()``."""
        check_sole_driver(self)
        self.go_to(self.last_epoch + 1)

    def get_last_lr(self) -> list[float]:
        """The learning rate of every group after the last step (torch's method)."""
        return list(self._last_lr)

    def get_last_value(self) -> list[float]:
        """The scheduled hyperparameter of every group, as the groups hold it now."""
        return [read_hyperparameter(group, self.hyperparameter) for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {
            "hyperparameter": self.hyperparameter, "last_epoch": self.last_epoch,
            "base_values": list(self.base_values), "floors": list(self.floors),
            "companions": [companion.state_dict() for companion in self.companions],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict.get("hyperparameter") != self.hyperparameter:
            raise invalid("state_dict", f"<scheduler of {state_dict.get('hyperparameter')!r}>",
                          f"the state of a scheduler of {self.hyperparameter!r}")
        self.base_values, self.floors = list(state_dict["base_values"]), list(state_dict["floors"])
        for companion, state in zip(self.companions, state_dict["companions"], strict=True):
            companion.load_state_dict(state)
        self.go_to(state_dict["last_epoch"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hyperparameter!r}, last_epoch={self.last_epoch})"


def register_driver(driver: Any) -> None:
    refs = _DRIVERS.setdefault(driver.optimizer, [])
    refs[:] = [ref for ref in refs if ref() is not None]
    refs.append(weakref.ref(driver))


def check_sole_driver(driver: Any) -> None:
    """Refuse to step a scheduler that another one steps, or that shares a hyperparameter with another."""
    name = type(driver).__name__
    if driver.owned:
        raise invalid("scheduler", name, "a scheduler you step yourself: this one belongs to a ChainedScheduler or "
                      "SequentialLR, so step that one instead")
    live = (ref() for ref in _DRIVERS.get(driver.optimizer, []))
    rivals = [d for d in live if d is not None and d is not driver and not d.owned
              and d.hyperparameters & driver.hyperparameters]
    if rivals:
        shared = sorted(rivals[0].hyperparameters & driver.hyperparameters)
        raise invalid("scheduler", name, f"the only live scheduler of {shared} on this optimizer, but "
                      f"{type(rivals[0]).__name__} drives it too. torch multiplies the effects of such "
                      "schedulers; ours write closed-form values, so the last would silently win. Combine them "
                      "with ChainedScheduler([...]) (a product) or SequentialLR([...], milestones) (one after "
                      "another), or drop every reference to the scheduler you no longer use")
