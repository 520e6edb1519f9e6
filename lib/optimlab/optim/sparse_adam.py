"""SparseAdam: Adam that touches only the rows a sparse gradient names (e.g. the looked-up rows of an embedding).

Taught in: notebooks/13_modern_optimizers.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from optimlab.optim.adafactor import refuse_complex
from optimlab.optim.base import Optimizer, closure_loss
from optimlab.validation import check_learning_rate, check_positive, invalid


def check_positive_lr(name: str, value: Any) -> float | Tensor:
    """A learning rate > 0 (torch's SparseAdam refuses 0), a number or a one-element tensor."""
    value = check_learning_rate(name, value)
    if float(value) == 0:
        raise invalid(name, value, "a number > 0 (SparseAdam refuses lr=0, as torch does)")
    return value


def sparse_adam_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> None:
    """Adam on the entries a sparse ``grad`` names; ``state["step"]`` must already count this step (torch's order)."""
    grad = grad.coalesce()  # duplicate indices summed: the update is non-linear in g, so each row once
    indices, g = grad._indices(), grad._values()
    if g.numel() == 0:
        return  # nothing looked up: nothing moves (the step counter still advanced, as in torch)
    beta1, beta2 = betas
    t = state["step"]

    def at_rows(values: Tensor) -> Tensor:
        """A sparse tensor holding ``values`` at the gradient's indices."""
        return torch.sparse_coo_tensor(indices, values, grad.size(), check_invariants=False)  # valid: from grad

    m_old = state["exp_avg"].sparse_mask(grad)._values()  # the rows' mₜ₋₁
    v_old = state["exp_avg_sq"].sparse_mask(grad)._values()  # the rows' vₜ₋₁
    m_step = g.sub(m_old).mul_(1 - beta1)  # mₜ − mₜ₋₁ = (1 − β₁)(gₜ − mₜ₋₁)
    v_step = g.pow(2).sub_(v_old).mul_(1 - beta2)  # vₜ − vₜ₋₁ = (1 − β₂)(gₜ² − vₜ₋₁)
    state["exp_avg"].add_(at_rows(m_step))  # only these rows decay: others keep their moments
    state["exp_avg_sq"].add_(at_rows(v_step))
    m = m_step.add_(m_old)  # the rows' mₜ
    denom = v_step.add_(v_old).sqrt_().add_(eps)  # √vₜ + ε
    step_size = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)  # γ √(1 − β₂ᵗ) / (1 − β₁ᵗ)
    param.add_(at_rows(-step_size * m.div_(denom)))  # θₜ = θₜ₋₁ − γ m̂ₜ / (√v̂ₜ + ε′), on these rows only


class SparseAdam(Optimizer):
    r"""Lazy Adam for sparse gradients, as ``torch.optim.SparseAdam`` computes it.

    For the rows R that the sparse gradient names (and only those):

    .. math::
        m_R &\leftarrow β_1 m_R + (1-β_1) g_R \qquad v_R \leftarrow β_2 v_R + (1-β_2) g_R^2 \\
        θ_R &\leftarrow θ_R - γ \frac{\sqrt{1-β_2^t}}{1-β_1^t} \frac{m_R}{\sqrt{v_R} + ε}

    ==========  ==============  ==============================================
    symbol      argument        meaning
    ==========  ==============  ==============================================
    γ           ``lr``          learning rate (> 0)
    β₁, β₂      ``betas``       decay of the first and second moment averages
    ε           ``eps``         added to √v (> 0)
    ==========  ==============  ==============================================

    With ``nn.Embedding(sparse=True)`` a batch's gradient names only the looked-up rows; dense Adam
    would decay the moments of every row (and move rows that were not used), costing time in the
    vocabulary size. This "lazy" variant leaves unused rows and their moments alone.
    ``maximize=True`` ascends.

    Differences from Adam (Kingma & Ba, 2015): moments decay only on steps where a row appears, but t
    (and so the bias correction) counts every step the parameter had a gradient; ε is added to √v
    before the bias correction (ε′ = ε √(1 − β₂ᵗ)). No weight decay, no AMSGrad. Dense gradients are
    refused (use Adam); so are sparse or complex parameters, as in torch. ``step`` overrides the
    base class's, because the base refuses sparse gradients.

    State keys: ``step`` (a Python int, as torch keeps it), ``exp_avg``, ``exp_avg_sq``.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    rules = {**Optimizer.rules, "lr": lambda name, value: check_positive_lr(name, value), "eps": check_positive}
    state_keys = frozenset({"step", "exp_avg", "exp_avg_sq"})

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
    ) -> None:
        betas = tuple(betas) if isinstance(betas, list) else betas
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, maximize=maximize))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group as torch does, refusing sparse and complex parameters (the gradients are sparse, not θ)."""
        refuse_complex(param_group, "SparseAdam")
        for param in param_group["params"]:
            if param.is_sparse:
                raise invalid("params", "<a sparse tensor>", "dense parameters (SparseAdam needs sparse gradients)")
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        """One update of every parameter that has a (sparse) gradient; returns the closure's loss, if any."""
        loss = closure_loss(closure)
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if not param.grad.is_sparse:
                    raise RuntimeError(
                        "SparseAdam does not support dense gradients, please consider Adam instead "
                        "(SparseAdam needs sparse gradients, e.g. from nn.Embedding(sparse=True))"
                    )
                state = self.state[param]
                if not state:
                    state.update(step=0, exp_avg=torch.zeros_like(param, memory_format=torch.preserve_format),
                                 exp_avg_sq=torch.zeros_like(param, memory_format=torch.preserve_format))
                # t counts steps with a gradient, even one that names no row; a Python int, as torch keeps it (the
                # base's load_state_dict turns a number into a float32 tensor: float32 would round β₁ᵗ)
                state["step"] = int(state["step"]) + 1
                grad = -param.grad if group["maximize"] else param.grad
                sparse_adam_update(param, grad, state, lr=group["lr"], betas=group["betas"], eps=group["eps"])
        return loss
