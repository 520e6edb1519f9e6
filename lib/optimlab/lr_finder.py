r"""The learning-rate range test (Smith 2017; fastai's ``lr_find``), and the pure functions it is made of.

Train for ``num_steps`` mini-batches while the learning rate grows exponentially from ``start_lr`` to
``end_lr``; record each step's loss; stop early once the loss blows up. Where the loss falls fastest
is a good learning rate; where it turns up is too large.

.. math::
    \eta_t &= \eta_{start}\,(\eta_{end}/\eta_{start})^{t/(N-1)}, \quad t = 0, \dots, N-1
        && \text{(exponential\_lr)} \\
    a_t &= \beta a_{t-1} + (1-\beta)\,\ell_t, \quad a_{-1} = 0, \qquad
    \hat\ell_t = a_t / (1 - \beta^{t+1}) && \text{(smooth\_losses)}

- Step ``t`` records the lr its update used and the loss computed *before* that update (``fit``'s
  convention). It stops after the first step whose smoothed loss exceeds ``divergence_factor`` × the
  best smoothed loss so far (fastai: 4×), or before a step whose loss is NaN or infinite.
- Two suggestions (:class:`LRRangeTestResult`): ``lr_steepest``, the lr where the smoothed loss falls
  fastest per unit of log-lr (fastai's ``steep``; our default ``suggested_lr``), and ``lr_min_over_10``,
  the lr of the lowest smoothed loss divided by 10 (fastai's ``minimum``), which is the more cautious.
  Both ignore the first ``skip_start`` and last ``skip_end`` points, where the smoothed curve is
  still settling or already exploding (fastai skips the first 10 % and the last 5). The smoothed
  curve lags the raw one (β = 0.98 averages about 1/(1 − β) = 50 steps): its steepest point moves
  little, but its minimum comes late — one reason for the "/ 10".
- Param groups: every group's lr is scaled by the same factor, so their ratios stay as the optimizer
  had them. ``lrs`` are group 0's; group ``g`` runs at ``lrs[t] · base_g / base_0``
  (:meth:`LRRangeTestResult.group_lrs` turns a suggestion into the list for all groups).
- Afterwards the model (parameters, buffers, ``.grad``, train/eval mode), the optimizer (its state and
  every param group's hyperparameters, in the same dicts) and torch's global random state are restored
  exactly. The ``batches`` iterable is consumed: a :class:`~optimlab.train.Batches` advances its
  shuffling generator.

Differences from the sources: fastai's lr at step ``t`` is ``start·(end/start)^{t/N}`` (it never reaches
``end_lr``); ours reaches it at the last step, as in Smith's description and ``torch-lr-finder``.
fastai's ``steep`` searches the whole trimmed curve; ours stops at the lowest smoothed loss (see
:func:`steepest_lr`), which on the course's digits task removes picks far past the minimum.
``torch-lr-finder`` smooths without bias correction and pairs each loss with the *next* lr.

Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from optimlab.validation import check_fraction, check_int, check_number, check_positive, invalid


def exponential_lr(step: int, start_lr: float, end_lr: float, num_steps: int) -> float:
    """The range test's lr at ``step`` (0-based): ``start_lr`` at 0, ``end_lr`` at ``num_steps - 1``.

    Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
    """
    return start_lr * (end_lr / start_lr) ** (step / (num_steps - 1))  # η_t = η₀ (η_end/η₀)^(t/(N−1))


def smooth_losses(losses: Sequence[float], beta: float = 0.98) -> list[float]:
    """Exponential moving average of ``losses`` with Adam-style bias correction (no pull towards 0).

    Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
    """
    average, smoothed = 0.0, []
    for t, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss          # a_t = β a_{t−1} + (1 − β) ℓ_t
        smoothed.append(average / (1 - beta ** (t + 1)))     # ℓ̂_t = a_t / (1 − β^{t+1})
    return smoothed


def _trimmed(lrs: Sequence[float], losses: Sequence[float], skip_start: int, skip_end: int):
    if len(lrs) != len(losses):
        raise invalid("losses", len(losses), f"one loss per lr ({len(lrs)})")
    stop = len(lrs) - skip_end
    if stop - skip_start < 2:  # too short to trim: use the whole curve
        skip_start, stop = 0, len(lrs)
    if stop - skip_start < 2:
        raise invalid("lrs", list(lrs), "at least two points to read a suggestion from")
    return np.asarray(lrs[skip_start:stop], dtype=float), np.asarray(losses[skip_start:stop], dtype=float)


def steepest_lr(lrs: Sequence[float], losses: Sequence[float], skip_start: int = 0, skip_end: int = 0) -> float:
    """The lr where ``losses`` falls fastest per unit of log-lr, on the way down to the lowest loss.

    Returns the left end of the steepest segment, searching only up to the lowest loss: past it the
    loss climbs and swings, and a dip after a spike there is not the descent we look for. Ignores the
    first ``skip_start`` and last ``skip_end`` points (unless that leaves fewer than two).

    Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
    """
    x, y = _trimmed(lrs, losses, skip_start, skip_end)
    lowest = max(int(np.argmin(y)), 1)  # at least one segment
    x, y = x[:lowest + 1], y[:lowest + 1]
    slopes = np.diff(y) / np.diff(np.log(x))  # Δℓ / Δ log η between neighbours
    return float(x[int(np.argmin(slopes))])


def min_loss_lr(lrs: Sequence[float], losses: Sequence[float], skip_start: int = 0, skip_end: int = 0,
                divisor: float = 10.0) -> float:
    """The lr of the lowest loss divided by ``divisor`` (10: one decade below where the loss bottoms out).

    Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
    """
    x, y = _trimmed(lrs, losses, skip_start, skip_end)
    return float(x[int(np.argmin(y))] / divisor)


@dataclass(frozen=True)
class LRRangeTestResult:
    """What a range test measured (one entry per step) and the two suggestions read from it.

    Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    stopped_early: bool
    base_lrs: list[float]
    lr_steepest: float
    lr_min_over_10: float

    @property
    def suggested_lr(self) -> float:
        """The default suggestion: ``lr_steepest``."""
        return self.lr_steepest

    def group_lrs(self, lr: float) -> list[float]:
        """Every group's lr when group 0 gets ``lr``, keeping the optimizer's ratios between groups."""
        return [lr * (base / self.base_lrs[0]) for base in self.base_lrs]


def _endless(batches: Iterable) -> Iterator:
    """Pass over ``batches`` again and again (a new shuffle each time for a Batches)."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise invalid("batches", batches, "an iterable that can be passed over more than once, e.g. Batches")


def _snapshot(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    params = {id(p): p for group in optimizer.param_groups for p in group["params"]}
    return {
        "model": copy.deepcopy(model.state_dict()),
        # The memo keeps the parameters themselves as the state's keys while their state is copied.
        "optimizer_state": copy.deepcopy(optimizer.state, memo=dict(params)),
        "groups": [{k: v if k == "params" else copy.deepcopy(v) for k, v in g.items()}
                   for g in optimizer.param_groups],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
    }


def _restore(model: nn.Module, optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """Put everything back in place: the same tensors and group dicts, holding the saved values."""
    model.load_state_dict(saved["model"])
    optimizer.state = saved["optimizer_state"]
    for group, saved_group in zip(optimizer.param_groups, saved["groups"]):
        group.clear()
        group.update(saved_group)
    for param, grad in zip(model.parameters(), saved["grads"]):
        param.grad = grad
    for module, training in zip(model.modules(), saved["modes"]):
        module.training = training


def lr_range_test(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    start_lr: float = 1e-6,
    end_lr: float = 10.0,
    num_steps: int = 100,
    beta: float = 0.98,
    divergence_factor: float | None = 4.0,
    skip_start: int | None = None,
    skip_end: int = 5,
    device: torch.device | str | None = None,
) -> LRRangeTestResult:
    """Run the range test on ``model`` with ``optimizer`` (any ``torch.optim.Optimizer``); see the module.

    ``divergence_factor=None`` never stops early. ``skip_start`` defaults to ``num_steps // 10``.

    Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise invalid("optimizer", optimizer, "a torch.optim.Optimizer")
    check_positive("start_lr", start_lr)
    check_number("end_lr", end_lr, low=start_lr, low_inclusive=False)
    check_int("num_steps", num_steps, low=2)
    check_fraction("beta", beta)
    if divergence_factor is not None:
        check_number("divergence_factor", divergence_factor, low=1.0, low_inclusive=False)
    skip_start = num_steps // 10 if skip_start is None else check_int("skip_start", skip_start, low=0)
    check_int("skip_end", skip_end, low=0)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    check_positive("optimizer.param_groups[0]['lr']", base_lrs[0])

    saved = _snapshot(model, optimizer)
    cuda = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    try:
        with torch.random.fork_rng(devices=cuda):  # dropout etc. draw here without shifting the caller's
            lrs, losses, smoothed, stopped = _sweep(
                model, loss_fn, optimizer, _endless(batches), base_lrs,
                start_lr, end_lr, num_steps, beta, divergence_factor, device,
            )
    finally:
        _restore(model, optimizer, saved)
    if len(lrs) < 2:
        raise invalid("start_lr", start_lr, f"a rate at which the first steps' losses are finite (got {losses})")
    return LRRangeTestResult(
        lrs=lrs, losses=losses, smoothed=smoothed, stopped_early=stopped, base_lrs=base_lrs,
        lr_steepest=steepest_lr(lrs, smoothed, skip_start, skip_end),
        lr_min_over_10=min_loss_lr(lrs, smoothed, skip_start, skip_end),
    )


def _sweep(model, loss_fn, optimizer, stream, base_lrs, start_lr, end_lr, num_steps, beta, divergence_factor,
           device):
    """The training loop of the test: set the lr, forward, loss, backward, update, smooth, maybe stop."""
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    average, best = 0.0, math.inf
    model.train()
    for step in range(num_steps):
        lr = exponential_lr(step, start_lr, end_lr, num_steps)
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = lr * (base / base_lrs[0])  # same factor for every group; group 0 gets lr exactly
        inputs, targets = next(stream)
        if device is not None:
            inputs, targets = inputs.to(device), targets.to(device)
        loss = loss_fn(model(inputs), targets)
        if not math.isfinite(loss.item()):
            return lrs, losses, smoothed, True
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        average = beta * average + (1 - beta) * loss.item()    # as smooth_losses, one step at a time
        lrs.append(lr)
        losses.append(loss.item())
        smoothed.append(average / (1 - beta ** (step + 1)))
        best = min(best, smoothed[-1])
        if divergence_factor is not None and smoothed[-1] > divergence_factor * best:
            return lrs, losses, smoothed, True
    return lrs, losses, smoothed, False
