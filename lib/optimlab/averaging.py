r"""Weight averaging: EMA and SWA, as ``torch.optim.swa_utils`` does them (names, arguments, results).

An optimizer's last iterate jitters around the bottom of a valley; an average of recent iterates sits closer
to its centre. Two averages, kept in a copy of the model (:class:`AveragedModel`), updated after each step
(or epoch) with :meth:`AveragedModel.update_parameters`:

.. math::
    \text{EMA:}\quad \bar W_0 = W_0, \qquad \bar W_{n} = δ\, \bar W_{n-1} + (1-δ)\, W_n
    \qquad\qquad
    \text{SWA:}\quad \bar W_{n} = \bar W_{n-1} + \frac{W_n - \bar W_{n-1}}{n + 1}

==========  =============================  ====================================================
symbol      argument                       meaning
==========  =============================  ====================================================
W_n         ``model``                      the weights being trained, at the n-th update call
W̄_n         ``AveragedModel.module``       the average after n + 1 calls (the first call copies)
δ           ``decay``                      EMA decay; the EMA remembers about 1/(1−δ) updates
n           ``n_averaged``                 how many models have been averaged (a buffer)
==========  =============================  ====================================================

SWA weighs every averaged model equally (Izmailov et al., 2018); EMA forgets old ones geometrically.
BatchNorm's running statistics are buffers, not parameters: they belong to the *trained* weights, not to
the average. :func:`update_bn` recomputes them for the averaged weights with one pass over the data, or
``use_buffers=True`` averages them too (torch's two options). ``SWALR`` is in :mod:`optimlab.schedules.swalr`.

Taught in: notebooks/13_modern_optimizers.ipynb.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from optimlab.validation import check_number, invalid

AverageOne = Callable[[Tensor, Tensor, "Tensor | int"], Tensor]
AverageMany = Callable[[Sequence[Tensor], Sequence[Tensor], "Tensor | int"], None]


def get_ema_avg_fn(decay: float = 0.999) -> AverageOne:
    """EMA for one tensor: returns δ W̄ + (1 − δ) W (torch's ``get_ema_avg_fn``).

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """
    check_number("decay", decay, low=0.0, high=1.0)

    @torch.no_grad()
    def ema_update(averaged: Tensor, current: Tensor, num_averaged: Tensor | int) -> Tensor:
        return decay * averaged + (1 - decay) * current  # W̄ₙ = δ W̄ₙ₋₁ + (1 − δ) Wₙ

    return ema_update


def get_swa_avg_fn() -> AverageOne:
    """SWA for one tensor: returns W̄ + (W − W̄)/(n + 1), the running mean (torch's ``get_swa_avg_fn``).

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    @torch.no_grad()
    def swa_update(averaged: Tensor, current: Tensor, num_averaged: Tensor | int) -> Tensor:
        return averaged + (current - averaged) / (num_averaged + 1)  # W̄ₙ = W̄ₙ₋₁ + (Wₙ − W̄ₙ₋₁)/(n + 1)

    return swa_update


def get_ema_multi_avg_fn(decay: float = 0.999) -> AverageMany:
    """EMA over lists of tensors, in place (torch's ``get_ema_multi_avg_fn``).

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """
    check_number("decay", decay, low=0.0, high=1.0)

    @torch.no_grad()
    def ema_update(averaged: Sequence[Tensor], current: Sequence[Tensor], num_averaged: Tensor | int) -> None:
        for mean, value in zip(averaged, current, strict=True):
            if mean.is_floating_point() or mean.is_complex():
                mean.lerp_(value, 1 - decay)  # W̄ ← W̄ + (1 − δ)(W − W̄) = δ W̄ + (1 − δ) W
            else:  # integer buffers (BatchNorm's num_batches_tracked): computed in floats, truncated back
                mean.copy_(mean * decay + value * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> AverageMany:
    """SWA over lists of tensors, in place (torch's ``get_swa_multi_avg_fn``).

    Difference from torch: the weight 1/(n + 1) is a Python float; torch's comes from a long tensor, so it is
    float32 (a relative difference up to ~1e-7 in float64 models). torch's default CPU path is exact, as ours.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    @torch.no_grad()
    def swa_update(averaged: Sequence[Tensor], current: Sequence[Tensor], num_averaged: Tensor | int) -> None:
        n = int(num_averaged)
        for mean, value in zip(averaged, current, strict=True):
            if mean.is_floating_point() or mean.is_complex():
                mean.lerp_(value, 1 / (n + 1))  # W̄ ← W̄ + (W − W̄)/(n + 1)
            else:
                mean.copy_(mean + (value - mean) / (n + 1))

    return swa_update


class AveragedModel(nn.Module):
    """A copy of ``model`` whose weights are an average (SWA by default, EMA with ``get_ema_multi_avg_fn``).

    Same arguments and state_dict keys (``module.*``, ``n_averaged``) as ``torch.optim.swa_utils.AveragedModel``:

    - ``device``: where the copy lives (default: where ``model`` is);
    - ``avg_fn`` (one tensor, returns the new average) or ``multi_avg_fn`` (lists, in place), not both;
      neither: SWA's equal-weight mean;
    - ``use_buffers=True`` averages the buffers too (BatchNorm statistics); otherwise they are copied from
      ``model`` at every update, so they describe the last weights, not the average: see :func:`update_bn`.

    The first :meth:`update_parameters` call copies ``model``'s weights; later calls average. Differences from
    torch: both ``avg_fn`` and ``multi_avg_fn`` raise ``ValueError`` (torch: ``AssertionError``), and a model
    whose tensors do not match the copy's raises instead of averaging a prefix.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    n_averaged: Tensor

    def __init__(self, model: nn.Module, device: int | str | torch.device | None = None,
                 avg_fn: AverageOne | None = None, multi_avg_fn: AverageMany | None = None,
                 use_buffers: bool = False) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise invalid("model", type(model).__name__, "a torch.nn.Module")
        if avg_fn is not None and multi_avg_fn is not None:
            raise invalid("multi_avg_fn", multi_avg_fn, "None when avg_fn is given (one averaging function)")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", torch.tensor(0, dtype=torch.long, device=device))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The averaged model's output."""
        return self.module(*args, **kwargs)

    def _averaged_tensors(self, model: nn.Module) -> list[Tensor]:
        tensors = itertools.chain(model.parameters(), model.buffers()) if self.use_buffers else model.parameters()
        return [t.detach() for t in tensors]

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """Fold ``model``'s current weights into the average (the first call copies them)."""
        averaged, current = self._averaged_tensors(self.module), self._averaged_tensors(model)
        shapes = [tuple(t.shape) for t in averaged]
        if [tuple(t.shape) for t in current] != shapes:
            raise invalid("model", type(model).__name__, f"a model with the averaged one's tensors (shapes {shapes})")
        current = [value.to(mean.device) for mean, value in zip(averaged, current)]
        if self.n_averaged == 0:
            for mean, value in zip(averaged, current):
                mean.copy_(value)                                             # W̄₀ = W₀
        elif self.avg_fn is not None:
            for mean, value in zip(averaged, current):
                mean.copy_(self.avg_fn(mean, value, self.n_averaged.to(mean.device)))
        else:
            average_many = self.multi_avg_fn or get_swa_multi_avg_fn()
            by_kind: dict[tuple[torch.device, torch.dtype], tuple[list[Tensor], list[Tensor]]] = {}
            for mean, value in zip(averaged, current):  # like torch: one call per (device, dtype)
                means, values = by_kind.setdefault((mean.device, mean.dtype), ([], []))
                means.append(mean)
                values.append(value)
            for (device, _), (means, values) in by_kind.items():
                average_many(means, values, self.n_averaged.to(device))
        if not self.use_buffers:  # the buffers follow the trained model (see update_bn)
            for mine, theirs in zip(self.module.buffers(), model.buffers(), strict=True):
                mine.detach().copy_(theirs.detach().to(mine.device))
        self.n_averaged += 1


@torch.no_grad()
def update_bn(loader: Iterable[Any], model: nn.Module, device: int | str | torch.device | None = None) -> None:
    """Recompute every BatchNorm's running mean and variance for ``model``'s current weights, in one pass.

    Each batch is a tensor, or a tuple/list whose first item is the input (as torch's ``update_bn``). The
    statistics are reset and re-estimated as a plain average over the batches (momentum ``None``), in train
    mode; the model's mode and each BatchNorm's momentum are restored. A model without BatchNorm is left alone.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = {norm: norm.momentum for norm in norms}
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the pass, not an EMA
    was_training = model.training
    model.train()
    try:
        for batch in loader:
            inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
            if not isinstance(inputs, Tensor):
                raise invalid("loader", type(batch).__name__, "batches that are tensors or tuples (inputs, ...)")
            model(inputs if device is None else inputs.to(device))
    finally:
        for norm, momentum in momenta.items():
            norm.momentum = momentum
        model.train(was_training)
