"""torch's decaying schedulers, by name, constructor arguments and values: thin :class:`Scheduler` subclasses.

Each one is a closed-form schedule (:mod:`optimlab.schedules.functions`) handed to :class:`Scheduler`.
The step convention is torch's for all of them: building the scheduler applies step 0 (the first
``optimizer.step()`` uses lr(0)); after n calls to ``step()`` the groups hold lr(n). ``base_lr`` is each
group's own ``initial_lr``; ``t`` is ``last_epoch``.

Back to back on one optimizer they behave as torch's do (see :mod:`optimlab.schedules.scheduler`): StepLR,
MultiStepLR, ConstantLR, LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR and MultiplicativeLR
carry each other's factors (their effects multiply); LambdaLR and CosineAnnealingWarmRestarts overwrite.

Taught in: notebooks/09_schedulers.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from optimlab.schedules.combinators import join
from optimlab.schedules.cycles import CumulativeProduct
from optimlab.schedules.functions import (
    Constant,
    Cosine,
    ExponentialDecay,
    Linear,
    MultiStepDecay,
    Polynomial,
    StepDecay,
    WarmRestarts,
    check_milestones,
)
from optimlab.schedules.groups import check_optimizer, check_schedule, one_per_group, read_hyperparameter
from optimlab.schedules.scheduler import Scheduler, added_group_error, check_epoch_number
from optimlab.validation import check_int, check_non_negative, check_number, check_positive, invalid

Optimizer = torch.optim.Optimizer
Lambda = Callable[[int], float]


class StepLR(Scheduler):
    """lr(t) = base_lr · γ^⌊t / step_size⌋.

    The first update uses base_lr; the update at step ``step_size`` is the first at γ · base_lr. There is
    no last step: the rate keeps dropping every ``step_size`` steps.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size, self.gamma = check_int("step_size", step_size, low=1), check_positive("gamma", gamma)
        super().__init__(optimizer, StepDecay(step_size, gamma), last_epoch=last_epoch)

    def arguments(self) -> dict:
        """The constructor's numeric arguments (saved, and checked on load)."""
        return {"step_size": self.step_size, "gamma": self.gamma}


class MultiStepLR(Scheduler):
    """lr(t) = base_lr · γ^k, k = the number of milestones ≤ t.

    The first update uses base_lr (γ · base_lr if 0 is a milestone); the update at step m is the first
    after milestone m; after the last milestone the rate stays. As in torch, milestones are sorted and a
    repeated milestone multiplies by γ once per repetition: ``[60, 10, 10, 30]`` gives γ² at step 10.
    Negative milestones are refused (torch ignores them when stepping, but not in ``step(epoch)``).

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones = check_milestones("milestones", milestones, repeats=True)
        self.gamma = check_positive("gamma", gamma)
        super().__init__(optimizer, MultiStepDecay(self.milestones, gamma), last_epoch=last_epoch)

    def arguments(self) -> dict:
        """The constructor's numeric arguments (saved, and checked on load)."""
        return {"milestones": list(self.milestones), "gamma": self.gamma}


class ConstantLR(Scheduler):
    """lr(t) = base_lr · factor for t < total_iters, then base_lr: the first ``total_iters`` updates use
    the reduced rate. Needs total_iters >= 1 (torch's total_iters=0 never restores the rate).

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1) -> None:
        self.factor = check_number("factor", factor, low=0.0, high=1.0)
        self.total_iters = check_int("total_iters", total_iters, low=1)
        schedule = join([Constant(factor), Constant(1.0)], [total_iters])
        super().__init__(optimizer, schedule, last_epoch=last_epoch)

    def arguments(self) -> dict:
        """The constructor's numeric arguments (saved, and checked on load)."""
        return {"factor": self.factor, "total_iters": self.total_iters}


class LinearLR(Scheduler):
    """lr(t) = base_lr · (s + (e − s) · min(t, T) / T), s = start_factor, e = end_factor, T = total_iters.

    As a warmup (s < e = 1) the first update uses base_lr · s and the update at step T is the first at
    the peak; the rate stays at base_lr · e after that.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        self.start_factor = check_number("start_factor", start_factor, low=0.0, high=1.0, low_inclusive=False)
        self.end_factor = check_number("end_factor", end_factor, low=0.0, high=1.0)
        self.total_iters = check_int("total_iters", total_iters, low=1)
        super().__init__(optimizer, Linear(start_factor, end_factor, total_iters), last_epoch=last_epoch)

    def arguments(self) -> dict:
        """The constructor's numeric arguments (saved, and checked on load)."""
        return {"start_factor": self.start_factor, "end_factor": self.end_factor, "total_iters": self.total_iters}


class ExponentialLR(Scheduler):
    """lr(t) = base_lr · γ^t: the first update uses base_lr, and the rate changes by γ every step, forever.
    A γ whose power overflows a float (``gamma=1e300``) raises ``ValueError`` at that step (torch's lr
    silently becomes inf).

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = check_positive("gamma", gamma)
        super().__init__(optimizer, ExponentialDecay(gamma), last_epoch=last_epoch)

    def arguments(self) -> dict:
        """The constructor's numeric arguments (saved, and checked on load)."""
        return {"gamma": self.gamma}


class PolynomialLR(Scheduler):
    """lr(t) = base_lr · (1 − min(t, T) / T)^power, T = total_iters.

    The first update uses base_lr; the update at step T is the first at 0, and the rate stays 0.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> None:
        self.total_iters = check_int("total_iters", total_iters, low=1)
        self.power = check_non_negative("power", power)
        super().__init__(optimizer, Polynomial(total_iters, power), last_epoch=last_epoch)

    def arguments(self) -> dict:
        """The constructor's numeric arguments (saved, and checked on load)."""
        return {"total_iters": self.total_iters, "power": self.power}


class CosineAnnealingLR(Scheduler):
    """lr(t) = η_min + (base_lr − η_min) · (1 + cos(π t / T_max)) / 2 (Loshchilov & Hutter, 2017).

    The first update uses base_lr; the update at step T_max uses η_min; past it the cosine rises again
    (period 2·T_max) exactly as torch's does,
    so stop at T_max or use :func:`~optimlab.schedules.warmup_cosine`. torch computes this recursively
    (its doc calls the closed form an approximation); alone, the two agree to rounding. Back to back with
    another scheduler, the distance above η_min is what shrinks (torch's recursion): another factor f
    gives η_min + f·(lr − η_min)-like values, which can fall below η_min; at the bottom of each period
    torch adds the rise back without the other factors, and so do we.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = check_int("T_max", T_max, low=1)
        self.eta_min = check_non_negative("eta_min", eta_min)
        super().__init__(optimizer, Cosine(T_max), floor=eta_min, last_epoch=last_epoch)

    def arguments(self) -> dict:
        """The constructor's numeric arguments (saved, and checked on load)."""
        return {"T_max": self.T_max, "eta_min": self.eta_min}


class CosineAnnealingWarmRestarts(Scheduler):
    """SGDR: lr(t) = η_min + (base_lr − η_min) · (1 + cos(π T_cur / T_i)) / 2, with T_i the current
    period (T_0, then T_0·T_mult, ...) and T_cur the steps since the last restart. The first update
    uses base_lr, and so does the update at each restart step (T_0, then T_0 + T_0·T_mult, ...); the
    rate never quite reaches η_min (the last update of a period uses the value at T_i − 1), and there is
    no last step.

    ``step(epoch)`` takes fractional epochs, as torch documents (``scheduler.step(epoch + i / iters)``
    inside the batch loop), without a warning; a later ``step()`` moves on by 1 from there, and the
    epoch may jump backwards. ``last_epoch`` is the epoch rounded down, as in torch. One deviation: torch
    finds the period of a jump with a floating-point logarithm, which misplaces a few restarts for
    T_mult >= 3; ours walks the periods exactly.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    chainable = False        # torch overwrites the lr with this closed form
    warns_on_epoch = False   # torch documents step(epoch) for this class
    warns_on_order = False   # torch's class overrides step() and never warns

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self.T_0, self.T_mult = check_int("T_0", T_0, low=1), check_int("T_mult", T_mult, low=1)
        self.eta_min = check_non_negative("eta_min", eta_min)
        self.restarts = WarmRestarts(T_0, T_mult)
        self.epoch: float = last_epoch  # where on the restarts' clock we are; last_epoch = ⌊epoch⌋
        super().__init__(optimizer, self.restarts, floor=eta_min, last_epoch=last_epoch)

    def _advance(self) -> None:
        self.go_to(self.epoch + 1)

    def _check_epoch(self, epoch: Any) -> float:
        return check_epoch_number(epoch)

    def go_to(self, step: float) -> None:
        """Write the value at the (possibly fractional) epoch ``step``."""
        super().go_to(step)
        self.epoch, self.last_epoch = step, math.floor(step)

    def go_back_one(self) -> None:
        """Set the epoch back by one (SequentialLR's undo)."""
        self.epoch -= 1
        self.last_epoch = math.floor(self.epoch)

    @property
    def T_cur(self) -> float:
        """Epochs since the last restart (torch's counter; fractional after ``step(2.5)``)."""
        return self.restarts.since_restart(self.epoch)[0]

    @property
    def T_i(self) -> int:
        """The length of the current period (torch's counter)."""
        return self.restarts.since_restart(self.epoch)[1]

    def arguments(self) -> dict:
        """The constructor's numeric arguments (saved, and checked on load)."""
        return {"T_0": self.T_0, "T_mult": self.T_mult, "eta_min": self.eta_min}

    def holds_own_value(self) -> bool:
        """Whether the groups hold the value at the current epoch."""
        return self.get_last_value() == self.values_at(self.epoch)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state, with the fractional ``epoch``."""
        return {**super().state_dict(), "epoch": self.epoch}

    def _check_clock(self, state_dict: dict[str, Any]) -> None:
        super()._check_clock(state_dict)
        epoch = check_number("state_dict['epoch']", state_dict.get("epoch"), low=-1.0)
        if math.floor(epoch) != state_dict["last_epoch"]:
            raise invalid("state_dict['epoch']", epoch,
                          f"a number whose floor is last_epoch={state_dict['last_epoch']}")

    def _load(self, state_dict: dict[str, Any]) -> None:
        super()._load(state_dict)
        self.epoch = state_dict["epoch"]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state, fractional epoch included (see Scheduler.load_state_dict)."""
        self._load(state_dict)
        if state_dict["holds_own_value"]:
            self.go_to(self.epoch)


class LambdaLR(Scheduler):
    """lr(t) = base_lr · lr_lambda(t): any function of the step, or a list of them (one per group).
    The first update uses base_lr · lr_lambda(0). It overwrites the lr (as torch's does), so back to back
    with another scheduler the other's factor is lost until that one steps again. A group added later
    with ``add_param_group`` is refused at the next step (torch fails too): build LambdaLR after it.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    chainable = False  # torch overwrites the lr with base_lr · λ(t), dropping other chained factors

    def __init__(self, optimizer: Optimizer, lr_lambda: Lambda | Sequence[Lambda], last_epoch: int = -1) -> None:
        groups = check_optimizer(optimizer).param_groups
        self.lr_lambdas = one_per_group("lr_lambda", lr_lambda, len(groups), check=check_schedule)
        super().__init__(optimizer, self.lr_lambdas, last_epoch=last_epoch)


class MultiplicativeLR(Scheduler):
    """lr(t) = base_lr · lr_lambda(1) · lr_lambda(2) · … · lr_lambda(t) = base_lr · ∏_{s=1}^{t} lr_lambda(s),
    and lr(0) = base_lr.

    torch multiplies the current lr by lr_lambda(t) at each step; here the product is a function of t
    (:class:`~optimlab.schedules.cycles.CumulativeProduct`). torch has no closed form for ``step(epoch)``:
    it multiplies the current lr by lr_lambda(epoch) once, and so do we (also when SequentialLR starts it
    at its milestone). A group added later is refused at the next step (torch fails too).

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Lambda | Sequence[Lambda], last_epoch: int = -1) -> None:
        groups = check_optimizer(optimizer).param_groups
        self.lr_lambdas = one_per_group("lr_lambda", lr_lambda, len(groups), check=check_schedule)
        super().__init__(optimizer, [CumulativeProduct(f) for f in self.lr_lambdas], last_epoch=last_epoch)

    def _jump(self, epoch: float) -> None:
        groups = self.optimizer.param_groups
        if len(groups) > len(self.lr_lambdas):  # torch fails here too, even for one shared lambda
            raise added_group_error(self, len(self.lr_lambdas), "own lr_lambda")
        values = [read_hyperparameter(group, "lr") * f(epoch) for f, group in zip(self.lr_lambdas, groups, strict=True)]
        self._write(epoch, values)

    def holds_own_value(self) -> bool:
        """Never: after ``step(epoch)`` its value is no closed form, so the optimizer's state restores it."""
        return False  # after step(epoch) its value is no closed form: the optimizer's state restores it
