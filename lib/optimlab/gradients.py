"""Between backward and the update: measuring, clipping and accumulating gradients.

The four steps of training are forward, loss, backward, update. Clipping sits between backward and the update:
it rescales the gradients the update will read, so a single bad batch (a loss spike) cannot throw the
parameters far. Accumulation splits a large batch into k micro-batches, each loss divided by k, and calls
backward k times before one update: gradients add up in ``.grad``, so the update sees the large batch's
gradient (exactly, up to float rounding, for a model whose forward pass treats examples independently; not
for BatchNorm in training mode, whose statistics come from each micro-batch).

torch has the global clip, :func:`torch.nn.utils.clip_grad_norm_`, and clipping by value,
:func:`torch.nn.utils.clip_grad_value_`; this module adds the norm it reads (:func:`grad_norm`), the clip per
param group (:func:`clip_grad_norm_per_group_`), and the accumulation loop (:func:`accumulate_gradients`).

Taught in: notebooks/14_fast_steps.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from optimlab.validation import check_int, check_positive


def grad_norm(params: Iterable[Tensor]) -> Tensor:
    """The global L2 norm of the gradients, ‖(g₁, g₂, …)‖₂, as :func:`torch.nn.utils.clip_grad_norm_` measures it
    (parameters without a gradient are skipped); a 0-dim tensor.

    >>> p = torch.zeros(2, requires_grad=True); p.grad = torch.tensor([3.0, 4.0])
    >>> float(grad_norm([p]))
    5.0
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def clip_grad_norm_per_group_(optimizer: torch.optim.Optimizer, max_norm: float) -> list[Tensor]:
    """Clip each param group's gradients to a norm of at most ``max_norm`` (g ← g · min(1, c / ‖g‖)), one group at
    a time, so a spike in one group (an embedding) does not shrink the others' steps. Returns each group's norm
    before clipping. Call it after ``backward()`` and before ``optimizer.step()``."""
    check_positive("max_norm", max_norm)
    return [nn.utils.clip_grad_norm_(group["params"], max_norm) for group in optimizer.param_groups]


def accumulate_gradients(
    model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor], inputs: Tensor, targets: Tensor,
    micro_batches: int,
) -> Tensor:
    """Forward, loss and backward over ``inputs`` split into ``micro_batches`` equal chunks, each loss divided by
    their number, so that the gradients add up to the whole batch's (for a mean loss). Returns the whole batch's
    loss; the caller then does ``optimizer.step()`` and ``optimizer.zero_grad()`` once."""
    check_int("micro_batches", micro_batches, low=1, high=len(inputs))
    if len(inputs) % micro_batches:
        raise ValueError(f"micro_batches={micro_batches} is invalid: expected a divisor of the batch size "
                         f"{len(inputs)} (equal chunks keep loss / k equal to the whole batch's mean)")
    losses = []
    for x, y in zip(inputs.chunk(micro_batches), targets.chunk(micro_batches), strict=True):
        loss = loss_fn(model(x), y) / micro_batches  # ∇(L/k) summed over k chunks = ∇L of the whole batch
        loss.backward()  # gradients add up in .grad
        losses.append(loss.detach())
    return torch.stack(losses).sum()
