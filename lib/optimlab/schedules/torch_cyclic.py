"""torch's cyclic schedulers, CyclicLR and OneCycleLR, with momentum (or Adam's β₁) cycled inversely.

Each is a :class:`Scheduler` for the learning rate with a *companion* Scheduler for the momentum, stepped
together and saved together. An optimizer with ``betas`` in its defaults (Adam, AdamW, ...) gets β₁
cycled, one with ``momentum`` (SGD, RMSprop) its momentum, exactly as torch decides (``use_beta1``).

Taught in: notebooks/09_schedulers.ipynb, notebooks/10_schedulers_in_training.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from optimlab.schedules.combinators import complement
from optimlab.schedules.cycles import Anneal, Cyclic, ExpRangeScale, triangular2_scale, triangular_scale
from optimlab.schedules.functions import Schedule
from optimlab.schedules.groups import check_optimizer, check_schedule, one_per_group
from optimlab.schedules.scheduler import Scheduler
from optimlab.validation import (
    check_choice,
    check_int,
    check_non_negative,
    check_number,
    check_positive,
    invalid,
)

Optimizer = torch.optim.Optimizer
Values = float | Sequence[float]
CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


class MomentumCompanion(Scheduler):
    """The momentum (or β₁) half of CyclicLR and OneCycleLR: written with the lr, as a closed form."""

    chainable = False


def add_momentum_companion(lr_scheduler: Scheduler, schedule: Schedule, *, base: Values, floor: Values,
                           last_epoch: int) -> None:
    """Cycle momentum (or β₁) as floor + (base − floor) · schedule(t), stepped with ``lr_scheduler``."""
    optimizer = lr_scheduler.optimizer
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise invalid("cycle_momentum", True, f"False for {type(optimizer).__name__}, which has neither "
                      "momentum nor betas")
    name = "betas[0]" if "betas" in optimizer.defaults else "momentum"
    companion = MomentumCompanion(optimizer, schedule, name, base=base, floor=floor, last_epoch=last_epoch)
    companion.owned = True
    lr_scheduler.companions.append(companion)


class CyclicLR(Scheduler):
    """Cyclical learning rates (Smith, 2017): lr(t) = base_lr + (max_lr − base_lr) · h(t) · scale.

    h(t) is a triangle from 0 to 1 over ``step_size_up`` steps and back over ``step_size_down``; the scale
    is 1 ("triangular"), 1/2^(cycle−1) ("triangular2"), γ^t ("exp_range") or ``scale_fn`` of the cycle
    number or of t (``scale_mode``). Momentum follows max_momentum − (max_momentum − base_momentum) · h · scale.

    Step convention: the first update uses base_lr (and max_momentum); the update at step
    ``step_size_up`` is at the peak; the cycle repeats forever.

    Taught in: notebooks/09_schedulers.ipynb.
    """

    chainable = False  # torch overwrites the lr with this closed form

    def __init__(self, optimizer: Optimizer, base_lr: Values, max_lr: Values, step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular", gamma: float = 1.0,
                 scale_fn: Callable[[float], float] | None = None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum: Values = 0.8, max_momentum: Values = 0.9,
                 last_epoch: int = -1) -> None:
        count = len(check_optimizer(optimizer).param_groups)
        base_lrs = one_per_group("base_lr", base_lr, count, check=check_non_negative)
        self.max_lrs = one_per_group("max_lr", max_lr, count, check=check_non_negative)
        up = check_positive("step_size_up", step_size_up)
        down = up if step_size_down is None else check_non_negative("step_size_down", step_size_down)
        self.mode, self.gamma = mode, check_positive("gamma", gamma)
        scale: Callable[[float], float]
        if scale_fn is None:  # a named mode fixes its own scale_mode, as in torch
            check_choice("mode", mode, CYCLIC_MODES)
            named: dict[str, tuple[Callable[[float], float], str]] = {
                "triangular": (triangular_scale, "cycle"), "triangular2": (triangular2_scale, "cycle"),
                "exp_range": (ExpRangeScale(gamma), "iterations"),
            }
            scale, scale_mode = named[mode]
        else:
            scale = scale_fn
            check_schedule("scale_fn", scale_fn)
        self.cycle = Cyclic(up, down, scale, scale_mode)
        self.cycle_momentum = cycle_momentum
        super().__init__(optimizer, self.cycle, base=self.max_lrs, floor=base_lrs, last_epoch=last_epoch)
        if cycle_momentum:
            bases = one_per_group("max_momentum", max_momentum, count, check=check_non_negative)
            floors = one_per_group("base_momentum", base_momentum, count, check=check_non_negative)
            add_momentum_companion(self, complement(self.cycle), base=bases, floor=floors, last_epoch=last_epoch)

    @property
    def base_lrs(self) -> list[float]:
        """torch's name for the lower bounds of the cycle (``base_lr``)."""
        return list(self.floors)


class OneCycleLR(Scheduler):
    """The 1cycle policy (Smith & Topin, 2019, arXiv:1708.07120) as torch and fastai run it.

    The lr goes from max_lr/div_factor up to max_lr, then down to max_lr/(div_factor·final_div_factor),
    by half-cosines (``anneal_strategy="cos"``) or lines; momentum (or β₁) goes the other way, from
    max_momentum down to base_momentum and back. ``three_phase=True`` follows the paper instead: up,
    back down to the start symmetrically, then a final anneal to the minimum (momentum stays at max).

    Step convention: the first update uses max_lr/div_factor; the peak is at step
    pct_start·total_steps − 1 (the knot may be fractional, as in torch); the update at step
    total_steps − 1 uses the minimum. One more step (t = total_steps) is allowed and extrapolates, as in
    torch; any further ``step()`` raises ``ValueError``.

    Taught in: notebooks/09_schedulers.ipynb, notebooks/10_schedulers_in_training.ipynb.
    """

    chainable = False  # torch overwrites the lr with this closed form

    def __init__(self, optimizer: Optimizer, max_lr: Values, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True, base_momentum: Values = 0.85,
                 max_momentum: Values = 0.95, div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1) -> None:
        count = len(check_optimizer(optimizer).param_groups)
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        check_number("pct_start", pct_start, low=0.0, high=1.0)
        check_choice("anneal_strategy", anneal_strategy, ("cos", "linear"))
        initial = 1.0 / check_positive("div_factor", div_factor)            # as fractions of max_lr
        final = initial / check_positive("final_div_factor", final_div_factor)
        knots = _knots(self.total_steps, pct_start, three_phase)
        lr_values = (initial, 1.0, initial, final) if three_phase else (initial, 1.0, final)
        momentum_values = (1.0, 0.0, 1.0, 1.0) if three_phase else (1.0, 0.0, 1.0)  # 1: max, 0: base
        self.max_lrs = one_per_group("max_lr", max_lr, count, check=check_non_negative)
        self.cycle_momentum = cycle_momentum
        super().__init__(optimizer, Anneal(knots, lr_values, anneal_strategy), base=self.max_lrs,
                         last_epoch=last_epoch)
        if cycle_momentum:
            bases = one_per_group("max_momentum", max_momentum, count, check=check_non_negative)
            floors = one_per_group("base_momentum", base_momentum, count, check=check_non_negative)
            add_momentum_companion(self, Anneal(knots, momentum_values, anneal_strategy), base=bases,
                                   floor=floors, last_epoch=last_epoch)

    def values_at(self, step: float) -> list[float]:
        """The closed form at ``step``; past ``total_steps`` the cycle is over (``ValueError``, as in torch)."""
        if step > self.total_steps:
            raise invalid("step", step, f"at most total_steps={self.total_steps}: the cycle is over. Tried to step "
                          f"{step} times. The specified number of total steps is {self.total_steps} (torch's "
                          "words); count the updates your loop really makes (a last partial batch counts) and "
                          "build the scheduler with that many total_steps")
        return super().values_at(step)


def _total_steps(total_steps: int | None, epochs: int | None, steps_per_epoch: int | None) -> int:
    if total_steps is not None:
        return check_int("total_steps", total_steps, low=1)
    if epochs is None or steps_per_epoch is None:
        raise invalid("total_steps", None, "an integer >= 1, or both epochs and steps_per_epoch")
    return check_int("epochs", epochs, low=1) * check_int("steps_per_epoch", steps_per_epoch, low=1)


def _knots(total_steps: int, pct_start: float, three_phase: bool) -> tuple[float, ...]:
    """Phase ends exactly as torch computes them; every phase must span some steps."""
    peak = float(pct_start * total_steps) - 1
    if peak <= 0:
        raise invalid("total_steps", total_steps, f"more than 1/pct_start = {1 / pct_start if pct_start else 'inf'} "
                      f"so that the warm-up phase (pct_start={pct_start}) ends after step 0")
    knots = (0.0, peak, float(2 * pct_start * total_steps) - 2) if three_phase else (0.0, peak)
    if total_steps - 1 <= knots[-1]:
        limit = "(total_steps + 1) / (2 · total_steps)" if three_phase else "1"
        raise invalid("pct_start", pct_start, f"less than {limit}, so that the last phase has some steps")
    return (*knots, float(total_steps - 1))
