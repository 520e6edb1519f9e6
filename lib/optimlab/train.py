"""``fit``: the four steps of training in a fixed, visible order, then the scheduler.

    for each batch:
        1. forward   predictions = model(inputs)
        2. loss      loss = loss_fn(predictions, targets)
        3. backward  optimizer.zero_grad(); loss.backward()
        4. update    optimizer.step()
        (then)       scheduler.step()   when a scheduler steps per batch

``fit`` returns a :class:`History` and prints or plots nothing itself; a progress bar (tqdm) is the
only output and ``progress=False`` turns it off. It owns no randomness: shuffling belongs to the
data iterable (see :class:`Batches`, which takes a seed).

Taught in: notebooks/01_four_steps.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from optimlab.validation import check_choice, check_int, invalid

SCHEDULER_INTERVALS = ("step", "epoch")


class DivergenceError(FloatingPointError):
    """The loss became NaN or infinite: training cannot go on from here."""


@dataclass
class History:
    """What ``fit`` measured: one entry per optimizer step unless named ``epoch_*``.

    ``lr[t][g]`` is the learning rate group ``g`` used at step ``t`` (read before the update, so it is
    the rate that step really used). ``metrics`` holds one dict per epoch from ``evaluate``.
    """

    loss: list[float] = field(default_factory=list)
    lr: list[list[float]] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "loss": self.loss, "lr": self.lr, "grad_norm": self.grad_norm,
            "epoch_loss": self.epoch_loss, "metrics": self.metrics,
        }


class Batches:
    """Mini-batches of tensors ``(X, y)``, reshuffled every pass from the generator's own seed.

    Iterating twice gives two different orders (epochs), and rebuilding with the same seed gives the
    same sequence of orders. ``shuffle=False`` keeps the data order. ``len()`` is the number of batches.
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


def _raise_divergence(loss: float, step: int, epoch: int, optimizer: torch.optim.Optimizer) -> None:
    rates = [group.get("lr") for group in optimizer.param_groups]
    raise DivergenceError(
        f"loss became {loss} at step {step} (epoch {epoch}); training diverged. "
        f"The learning rate is probably too large (lr per group: {rates}): try one 3-10x smaller, "
        "or add warmup / gradient clipping."
    )


def fit(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    epochs: int = 1,
    scheduler: Any = None,
    scheduler_interval: str = "step",
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    monitor: str = "loss",
    record_grad_norm: bool = False,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``batches``; return the :class:`History`.

    - ``scheduler`` steps after every optimizer step (``scheduler_interval="step"``) or after every
      epoch (``"epoch"``). A plateau scheduler steps once per epoch on ``monitor``: ``"loss"`` (the
      epoch's mean training loss) or a key of the dict ``evaluate`` returns.
    - ``evaluate(model)`` runs after each epoch (the model in eval mode, no gradients); its dict is
      appended to ``history.metrics``.
    - A NaN or infinite loss raises :class:`DivergenceError` naming the step and suggesting a
      smaller learning rate.
    """
    check_int("epochs", epochs, low=1)
    check_choice("scheduler_interval", scheduler_interval, SCHEDULER_INTERVALS)
    history = History()
    bar = _progress_bar(progress, epochs, batches)
    step = 0
    for epoch in range(epochs):
        model.train()
        epoch_losses = []
        for inputs, targets in batches:
            if device is not None:
                inputs, targets = inputs.to(device), targets.to(device)
            history.lr.append([group["lr"] for group in optimizer.param_groups])
            predictions = model(inputs)                          # 1. forward
            loss = loss_fn(predictions, targets)                 # 2. loss
            if not math.isfinite(loss.item()):
                _raise_divergence(loss.item(), step, epoch, optimizer)
            optimizer.zero_grad()                                # 3. backward
            loss.backward()
            if record_grad_norm:
                history.grad_norm.append(_gradient_norm(optimizer))
            optimizer.step()                                     # 4. update
            if scheduler is not None and scheduler_interval == "step" and not _needs_metric(scheduler):
                scheduler.step()
            history.loss.append(loss.item())
            epoch_losses.append(loss.item())
            step += 1
            bar.update(1)
        history.epoch_loss.append(sum(epoch_losses) / max(len(epoch_losses), 1))
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                history.metrics.append(dict(evaluate(model)))
        _step_scheduler_after_epoch(scheduler, scheduler_interval, monitor, history)
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

    total = epochs * len(batches) if hasattr(batches, "__len__") else None
    return tqdm(total=total, desc="training", unit="step", leave=False)
