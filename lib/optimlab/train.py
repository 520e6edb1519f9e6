"""``fit``: the four steps of training in a fixed, visible order, then the scheduler.

    for each batch:
        1. forward   predictions = model(inputs)
        2. loss      loss = loss_fn(predictions, targets)
        3. backward  optimizer.zero_grad(); loss.backward()
        4. update    optimizer.step()
        (then)       scheduler.step()   when a scheduler steps per batch

``fit`` returns a :class:`History` and prints or plots nothing itself; a progress bar (tqdm) is the
only output and ``progress=False`` turns it off. It owns no randomness: shuffling belongs to the
data iterable (see :class:`Batches`, which takes a seed). It leaves the model's train/eval mode to the
caller (a new module is in train mode; a block frozen with ``.eval()`` stays frozen), and switches to
eval mode only around ``evaluate``, with :func:`evaluation_mode`.

Nothing is silent and nothing is lost: an epoch without a batch, or a loss that is not a scalar tensor
with a graph, is a ``ValueError`` that says what was passed; a run that stops early (NaN loss, Ctrl-C /
"interrupt kernel", no batch) raises an error carrying the :class:`History` recorded so far and the step
it stopped at, and ``fit(history=...)`` appends to a History the caller owns.

Taught in: notebooks/01_four_steps.ipynb.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from optimlab.validation import check_choice, check_int, invalid

SCHEDULER_INTERVALS = ("step", "epoch")


@dataclass
class History:
    """What ``fit`` measured: one entry per optimizer step unless named ``epoch_*``.

    ``lr[t][g]`` is the learning rate group ``g`` used at step ``t`` (read before the update, so it is
    the rate that step really used). ``metrics`` holds one dict per epoch from ``evaluate``.

    Taught in: notebooks/01_four_steps.ipynb.
    """

    loss: list[float] = field(default_factory=list)
    lr: list[list[float]] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The five lists by name (for JSON, or a DataFrame of the per-step ones)."""
        return {
            "loss": self.loss, "lr": self.lr, "grad_norm": self.grad_norm,
            "epoch_loss": self.epoch_loss, "metrics": self.metrics,
        }


class TrainingStopped(BaseException):
    """Base of the errors that stop :func:`fit` part-way: each carries what ran.

    ``history`` is the :class:`History` recorded up to the last complete step (the caller's own, when
    one was passed as ``fit(history=...)``) and ``step`` the index in it of the step that did not
    complete, so ``len(history.loss) == step``. Catch a concrete subclass, not this base.

    Taught in: notebooks/01_four_steps.ipynb.
    """

    def __init__(self, message: str, *, history: History | None = None, step: int | None = None) -> None:
        super().__init__(message)
        self.history = history
        self.step = step


class DivergenceError(TrainingStopped, FloatingPointError):
    """The loss became NaN or infinite: training cannot go on from here.

    Taught in: notebooks/01_four_steps.ipynb.
    """


class TrainingInterrupted(TrainingStopped, KeyboardInterrupt):
    """A ``KeyboardInterrupt`` (Ctrl-C, Jupyter's "interrupt kernel") during :func:`fit`, with the history so far.

    A subclass of ``KeyboardInterrupt``, raised from the original one: ``except KeyboardInterrupt`` still
    catches it, and it stops a script or a notebook cell exactly as before.

    Taught in: notebooks/01_four_steps.ipynb.
    """


class NoBatchesError(TrainingStopped, ValueError):
    """An epoch of :func:`fit` got no batch: an empty loader, or a one-shot iterator already used up.

    Taught in: notebooks/01_four_steps.ipynb.
    """


@contextlib.contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block: every module of ``model`` in eval mode and no gradients; afterwards, each module's own mode.

    Each submodule gets back its own flag, not the top module's: a backbone frozen in eval mode inside a
    model that trains stays in eval mode (``model.train(was_training)`` would wake its BatchNorm up).

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        for module, training in modes:
            module.training = training


class Batches:
    """Mini-batches of tensors ``(X, y)``, reshuffled every pass from the generator's own seed.

    Iterating twice gives two different orders (epochs), and rebuilding with the same seed gives the
    same sequence of orders. ``shuffle=False`` keeps the data order. ``len()`` is the number of batches.

    Taught in: notebooks/01_four_steps.ipynb.
    """

    def __init__(self, *tensors: Tensor, batch_size: int, seed: int = 0, shuffle: bool = True,
                 drop_last: bool = False) -> None:
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise invalid("tensors", [tuple(t.shape) for t in tensors], "tensors with the same first dimension")
        self.tensors = tensors
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = torch.Generator().manual_seed(check_int("seed", seed, low=0))

    def __repr__(self) -> str:
        return (f"Batches({len(self.tensors[0])} rows, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}: {len(self)} batches)")

    def __len__(self) -> int:
        n = len(self.tensors[0])
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        n = len(self.tensors[0])
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start:start + self.batch_size]
            yield tuple(t[index] for t in self.tensors)


def _needs_metric(scheduler: Any) -> bool:
    """ReduceLROnPlateau-like schedulers step on a monitored value, not on the clock."""
    return isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) or getattr(
        scheduler, "needs_metric", False
    )


def _gradient_norm(optimizer: torch.optim.Optimizer) -> float:
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return 0.0
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()


def _divergence(loss: float, step: int, epoch: int, epochs: int, optimizer: torch.optim.Optimizer,
                history: History) -> DivergenceError:
    rates = [group.get("lr") for group in optimizer.param_groups]
    return DivergenceError(
        f"loss became {loss} at step {step} (epoch {epoch + 1} of {epochs}); training diverged. "
        f"The learning rate is probably too large (lr per group: {rates}): try one 3-10x smaller, "
        "or add warmup / gradient clipping. The history up to here is this error's .history.",
        history=history, step=step)


EXPECTED_LOSS = ("a scalar tensor (0-dim) with a grad_fn, e.g. nn.functional.cross_entropy(predictions, targets) "
                 "with its default reduction='mean'")


def _checked_loss(loss: Any) -> Tensor:
    """``loss`` if it is what ``backward`` needs; otherwise a ValueError saying what it is instead."""
    if not isinstance(loss, Tensor):
        what = f"a {type(loss).__name__} ({loss!r})"
    elif loss.dim() != 0:
        what = f"a tensor of shape {tuple(loss.shape)} (reduce it: reduction='mean', or .mean())"
    elif loss.grad_fn is None and not loss.requires_grad:
        what = ("a tensor with no grad_fn: it does not depend on any trainable parameter (detached, computed "
                "under torch.no_grad(), or every parameter frozen)")
    else:
        return loss
    raise ValueError(f"loss_fn returned {what}; fit expects {EXPECTED_LOSS}")


def _no_batch(batches: Iterable, epoch: int, epochs: int, history: History, step: int) -> NoBatchesError:
    used_up = (" A generator, zip() or iter() is used up after one pass: pass a list of batches, a Batches "
               "or a DataLoader." if isinstance(batches, Iterator) else "")
    message = str(invalid("batches", batches, "a re-iterable loader that yields at least one (inputs, targets) "
                                              f"batch every epoch; epoch {epoch + 1} of {epochs} got no batch"))
    return NoBatchesError(message + "." + used_up, history=history, step=step)


def fit(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[Tensor, ...]],
    *,
    epochs: int = 1,
    scheduler: Any = None,
    scheduler_interval: str = "step",
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    monitor: str = "loss",
    record_grad_norm: bool = False,
    device: torch.device | str | None = None,
    progress: bool = True,
    history: History | None = None,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``batches``; return the :class:`History`.

    - ``batches`` is re-iterable (a list of ``(inputs, targets)``, a :class:`Batches`, a ``DataLoader``)
      and yields at least one batch every epoch; an epoch with none raises :class:`NoBatchesError`
      (a ``ValueError``), never a made-up loss of 0.0.
    - ``loss_fn(predictions, targets)`` returns a scalar tensor with a graph (``grad_fn``); anything
      else (a float, ``reduction="none"``, a detached tensor) is a ``ValueError`` saying which.
    - The model's train/eval mode is the caller's: ``fit`` does not call ``model.train()``.
    - ``scheduler`` steps after every optimizer step (``scheduler_interval="step"``) or after every
      epoch (``"epoch"``). A plateau scheduler steps once per epoch on ``monitor``: ``"loss"`` (the
      epoch's mean training loss) or a key of the dict ``evaluate`` returns.
    - ``evaluate(model)`` runs after each epoch inside :func:`evaluation_mode` (eval mode, no
      gradients); its dict is appended to ``history.metrics``.
    - ``history``: a :class:`History` to append to (the caller keeps it whatever happens); a new one
      by default. Steps are counted on from its length.
    - A NaN or infinite loss raises :class:`DivergenceError` naming the step and suggesting a smaller
      learning rate; a ``KeyboardInterrupt`` becomes :class:`TrainingInterrupted` (still a
      ``KeyboardInterrupt``). Both carry ``.history`` (every complete step) and ``.step``.

    Taught in: notebooks/01_four_steps.ipynb.
    """
    check_int("epochs", epochs, low=1)
    check_choice("scheduler_interval", scheduler_interval, SCHEDULER_INTERVALS)
    if history is None:
        history = History()
    elif not isinstance(history, History):
        raise invalid("history", history, "a History to append to, or None for a new one")
    bar = _progress_bar(progress, epochs, batches)
    epoch = 0
    try:
        for epoch in range(epochs):
            epoch_losses = []
            for inputs, targets in batches:
                if device is not None:
                    inputs, targets = inputs.to(device), targets.to(device)
                rates = [group["lr"] for group in optimizer.param_groups]   # the rates this step uses
                predictions = model(inputs)                          # 1. forward
                loss = _checked_loss(loss_fn(predictions, targets))  # 2. loss
                value = loss.item()
                if not math.isfinite(value):
                    raise _divergence(value, len(history.loss), epoch, epochs, optimizer, history)
                optimizer.zero_grad()                                # 3. backward
                loss.backward()
                norm = _gradient_norm(optimizer) if record_grad_norm else None
                optimizer.step()                                     # 4. update
                history.lr.append(rates)                             # the step is done: record it whole
                history.loss.append(value)
                if norm is not None:
                    history.grad_norm.append(norm)
                epoch_losses.append(value)
                if scheduler is not None and scheduler_interval == "step" and not _needs_metric(scheduler):
                    scheduler.step()
                bar.update(1)
            if not epoch_losses:
                raise _no_batch(batches, epoch, epochs, history, len(history.loss))
            history.epoch_loss.append(sum(epoch_losses) / len(epoch_losses))
            if evaluate is not None:
                with evaluation_mode(model):
                    history.metrics.append(dict(evaluate(model)))
            _step_scheduler_after_epoch(scheduler, scheduler_interval, monitor, history)
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, TrainingInterrupted):
            raise
        raise TrainingInterrupted(
            f"interrupted at step {len(history.loss)} (epoch {epoch + 1} of {epochs}); the "
            f"{len(history.loss)} complete steps are this error's .history", history=history, step=len(history.loss),
        ) from interrupt
    finally:
        bar.close()
    return history


def _step_scheduler_after_epoch(scheduler: Any, interval: str, monitor: str, history: History) -> None:
    if scheduler is None:
        return
    if _needs_metric(scheduler):
        if monitor == "loss":
            scheduler.step(history.epoch_loss[-1])
        elif history.metrics and monitor in history.metrics[-1]:
            scheduler.step(history.metrics[-1][monitor])
        else:
            raise invalid("monitor", monitor, "'loss' or a key of the dict that evaluate() returns")
    elif interval == "epoch":
        scheduler.step()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(enabled: bool, epochs: int, batches: Iterable) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm  # imported here: a training run without a bar needs no tqdm

    total = epochs * len(batches) if isinstance(batches, Sized) else None
    return tqdm(total=total, desc="training", unit="step", leave=False)
