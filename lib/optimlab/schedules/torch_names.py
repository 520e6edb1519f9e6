"""torch's decaying schedulers, by name, constructor arguments and values: thin :class:`Scheduler` subclasses.

Each one is a closed-form schedule (:mod:`optimlab.schedules.functions`) handed to :class:`Scheduler`,
never torch's recursive "chainable" formula. The step convention is torch's for all of them: building the
scheduler applies step 0 (the first ``optimizer.step()`` uses lr(0)); after n calls to ``step()`` the groups
hold lr(n). ``base_lr`` is each group's own ``initial_lr``; ``t`` is ``last_epoch``.

Taught in: notebooks/09_schedulers.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

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
from optimlab.schedules.groups import check_optimizer, check_schedule, one_per_group
from optimlab.schedules.scheduler import Scheduler
from optimlab.validation import check_int, check_non_negative, check_number, check_positive

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


class MultiStepLR(Scheduler):
    """lr(t) = base_lr · γ^k, k = the number of milestones ≤ t.

    The first update uses base_lr (γ · base_lr if 0 is a milestone); the update at step m is the first
    after milestone m; after the last milestone the rate stays. Milestones must strictly increase (a set
    is sorted); torch also accepts unsorted lists and repeated milestones, which we refuse as probable typos.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones = check_milestones("milestones", milestones)
        self.gamma = check_positive("gamma", gamma)
        super().__init__(optimizer, MultiStepDecay(self.milestones, gamma), last_epoch=last_epoch)


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


class ExponentialLR(Scheduler):
    """lr(t) = base_lr · γ^t: the first update uses base_lr, and the rate changes by γ every step, forever.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = check_positive("gamma", gamma)
        super().__init__(optimizer, ExponentialDecay(gamma), last_epoch=last_epoch)


class PolynomialLR(Scheduler):
    """lr(t) = base_lr · (1 − min(t, T) / T)^power, T = total_iters.

    The first update uses base_lr; the update at step T is the first at 0, and the rate stays 0.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> None:
        self.total_iters = check_int("total_iters", total_iters, low=1)
        self.power = check_non_negative("power", power)
        super().__init__(optimizer, Polynomial(total_iters, power), last_epoch=last_epoch)


class CosineAnnealingLR(Scheduler):
    """lr(t) = η_min + (base_lr − η_min) · (1 + cos(π t / T_max)) / 2 (Loshchilov & Hutter, 2017).

    The first update uses base_lr; the update at step T_max uses η_min; past it the cosine rises again
    (period 2·T_max) exactly as torch's does,
    so stop at T_max or use :func:`~optimlab.schedules.warmup_cosine`. torch computes this recursively
    (its doc calls the closed form an approximation); the two agree to rounding. With η_min > 0 the
    value is not base_lr times a multiplier, so it cannot join a ChainedScheduler.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = check_int("T_max", T_max, low=1)
        self.eta_min = check_non_negative("eta_min", eta_min)
        self.chainable = eta_min == 0
        super().__init__(optimizer, Cosine(T_max), floor=eta_min, last_epoch=last_epoch)


class CosineAnnealingWarmRestarts(Scheduler):
    """SGDR: lr(t) = η_min + (base_lr − η_min) · (1 + cos(π T_cur / T_i)) / 2, with T_i the current
    period (T_0, then T_0·T_mult, ...) and T_cur the steps since the last restart. The first update
    uses base_lr, and so does the update at each restart step (T_0, then T_0 + T_0·T_mult, ...); the
    rate never quite reaches η_min, and there is no last step.

    Only integer steps: torch's ``step(epoch)`` with fractional epochs is not supported.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    chainable = False  # torch overwrites the lr with this closed form, so it does not chain

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self.T_0, self.T_mult = check_int("T_0", T_0, low=1), check_int("T_mult", T_mult, low=1)
        self.eta_min = check_non_negative("eta_min", eta_min)
        self.restarts = WarmRestarts(T_0, T_mult)
        super().__init__(optimizer, self.restarts, floor=eta_min, last_epoch=last_epoch)

    @property
    def T_cur(self) -> int:
        return self.restarts.since_restart(self.last_epoch)[0]

    @property
    def T_i(self) -> int:
        return self.restarts.since_restart(self.last_epoch)[1]


class LambdaLR(Scheduler):
    """lr(t) = base_lr · lr_lambda(t): any function of the step, or a list of them (one per group).
    The first update uses base_lr · lr_lambda(0).

    Taught in: notebooks/09_schedulers.ipynb.
    """

    chainable = False  # torch overwrites the lr with base_lr · λ(t), dropping other chained factors

    def __init__(self, optimizer: Optimizer, lr_lambda: Lambda | Sequence[Lambda], last_epoch: int = -1) -> None:
        groups = check_optimizer(optimizer).param_groups
        self.lr_lambdas = one_per_group("lr_lambda", lr_lambda, len(groups), check=check_schedule)
        super().__init__(optimizer, self.lr_lambdas, last_epoch=last_epoch)


class MultiplicativeLR(Scheduler):
    """lr(t) = base_lr · lr_lambda(1) · lr_lambda(2) · … · lr_lambda(t); lr(0) = base_lr.

    torch multiplies the current lr by lr_lambda(t) at each step; here the product is a function of t
    (:class:`~optimlab.schedules.cycles.CumulativeProduct`). One deviation: inside SequentialLR, torch's
    MultiplicativeLR starts from whatever lr the previous scheduler left; ours starts from base_lr.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Lambda | Sequence[Lambda], last_epoch: int = -1) -> None:
        groups = check_optimizer(optimizer).param_groups
        self.lr_lambdas = one_per_group("lr_lambda", lr_lambda, len(groups), check=check_schedule)
        super().__init__(optimizer, [CumulativeProduct(f) for f in self.lr_lambdas], last_epoch=last_epoch)
