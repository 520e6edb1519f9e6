"""SWALR: anneal every group's learning rate to a fixed ``swa_lr`` for stochastic weight averaging.

torch's ``torch.optim.swa_utils.SWALR``, as a :class:`~optimlab.schedules.scheduler.Scheduler` with floor
``swa_lr`` and the multiplier

    m(t) = 1 − α(min(1, t / E)),     α(f) = (1 − cos πf) / 2  ("cos")  or  f  ("linear"),   E = anneal_epochs

so lr(t) = swa_lr + (lr₀ − swa_lr) · m(t): lr₀ at t = 0, swa_lr from t = E on (from t = 0 when E = 0).

torch computes SWALR recursively from the lr the group holds (its ``_get_initial_lr``). The scheduler
class's carrying step, ``swa_lr + (current − swa_lr) · m(t) / m(t − 1)``, is algebraically the same
recursion, so SWALR anneals from whatever rate the group holds when it starts stepping — the usual pattern
is to build it after another schedule has run, or to switch to it at ``swa_start`` — exactly as torch's does.

Taught in: notebooks/13_modern_optimizers.ipynb.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from optimlab.schedules.functions import half_cosine
from optimlab.schedules.scheduler import Scheduler
from optimlab.validation import check_choice, check_int, check_non_negative, invalid

ANNEAL_STRATEGIES = ("cos", "linear")


@dataclass(frozen=True)
class SWAAnneal:
    """The multiplier m(t) = 1 − α(min(1, t / E)): 1 at t = 0, 0 from t = E on (always 0 when E = 0).

    >>> [round(SWAAnneal(4, "linear")(t), 2) for t in range(6)]
    [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    >>> [round(SWAAnneal(2, "cos")(t), 2) for t in range(4)]
    [1.0, 0.5, 0.0, 0.0]

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    anneal_epochs: int
    strategy: str = "cos"

    def __call__(self, step: float) -> float:
        if self.anneal_epochs == 0:
            return 0.0  # torch jumps straight to swa_lr
        fraction = max(0.0, min(1.0, step / self.anneal_epochs))
        alpha = 1 - half_cosine(fraction) if self.strategy == "cos" else fraction  # α(f) = (1 − cos πf) / 2
        return 1.0 - alpha


class SWALR(Scheduler):
    """lr(t) = swa_lr + (lr₀ − swa_lr) · (1 − α(min(1, t / anneal_epochs))), torch's SWALR; see the module doc.

    ``swa_lr`` is one rate for every group or a list (one per group); each group also gets torch's
    ``group["swa_lr"]``. ``anneal_epochs`` counts ``step()`` calls (epochs in torch's examples, or steps).
    Step convention as every scheduler here: building it applies t = 0 (the group's lr, unless
    ``anneal_epochs=0``: then swa_lr at once).

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, swa_lr: float | Sequence[float], anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1) -> None:
        self.anneal_epochs = check_int("anneal_epochs", anneal_epochs, low=0)
        self.anneal_strategy = check_choice("anneal_strategy", anneal_strategy, ANNEAL_STRATEGIES)
        count = len(optimizer.param_groups) if isinstance(optimizer, torch.optim.Optimizer) else 0
        swa_lrs = list(swa_lr) if isinstance(swa_lr, (list, tuple)) else [swa_lr] * count
        if len(swa_lrs) != count:
            raise invalid("swa_lr", swa_lr, f"one number >= 0 or a list of {count}, one per param group")
        self.swa_lrs = [check_non_negative(f"swa_lr[{i}]" if isinstance(swa_lr, (list, tuple)) else "swa_lr", lr)
                        for i, lr in enumerate(swa_lrs)]
        super().__init__(optimizer, SWAAnneal(anneal_epochs, anneal_strategy), floor=self.swa_lrs,
                         last_epoch=last_epoch)
        for group, lr in zip(optimizer.param_groups, self.swa_lrs, strict=True):
            group["swa_lr"] = lr  # torch keeps it in the group too

    def arguments(self) -> dict:
        """The constructor's arguments (saved, and checked on load)."""
        return {"swa_lr": list(self.swa_lrs), "anneal_epochs": self.anneal_epochs,
                "anneal_strategy": self.anneal_strategy}
