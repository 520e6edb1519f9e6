"""ReduceLROnPlateau: the one scheduler driven by a measured metric instead of the step count.

Taught in: notebooks/09_schedulers.ipynb, notebooks/10_schedulers_in_training.ipynb.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, SupportsFloat

import torch
from torch.optim.lr_scheduler import EPOCH_DEPRECATION_WARNING

from optimlab.schedules.groups import check_optimizer, one_per_group, read_hyperparameter, write_hyperparameter
from optimlab.schedules.scheduler import added_group_error, check_not_owned
from optimlab.validation import check_choice, check_fraction, check_int, check_non_negative, check_number, invalid


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

    Not a function of the step, so it has no schedule and cannot join SequentialLR or ChainedScheduler;
    ``step()`` without a metric is a ``TypeError``, as in torch. It reads and writes the groups' current lr,
    so beside another scheduler its reductions multiply with that one's factors, as in torch. A group added
    later gets the scalar ``min_lr`` (a per-group list cannot cover it: ``ValueError`` naming
    ``add_param_group``, where torch raises ``RuntimeError``). ``step(metric, epoch)`` sets ``last_epoch``
    with torch's deprecation warning. A checkpoint needs the optimizer's state as well as this one's
    (``best``, ``num_bad_epochs``, ``cooldown_counter``, ``last_epoch``); load them in any order.

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
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else self.min_lrs[0]
        self.group_count = len(optimizer.param_groups)
        self.eps = check_non_negative("eps", eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = self._lrs()

    def is_better(self, metric: float) -> bool:
        """Whether ``metric`` beats ``best`` by more than the threshold (rule 1)."""
        if self.mode == "min":
            bar = self.best * (1 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold
            return metric < bar
        bar = self.best * (1 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold
        return metric > bar

    def step(self, metrics: SupportsFloat, epoch: int | None = None) -> None:
        """Record one epoch's metric (a float or a 0-dim tensor) and reduce the lr if it has stalled."""
        check_not_owned(self)
        metric = float(metrics)
        if epoch is None:
            self.last_epoch += 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
            self.last_epoch = check_int("epoch", epoch, low=0)
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
        if len(self.min_lrs) != len(self.optimizer.param_groups):  # groups added with add_param_group
            if self.default_min_lr is None:
                raise added_group_error(self, len(self.min_lrs), "min_lr (min_lr was given as a list)")
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
            old = read_hyperparameter(group, "lr")
            new = max(old * self.factor, min_lr)   # lr ← max(lr · factor, min_lr)
            if old - new > self.eps:               # a change smaller than eps is not worth making
                write_hyperparameter(group, "lr", new)

    def _lrs(self) -> list[float]:
        return [read_hyperparameter(group, "lr") for group in self.optimizer.param_groups]

    @property
    def in_cooldown(self) -> bool:
        """Whether reductions are paused (``cooldown`` epochs after the last one)."""
        return self.cooldown_counter > 0

    def get_last_lr(self) -> list[float]:
        """The learning rate of every group after the last step (torch's method)."""
        return list(self._last_lr)

    STATE_KEYS = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lrs", "eps",
                  "best", "num_bad_epochs", "cooldown_counter", "last_epoch", "_last_lr")

    def state_dict(self) -> dict[str, Any]:
        """The settings and the counters, as plain data."""
        state = {key: list(value) if isinstance(value, list) else value
                 for key, value in ((key, getattr(self, key)) for key in self.STATE_KEYS)}
        return {"scheduler": "ReduceLROnPlateau", **state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a saved state, checked with the constructor's rules; unknown keys are refused."""
        if not isinstance(state_dict, dict):
            raise invalid("state_dict", type(state_dict).__name__, "a dict from ReduceLROnPlateau.state_dict()")
        if state_dict.get("scheduler", "ReduceLROnPlateau") != "ReduceLROnPlateau":
            raise invalid("state_dict", f"<state of {state_dict['scheduler']}>", "the state of a ReduceLROnPlateau: "
                          f"a {state_dict['scheduler']} state cannot be loaded into a ReduceLROnPlateau")
        unknown = sorted(set(state_dict) - set(self.STATE_KEYS) - {"scheduler"})
        missing = sorted(set(self.STATE_KEYS) - set(state_dict))
        if unknown or missing:
            raise invalid("state_dict", f"<dict with unknown keys {unknown}, missing {missing}>",
                          f"a dict from ReduceLROnPlateau.state_dict() with the keys {list(self.STATE_KEYS)}")
        check = {"mode": lambda n, v: check_choice(n, v, ("min", "max")), "factor": check_fraction,
                 "patience": lambda n, v: check_int(n, v, low=0), "threshold": check_non_negative,
                 "threshold_mode": lambda n, v: check_choice(n, v, ("rel", "abs")),
                 "cooldown": lambda n, v: check_int(n, v, low=0), "eps": check_non_negative,
                 "best": lambda n, v: v if v in (math.inf, -math.inf) else check_number(n, v),
                 "num_bad_epochs": lambda n, v: check_int(n, v, low=0),
                 "cooldown_counter": lambda n, v: check_int(n, v, low=0),
                 "last_epoch": lambda n, v: check_int(n, v, low=0)}
        for key, rule in check.items():
            rule(f"state_dict[{key!r}]", state_dict[key])
        for key in ("min_lrs", "_last_lr"):
            if not isinstance(state_dict[key], list) or len(state_dict[key]) != len(self.optimizer.param_groups):
                raise invalid(f"state_dict[{key!r}]", state_dict[key], f"a list of "
                              f"{len(self.optimizer.param_groups)} numbers >= 0, one per param group")
            for index, value in enumerate(state_dict[key]):
                check_non_negative(f"state_dict[{key!r}][{index}]", value)
        for key in self.STATE_KEYS:
            setattr(self, key, list(state_dict[key]) if isinstance(state_dict[key], list) else state_dict[key])

    def __repr__(self) -> str:
        return f"ReduceLROnPlateau(mode={self.mode!r}, best={self.best}, num_bad_epochs={self.num_bad_epochs})"
