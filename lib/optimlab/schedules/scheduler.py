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

Several schedulers on one optimizer, stepped back to back (torch's "chainable" behaviour). A scheduler
alone writes its closed form value(t). When the group holds something else (another scheduler, or the
user, changed it since), it keeps that change and moves it as torch's recursive formulas do::

    new = floor + (current − floor) · m(t) / m(t−1)      (only a ratio: another scheduler's factor survives)
    new = current + (base − floor) · m(t)                 (m(t−1) = 0: torch's cosine leaving its floor adds)

For a lone scheduler ``current = value(t−1)`` and both lines give value(t): the closed form is what torch
computes, and back-to-back schedulers multiply as torch's do, in either order. Classes whose torch twin
overwrites the lr (``chainable = False``: LambdaLR, CyclicLR, OneCycleLR, CosineAnnealingWarmRestarts)
always write their closed form, dropping other factors until those step again, as torch does.

``step(epoch)`` (deprecated by torch, with its warning) jumps to value(epoch), torch's closed form.
``scheduler.step()`` before any ``optimizer.step()`` warns as torch does, except when the optimizer's
gradients hold inf or NaN: that is ``torch.amp.GradScaler`` skipping the first step on purpose (torch's
false alarm), so we stay quiet. A group added with ``optimizer.add_param_group`` later is scheduled from
its own value by the carrying classes; where a value needs the group's base (closed forms), a
``ValueError`` names ``add_param_group`` and says what to do.

Checkpoints: ``state_dict()`` holds ``last_epoch``, the base and floor values, the constructor's numeric
arguments, and whether the groups held this scheduler's own value when saved. ``load_state_dict()``
checks all of it with the constructor's rules, then rewrites that value into the groups only if they held
it (so a lone scheduler may be loaded before or after ``optimizer.load_state_dict()``); for back-to-back
schedulers the optimizer's state restores the product. The schedule is not saved (it may be a lambda):
rebuild the scheduler with the same arguments, then load.

Taught in: notebooks/09_schedulers.ipynb.
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import EPOCH_DEPRECATION_WARNING

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
from optimlab.validation import check_int, check_non_negative, check_number, invalid

ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. In PyTorch 1.1.0 and later, you should "
    "call them in the opposite order: `optimizer.step()` before `lr_scheduler.step()`.  Failure to do this will "
    "result in PyTorch skipping the first value of the learning rate schedule. See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)

# optimizer -> True once its step() ran after a scheduler was attached (a step post-hook sets it).
_STEPPED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def watch_optimizer_steps(optimizer: torch.optim.Optimizer) -> None:
    """Record, once per optimizer, whether its ``step()`` has run (for torch's order warning)."""
    if optimizer in _STEPPED:
        return
    _STEPPED[optimizer] = False

    def stepped(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        _STEPPED[opt] = True

    optimizer.register_step_post_hook(stepped)


def warn_if_optimizer_not_stepped(optimizer: torch.optim.Optimizer, stacklevel: int) -> None:
    """torch's UserWarning for ``scheduler.step()`` before any ``optimizer.step()``, but not when a gradient
    holds inf/NaN: then GradScaler skipped the step on purpose, and the warning would be a false alarm."""
    if _STEPPED.get(optimizer, True):
        return
    grads = (p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None)
    if any(not torch.isfinite(grad).all() for grad in grads):
        return
    warnings.warn(ORDER_WARNING, UserWarning, stacklevel=stacklevel + 1)


def added_group_error(scheduler: Any, index: int, what: str) -> ValueError:
    """The error for a param group added with ``add_param_group`` that this scheduler cannot schedule."""
    name = type(scheduler).__name__
    return ValueError(
        f"param_groups[{index}] was added with optimizer.add_param_group() after {name} was built for "
        f"{scheduler.group_count} group(s), and {name} needs its {what} (torch fails here too). Build the "
        f"scheduler after add_param_group(), or give {name} one value per group of the final optimizer")


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

    last_epoch: float       # an int, except CosineAnnealingWarmRestarts' fractional epochs (then ⌊epoch⌋)
    needs_metric = False    # optimlab.train.fit steps it after every batch (or epoch), without a metric
    chainable = True        # carries other schedulers' changes, as torch's recursive classes do
    warns_on_epoch = True   # step(epoch) gives torch's deprecation warning
    warns_on_order = True   # step() before optimizer.step() gives torch's order warning

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule | Sequence[Schedule],
                 hyperparameter: str = "lr", *, base: float | Sequence[float] | None = None,
                 floor: float | Sequence[float] = 0.0, last_epoch: int = -1) -> None:
        self.optimizer = check_optimizer(optimizer)
        self.hyperparameter = check_hyperparameter(optimizer, hyperparameter)
        count = self.group_count = len(optimizer.param_groups)
        self.schedules = one_per_group("schedule", schedule, count, check=check_schedule)
        self.floors = one_per_group("floor", floor, count, check=check_non_negative)
        check_int("last_epoch", last_epoch, low=-1)
        if base is None:
            self.base_values = group_bases(optimizer, hyperparameter, last_epoch)
        else:
            self.base_values = one_per_group("base", base, count, check=check_non_negative)
        self.companions: list[Scheduler] = []  # schedulers stepped with this one (CyclicLR's momentum)
        self.owned = False                     # True once a ChainedScheduler / SequentialLR steps it
        self._step_count = 0                   # calls of step() by the user (torch warns at the first)
        watch_optimizer_steps(optimizer)
        self.last_epoch = last_epoch
        if last_epoch == -1:
            self._advance()
        else:  # resuming: the closed form at the next step
            self.go_to(last_epoch + 1)

    @property
    def base_lrs(self) -> list[float]:
        """torch's name for the base values of an lr scheduler."""
        return list(self.base_values)

    @property
    def hyperparameters(self) -> set[str]:
        """Every hyperparameter this scheduler writes (its own and its companions')."""
        return {self.hyperparameter}.union(*(c.hyperparameters for c in self.companions))

    # --- the schedule, per group ------------------------------------------------------------------
    def _per_group(self, values: list, index: int, what: str) -> Any:
        """values[index]; for a group added later, the one value all groups share, if there is one."""
        if index < len(values):
            return values[index]
        if what != "base value" and all(value is values[0] for value in values):
            return values[0]
        raise added_group_error(self, index, what)

    def multiplier(self, index: int, step: float) -> float:
        """m_g(step) for group ``index``."""
        return self._per_group(self.schedules, index, "own schedule")(step)

    def value(self, index: int, multiplier: float) -> float:
        """floor_g + (base_g − floor_g) · multiplier, for group ``index``."""
        floor = self._per_group(self.floors, index, "floor")
        return floor + (self._per_group(self.base_values, index, "base value") - floor) * multiplier

    def multipliers_at(self, step: float) -> list[float]:
        """m_g(step) for every group."""
        return [self.multiplier(g, step) for g in range(len(self.optimizer.param_groups))]

    def values_at(self, step: float) -> list[float]:
        """value_g(step) = floor_g + (base_g − floor_g) · m_g(step), for every group: the closed form."""
        return [self.value(g, self.multiplier(g, step)) for g in range(len(self.optimizer.param_groups))]

    # --- moving the clock -------------------------------------------------------------------------
    def _carry(self, index: int, current: float, before: float, after: float) -> float:
        """torch's recursive step for group ``index``: the value moves by this schedule's change alone."""
        if after == before:
            return current
        if before == 0:  # a cosine at its floor: torch adds the rise (and drops other factors)
            return current + (self._per_group(self.base_values, index, "base value")
                              - self._per_group(self.floors, index, "floor")) * after
        floor = self._per_group(self.floors, index, "floor")
        return floor + (current - floor) * (after / before)

    def _advance(self) -> None:
        """Move one step (building the scheduler moves from 'before step 0' to step 0)."""
        step = self.last_epoch + 1
        if not self.chainable:  # torch's twin overwrites the lr with its closed form
            self.go_to(step)
            return
        values = []
        for g, group in enumerate(self.optimizer.param_groups):
            after = self.multiplier(g, step)
            before = 1.0 if step == 0 else self.multiplier(g, step - 1)  # before step 0 a group holds its base
            current = read_hyperparameter(group, self.hyperparameter)
            alone = g < len(self.base_values) and current == self.value(g, before)
            values.append(self.value(g, after) if alone else self._carry(g, current, before, after))
        self._write(step, values)

    def _jump(self, epoch: float) -> None:
        """``step(epoch)``: torch's closed form at ``epoch`` (overridden where torch has none)."""
        self.go_to(epoch)

    def go_to(self, step: float) -> None:
        """Write the closed form at ``step`` into the groups (closed forms allow jumping anywhere)."""
        self._write(step, self.values_at(step))  # values first, so that a step out of range changes nothing

    def _write(self, step: float, values: list[float]) -> None:
        for g, value in enumerate(values):
            if not math.isfinite(value):
                raise invalid("step", step, f"a step at which {type(self).__name__}'s value is finite: group {g} "
                              f"would get {value!r}; use smaller factors or fewer steps")
        self.last_epoch = step
        for group, value in zip(self.optimizer.param_groups, values, strict=True):
            write_hyperparameter(group, self.hyperparameter, value)
        for companion in self.companions:
            companion.go_to(step)
        self._last_lr = [group["lr"].clone() if isinstance(group["lr"], torch.Tensor) else group["lr"]
                         for group in self.optimizer.param_groups]

    def _check_epoch(self, epoch: Any) -> float:
        return check_int("epoch", epoch, low=0)

    def go_back_one(self) -> None:
        """Set the clock back by one step without writing (torch's SequentialLR does this to its parts)."""
        self.last_epoch -= 1

    def _step(self, epoch: Any = None) -> None:
        """One step, with torch's warnings; containers (ChainedScheduler, SequentialLR) call this."""
        self._step_count += 1
        if self._step_count == 1 and self.warns_on_order:
            warn_if_optimizer_not_stepped(self.optimizer, stacklevel=3)
        if epoch is None:
            self._advance()
            return
        if self.warns_on_epoch:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=3)
        self._jump(self._check_epoch(epoch))

    def step(self, epoch: int | None = None) -> None:
        """Advance one step; call it after ``optimizer.step()``. ``step(epoch)`` jumps to ``epoch``
        (torch deprecates it and warns; only CosineAnnealingWarmRestarts documents it)."""
        check_not_owned(self)
        self._step(epoch)

    def get_last_lr(self) -> list[float | torch.Tensor]:
        """The learning rate of every group after the last step (torch's method; a Tensor lr as a copy)."""
        return list(self._last_lr)

    def get_last_value(self) -> list[float]:
        """The scheduled hyperparameter of every group, as the groups hold it now."""
        return [read_hyperparameter(group, self.hyperparameter) for group in self.optimizer.param_groups]

    # --- checkpoints ------------------------------------------------------------------------------
    def arguments(self) -> dict[str, Any]:
        """The constructor's numeric arguments, saved with the state and checked when it is loaded."""
        return {}

    def holds_own_value(self) -> bool:
        """Whether every group holds exactly this scheduler's closed form at ``last_epoch``."""
        try:
            return self.last_epoch >= 0 and self.get_last_value() == self.values_at(self.last_epoch)
        except ValueError:  # a group added later has no closed form
            return False

    def state_dict(self) -> dict[str, Any]:
        """Plain data (no functions): class, step, bases, floors, arguments, and the companions' states."""
        return {
            "scheduler": type(self).__name__, "hyperparameter": self.hyperparameter, "last_epoch": self.last_epoch,
            "base_values": list(self.base_values), "floors": list(self.floors), "arguments": self.arguments(),
            "step_count": self._step_count, "holds_own_value": self.holds_own_value(),
            "last_lr": [float(lr) for lr in self._last_lr],
            "companions": [companion.state_dict() for companion in self.companions],
        }

    def _check_state(self, state_dict: Any) -> None:
        """Refuse a state that the constructor would refuse, or that belongs to another scheduler."""
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise invalid("state_dict", type(state_dict).__name__, f"a dict from {name}.state_dict()")
        missing = sorted({"scheduler", "hyperparameter", "last_epoch", "base_values", "floors", "arguments",
                          "holds_own_value", "companions"} - set(state_dict))
        if missing:
            raise invalid("state_dict", f"<dict without {missing}>", f"a dict from {name}.state_dict()")
        if state_dict["scheduler"] != name:
            raise invalid("state_dict", f"<state of {state_dict['scheduler']}>", f"the state of a {name}: a "
                          f"{state_dict['scheduler']} state cannot be loaded into a {name}")
        if state_dict["hyperparameter"] != self.hyperparameter:
            raise invalid("state_dict", f"<scheduler of {state_dict['hyperparameter']!r}>",
                          f"the state of a scheduler of {self.hyperparameter!r}")
        self._check_clock(state_dict)
        for key in ("base_values", "floors"):
            values = state_dict[key]
            if not isinstance(values, list) or len(values) != len(self.base_values):
                raise invalid(f"state_dict[{key!r}]", values, f"a list of {len(self.base_values)} numbers >= 0")
            for index, value in enumerate(values):
                check_non_negative(f"state_dict[{key!r}][{index}]", value)
        for key, value in self.arguments().items():
            if state_dict["arguments"].get(key) != value:
                raise invalid(f"state_dict['arguments'][{key!r}]", state_dict["arguments"].get(key),
                              f"{value!r}, this {name}'s {key}: rebuild the scheduler with the saved arguments")
        if len(state_dict["companions"]) != len(self.companions):
            raise invalid("state_dict['companions']", len(state_dict["companions"]), f"{len(self.companions)} states")

    def _check_clock(self, state_dict: dict[str, Any]) -> None:
        check_int("state_dict['last_epoch']", state_dict["last_epoch"], low=-1)

    def _load(self, state_dict: dict[str, Any]) -> None:
        """Restore the state without touching the groups."""
        self._check_state(state_dict)
        for companion, state in zip(self.companions, state_dict["companions"], strict=True):
            companion._check_state(state)
        self.base_values, self.floors = list(state_dict["base_values"]), list(state_dict["floors"])
        self.last_epoch = state_dict["last_epoch"]
        self._step_count = state_dict.get("step_count", 1)
        self._last_lr = list(state_dict.get("last_lr", self.get_last_value()))
        for companion, state in zip(self.companions, state_dict["companions"], strict=True):
            companion._load(state)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by a scheduler built with the same arguments; see the module doc."""
        self._load(state_dict)
        if state_dict["holds_own_value"]:
            self.go_to(self.last_epoch)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hyperparameter!r}, last_epoch={self.last_epoch})"


def check_not_owned(driver: Any) -> None:
    """Refuse to step a scheduler that a ChainedScheduler or SequentialLR steps (it would step twice)."""
    if driver.owned:
        raise invalid("scheduler", type(driver).__name__, "a scheduler you step yourself: this one belongs to a "
                      "ChainedScheduler or SequentialLR, so step that one instead")


def check_epoch_number(epoch: Any) -> float:
    """A fractional epoch (CosineAnnealingWarmRestarts): a finite number >= 0."""
    return check_number("epoch", epoch, low=0.0)
