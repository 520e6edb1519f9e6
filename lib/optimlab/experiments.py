"""One seeded training run on the digits task, from a recipe: model width, optimizer (or param groups), schedule.

Comparing schedules (or optimizers) fairly needs the same data, the same initial weights and the same
mini-batch order for every contender, and several seeds to tell a finding from noise. :func:`train_digits`
is that run, written once:

    model     = mlp(64, hidden, 10, seed=seed)                        (the initial weights depend on seed)
    optimizer = make_optimizer(name, groups(model) or parameters, **hyperparameters)
    scheduler = make_scheduler(optimizer, total)                       (total: scheduler steps in the run)
    history   = fit(model, ..., Batches(..., seed=seed), epochs)       (the batch order depends on seed too)

and it returns a :class:`DigitsRun` with the history (test loss and accuracy after every epoch in
``history.metrics``), the final loss on the whole training set and the test accuracy. A run whose loss
becomes NaN or infinite is *a result* (``diverged=True``, NaN metrics), not an exception, so a sweep
over learning rates can show where training breaks.

Taught in: notebooks/10_schedulers_in_training.ipynb (and 06, 12, and notebooks/trials/digits_trial.ipynb).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.functional import cross_entropy

from optimlab.data.digits import DigitsSplit
from optimlab.models import evaluate_classifier, mlp
from optimlab.optim import make_optimizer
from optimlab.train import SCHEDULER_INTERVALS, Batches, DivergenceError, History, fit
from optimlab.validation import check_choice, check_int, invalid

SchedulerFactory = Callable[[torch.optim.Optimizer, int], Any]
GroupsFactory = Callable[[nn.Module], list[dict[str, Any]]]


@dataclass(frozen=True)
class DigitsRun:
    """The outcome of :func:`train_digits`; the metrics are NaN and ``history`` is None when it diverged.

    Taught in: notebooks/10_schedulers_in_training.ipynb.
    """

    history: History | None   # per step: loss, lr of every group; per epoch: metrics on the test set
    model: nn.Module          # the trained model (as far as it got)
    train_loss: float         # cross-entropy on the whole training set after the last update
    test_accuracy: float      # share of the test digits classified correctly after the last update
    diverged: bool


def train_digits(
    data: DigitsSplit,
    *,
    seed: int,
    epochs: int,
    optimizer: str = "sgd",
    hyperparameters: dict[str, Any] | None = None,
    hidden: Sequence[int] = (32,),
    batch_size: int = 128,
    groups: GroupsFactory | None = None,
    scheduler: SchedulerFactory | None = None,
    scheduler_interval: str = "step",
    device: torch.device | str | None = None,
) -> DigitsRun:
    """Train a fresh MLP ``64 → hidden → 10`` on ``data`` for ``epochs`` passes; see the module docstring.

    - ``optimizer`` is a name of :data:`optimlab.optim.OPTIMIZERS`; ``hyperparameters`` its defaults (lr, ...).
    - ``groups(model)`` returns param groups (e.g. ``layerwise_groups``); None trains all parameters alike.
    - ``scheduler(optimizer, total)`` builds the scheduler, told how many times it will be stepped:
      ``epochs · batches per epoch`` for ``scheduler_interval="step"``, ``epochs`` for ``"epoch"``. A plateau
      scheduler steps once per epoch on the epoch's mean training loss, whatever the interval.
    - Batches of ``batch_size`` are reshuffled every epoch from ``seed``; the incomplete last one is dropped.

    Taught in: notebooks/10_schedulers_in_training.ipynb.
    """
    check_int("seed", seed, low=0)
    check_int("epochs", epochs, low=1)
    check_choice("scheduler_interval", scheduler_interval, SCHEDULER_INTERVALS)
    if len(data.X_train.shape) != 2:
        raise invalid("data", tuple(data.X_train.shape), "flat digits of shape (n, 64) for the MLP")
    model = mlp(data.X_train.shape[1], hidden, data.num_classes, seed=seed)
    if device is not None:
        model = model.to(device)
        data = data.to(device)
    params = groups(model) if groups is not None else model.parameters()
    opt = make_optimizer(optimizer, params, **(hyperparameters or {}))
    batches = Batches(data.X_train, data.y_train, batch_size=batch_size, seed=seed, drop_last=True)
    if len(batches) == 0:
        raise invalid("batch_size", batch_size, f"at most the {len(data.y_train)} training digits")
    total = epochs * len(batches) if scheduler_interval == "step" else epochs
    sched = scheduler(opt, total) if scheduler is not None else None
    try:
        history = fit(model, cross_entropy, opt, batches, epochs=epochs, scheduler=sched,
                      scheduler_interval=scheduler_interval, evaluate=evaluate_classifier(data.X_test, data.y_test),
                      progress=False)
    except DivergenceError:
        return DigitsRun(None, model, math.nan, math.nan, True)
    train = evaluate_classifier(data.X_train, data.y_train)(model)
    if not math.isfinite(train["loss"]):  # the last update blew up after the last recorded loss
        return DigitsRun(None, model, math.nan, math.nan, True)
    return DigitsRun(history, model, train["loss"], history.metrics[-1]["accuracy"], False)
