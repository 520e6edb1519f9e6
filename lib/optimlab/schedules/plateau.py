"""ReduceLROnPlateau: the one scheduler driven by a measured metric instead of the step count.

Taught in: notebooks/09_schedulers.ipynb, notebooks/10_schedulers_in_training.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, SupportsFloat

import torch

from optimlab.schedules.groups import check_optimizer, one_per_group, read_hyperparameter, write_hyperparameter
from optimlab.schedules.scheduler import check_sole_driver, register_driver
from optimlab.validation import check_choice, check_fraction, check_int, check_non_negative


class ReduceLROnPlateau:
    """Multiply every group's lr by ``factor`` once the metric has not improved for ``patience`` epochs.

    Exactly torch's rule, once per ``step(metric)`` (once per epoch in :func:`optimlab.train.fit`, which
    reads ``needs_metric``):

    1. improved = metric < best·(1 − threshold) ("min", "rel"), metric < best − threshold ("min", "abs"),
       metric > best·(1 + threshold) ("max", "rel") or metric > best + threshold ("max", "abs");
       best starts at +∞ ("min") or −∞ ("max"), so the first metric always improves.
    2. improved: best = metric and bad_epochs = 0; otherwise bad_epochs += 1.
    3. during a cooldown (``cooldown`` epochs after a reduction) bad epochs are not counted.
    4. bad_epochs > patience: lr_g ← max(lr_g · factor, min_lr_g), skipped when it would change the lr by
       ``eps`` or less; then the cooldown starts and bad_epochs = 0.

    Step convention: building it changes nothing (the first update uses the optimizer's own lr); a
    reduction made by ``step(metric)`` is used from the next update on; there is no last step.

    Not a function of the step, so it has no schedule and cannot join SequentialLR or ChainedScheduler.
    It reads and writes the groups' current lr, so a checkpoint needs the optimizer's state as well as
    this one's (``best``, ``num_bad_epochs``, ``cooldown_counter``, ``last_epoch``); load them in any order.

    Taught in: notebooks/09_schedulers.ipynb, notebooks/10_schedulers_in_training.ipynb.
    """

    needs_metric = True  # optimlab.train.fit steps it once per epoch with the monitored metric
    chainable = False
    owned = False
    hyperparameters = frozenset({"lr"})

    def __init__(self, optimizer: torch.optim.Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8) -> None:
        self.optimizer = check_optimizer(optimizer)
        self.mode = check_choice("mode", mode, ("min", "max"))
        self.factor = check_fraction("factor", factor)
        self.patience = check_int("patience", patience, low=0)
        self.threshold = check_non_negative("threshold", threshold)
        self.threshold_mode = check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = check_int("cooldown", cooldown, low=0)
        self.min_lrs = one_per_group("min_lr", min_lr, len(optimizer.param_groups), check=check_non_negative)
        self.eps = check_non_negative("eps", eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = self._lrs()
        register_driver(self)

    def is_better(self, metric: float) -> bool:
        """Whether ``metric`` beats ``best`` by more than the threshold (rule 1)."""
        if self.mode == "min":
            bar = self.best * (1 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold
            return metric < bar
        bar = self.best * (1 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold
        return metric > bar

    def step(self, metrics: SupportsFloat) -> None:
        """Record one epoch's metric (a float or a 0-dim tensor) and reduce the lr if it has stalled."""
        check_sole_driver(self)
        metric = float(metrics)
        self.last_epoch += 1
        if self.is_better(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # rule 3
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:  # rule 4
            self._reduce()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self._lrs()

    def _reduce(self) -> None:
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
            old = read_hyperparameter(group, "lr")
            new = max(old * self.factor, min_lr)   # lr ← max(lr · factor, min_lr)
            if old - new > self.eps:               # a change smaller than eps is not worth making
                write_hyperparameter(group, "lr", new)

    def _lrs(self) -> list[float]:
        return [read_hyperparameter(group, "lr") for group in self.optimizer.param_groups]

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        keys = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lrs", "eps",
                "best", "num_bad_epochs", "cooldown_counter", "last_epoch", "_last_lr")
        return {key: list(value) if isinstance(value, list) else value
                for key, value in ((key, getattr(self, key)) for key in keys)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)

    def __repr__(self) -> str:
        return f"ReduceLROnPlateau(mode={self.mode!r}, best={self.best}, num_bad_epochs={self.num_bad_epochs})"
