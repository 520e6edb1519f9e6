r"""Schedule-free SGD and AdamW (Defazio et al., 2024): no learning-rate schedule, an average instead.

Three sequences replace the one set of weights a plain optimizer keeps:

.. math::
    y_t &= (1-β)\, z_t + β\, x_t                 &&\text{where the gradient is taken (training weights)} \\
    z_{t+1} &= z_t - γ_t\, g(y_t)                  &&\text{a plain (or Adam-normalised) SGD step} \\
    x_{t+1} &= (1-c_{t+1})\, x_t + c_{t+1}\, z_{t+1} &&\text{a running average of the z's (evaluation weights)}

with :math:`c_{t+1} = w_{t+1} / \sum_{i \le t+1} w_i` and :math:`w_t = t^r\, (\max_{i \le t} γ_i)^{p}`: with
the defaults (``r=0``, no warmup) every z counts equally, so x is the plain average of all z's, the
average that replaces the decaying schedule. β interpolates between that average (β = 1, Polyak–Ruppert
averaging) and the SGD iterate (β = 0, primal averaging); β = 0.9 acts like momentum.

Like the authors' package ``schedulefree``, the parameters hold y while training and x while evaluating,
and only z is stored, so the state costs one tensor per parameter (SGD) or two (AdamW, + ``exp_avg_sq``),
no more than SGD with momentum and Adam. x is recovered from y and z: :math:`x = (y - (1-β) z) / β`, which is
why β must be > 0. Call ``optimizer.train()`` before training and ``optimizer.eval()`` before evaluating or
saving; a step in eval mode raises. ``warmup_steps`` ramps γ linearly: :math:`γ_t = γ\, \min(1, (t+1)/T_w)`.

State keys (per parameter) and group keys are the package's, so checkpoints load both ways: ``z``,
``exp_avg_sq`` (AdamW); ``k``, ``train_mode``, ``weight_sum``, ``lr_max``, ``scheduled_lr`` in each group.
One wrinkle: the package's ``step`` reads a group key ``foreach`` that only its constructor sets, so after
loading one of our checkpoints into its optimizer, add it: ``group.setdefault("foreach", False)``.

Paper: A. Defazio, X. Yang, H. Mehta, K. Mishchenko, A. Khaled, A. Cutkosky, "The Road Less Scheduled",
NeurIPS 2024, arXiv:2405.15682. Reference: ``schedulefree==1.4.1`` (``SGDScheduleFree``, ``AdamWScheduleFree``).

Taught in: notebooks/13_modern_optimizers.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, closure_loss
from optimlab.validation import check_fraction, check_int, check_non_negative, check_number, invalid


def averaging_weight(group: dict[str, Any]) -> tuple[float, float]:
    """Advance the group's counters by one step; return (γ_t, c_{t+1}), the step's lr and averaging weight.

    γ_t = γ · min(1, (k+1)/warmup_steps);  w = (k+1)^r · (max γ)^weight_lr_power;  c = w / Σw.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """
    k = group["k"]
    warmup = (k + 1) / group["warmup_steps"] if k < group["warmup_steps"] else 1.0
    lr = group["lr"] * warmup                                                  # γₜ (linear warmup)
    group["scheduled_lr"] = lr
    lr_max = group["lr_max"] = max(lr, group["lr_max"])
    weight = (k + 1) ** group["r"] * lr_max ** group["weight_lr_power"]      # wₜ₊₁
    weight_sum = group["weight_sum"] = group["weight_sum"] + weight           # Σ wᵢ
    group["k"] = k + 1
    return lr, (weight / weight_sum if weight_sum != 0 else 0.0)              # cₜ₊₁ = wₜ₊₁ / Σ wᵢ


def average_weights(lr: float, steps: int, *, warmup_steps: int = 0, r: float = 0.0,
                    weight_lr_power: float = 2.0) -> list[float]:
    """[c₁, …, c_steps]: the weight of the newest z in the average x at each step, for a constant ``lr``.

    Without warmup and with r = 0 every z counts the same, so cₜ = 1/t (x is the plain mean):

    >>> [round(c, 3) for c in average_weights(0.1, 4)]
    [1.0, 0.5, 0.333, 0.25]

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """
    check_non_negative("lr", lr)
    check_int("steps", steps, low=0)
    group = dict(lr=lr, k=0, warmup_steps=_warmup("warmup_steps", warmup_steps), r=check_non_negative("r", r),
                 weight_lr_power=check_non_negative("weight_lr_power", weight_lr_power), weight_sum=0.0,
                 lr_max=-1.0, scheduled_lr=0.0)
    return [averaging_weight(group)[1] for _ in range(steps)]


def schedule_free_update(y: Tensor, z: Tensor, direction: Tensor, *, lr: float, beta: float, c: float) -> None:
    """Move y (the parameter) and z in place by one schedule-free step along ``direction``.

    x is never stored: substituting x = (y − (1−β) z)/β into the three equations gives y's own update.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """
    y.lerp_(z, c)                                          # y ← (1 − c) y + c z
    y.add_(direction, alpha=lr * (beta * (1 - c) - 1))     # y ← y + γ (β(1 − c) − 1) d   (= β xₜ₊₁ + (1 − β) zₜ₊₁)
    z.sub_(direction, alpha=lr)                            # zₜ₊₁ = zₜ − γ d


def _open_fraction(name: str, value: Any) -> float:
    """β in (0, 1): β = 0 would leave x unrecoverable from y and z (x = (y − (1−β) z)/β)."""
    return check_number(name, value, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)


def _betas(name: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise invalid(name, value, "a pair (beta1, beta2) with beta1 in (0, 1) and beta2 in [0, 1)")
    return _open_fraction(f"{name}[0]", value[0]), check_fraction(f"{name}[1]", value[1])


def _warmup(name: str, value: Any) -> int:
    return check_int(name, value, low=0)


class _ScheduleFree(Optimizer):
    """Bookkeeping shared by both: train/eval switching, the per-group average weight, lazy ``z``."""

    rules = {**Optimizer.rules, "lr": check_non_negative, "warmup_steps": _warmup, "r": check_non_negative,
             "weight_lr_power": check_non_negative}

    def _defaults(self, lr: float, weight_decay: float, warmup_steps: int, r: float,
                  weight_lr_power: float) -> dict[str, Any]:
        """The hyperparameters both share, and the package's per-group counters (k, Σw, max γ, ...)."""
        return dict(lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps, r=r, k=0, train_mode=False,
                    weight_sum=0.0, lr_max=-1.0, scheduled_lr=0.0, weight_lr_power=weight_lr_power)

    def beta(self, group: dict[str, Any]) -> float:
        """β, the interpolation between the average x and the SGD iterate z."""
        raise NotImplementedError

    @torch.no_grad()
    def eval(self) -> None:
        """Put the evaluation weights x into the parameters: x = y + (1 − 1/β)(z − y)."""
        for group in self.param_groups:
            if group["train_mode"]:
                for param in group["params"]:
                    if "z" in self.state[param]:
                        param.lerp_(self.state[param]["z"], 1 - 1 / self.beta(group))
                group["train_mode"] = False

    @torch.no_grad()
    def train(self) -> None:
        """Put the training weights y back: y = (1 − β) z + β x."""
        for group in self.param_groups:
            if not group["train_mode"]:
                for param in group["params"]:
                    if "z" in self.state[param]:
                        param.lerp_(self.state[param]["z"], 1 - self.beta(group))
                group["train_mode"] = True

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        """One schedule-free step of every parameter with a gradient; the optimizer must be in train mode."""
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError(f"{type(self).__name__}.step() called in eval mode: call optimizer.train() before "
                               "training (and optimizer.eval() before evaluating or saving)")
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr, c = averaging_weight(group)
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse or param.is_complex():
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients or complex "
                                       "parameters (neither does the schedulefree package)")
                state = self.state[param]
                if "z" not in state:
                    state.update(self.init_state(param, group))
                direction = self.direction(param, param.grad, state, group)
                schedule_free_update(param, state["z"], direction, lr=lr, beta=self.beta(group), c=c)
        return loss

    def direction(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> Tensor:
        """The step direction d for z (the gradient, or its Adam-normalised form), weight decay included."""
        raise NotImplementedError


class SGDScheduleFree(_ScheduleFree):
    r"""Schedule-free SGD, equal step for step to ``schedulefree.SGDScheduleFree``.

    ==========  ===================  ====================================================
    symbol      argument             meaning
    ==========  ===================  ====================================================
    γ           ``lr``               learning rate of the z sequence (default 1.0, as the package)
    β           ``momentum``         y = (1−β) z + β x, in (0, 1)
    λ           ``weight_decay``     L2 penalty at y: d = g + λ y
    T_w         ``warmup_steps``     linear warmup of γ over this many steps
    r, p        ``r``, ``weight_lr_power``  average weights w_t = t^r (max γ)^p
    ==========  ===================  ====================================================

    See the module docstring for the equations. Differences from the package: the gradient in ``.grad`` is
    left unchanged (the package adds λy to it in place); no ``foreach`` option (the results are the same).

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    rules = {**_ScheduleFree.rules, "momentum": _open_fraction}
    state_keys = frozenset({"z"})

    def __init__(self, params: Any, lr: float = 1.0, momentum: float = 0.9, weight_decay: float = 0.0,
                 warmup_steps: int = 0, r: float = 0.0, weight_lr_power: float = 2.0) -> None:
        super().__init__(params, dict(self._defaults(lr, weight_decay, warmup_steps, r, weight_lr_power),
                                      momentum=momentum))

    def beta(self, group: dict[str, Any]) -> float:
        return group["momentum"]

    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"z": param.detach().clone(memory_format=torch.preserve_format)}  # z₁ = x₁ = y₁ = θ₀

    def direction(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> Tensor:
        if group["weight_decay"] != 0:
            return grad.add(param, alpha=group["weight_decay"])  # d = g(y) + λ y
        return grad


class AdamWScheduleFree(_ScheduleFree):
    r"""Schedule-free AdamW, equal step for step to ``schedulefree.AdamWScheduleFree``.

    The z step divides the gradient by Adam's second moment (no first moment: the x/y averaging plays
    its part), and weight decay is decoupled, taken at y:

    .. math::
        v_t = β_2 v_{t-1} + (1-β_2) g_t^2 \qquad d_t = g_t / (\sqrt{v_t / (1-β_2^t)} + ε) + λ y_t

    ==========  ===================  ====================================================
    symbol      argument             meaning
    ==========  ===================  ====================================================
    γ           ``lr``               learning rate of the z sequence (default 0.0025, as the package)
    β₁, β₂      ``betas``            β₁: y = (1−β₁) z + β₁ x, in (0, 1); β₂: decay of the second moment
    ε           ``eps``              added to √v̂
    λ           ``weight_decay``     decoupled decay at y
    T_w         ``warmup_steps``     linear warmup of γ over this many steps
    r, p        ``r``, ``weight_lr_power``  average weights w_t = t^r (max γ)^p
    ==========  ===================  ====================================================

    Differences from the package: ``.grad`` is left unchanged (the package divides it in place); β₁ = 0 is
    refused (the package accepts it, then divides by zero in ``eval()``); no ``foreach`` option.
    Differences from the paper: the bias correction of v uses the step count k + 1 of the group.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    rules = {**_ScheduleFree.rules, "betas": _betas, "eps": check_non_negative}
    state_keys = frozenset({"z", "exp_avg_sq"})

    def __init__(self, params: Any, lr: float = 0.0025, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, warmup_steps: int = 0, r: float = 0.0,
                 weight_lr_power: float = 2.0) -> None:
        super().__init__(params, dict(self._defaults(lr, weight_decay, warmup_steps, r, weight_lr_power),
                                      betas=tuple(betas) if isinstance(betas, (tuple, list)) else betas, eps=eps))

    def beta(self, group: dict[str, Any]) -> float:
        return group["betas"][0]

    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"z": param.detach().clone(memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format)}

    def direction(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> Tensor:
        beta2, v = group["betas"][1], state["exp_avg_sq"]
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)                # vₜ = β₂ vₜ₋₁ + (1 − β₂) gₜ²
        denom = v.div(1 - beta2 ** group["k"]).sqrt_().add_(group["eps"])  # √(vₜ / (1 − β₂ᵗ)) + ε  (k already t)
        direction = grad.div(denom)                                        # d = g / (√v̂ + ε)
        if group["weight_decay"] != 0:
            direction.add_(param, alpha=group["weight_decay"])             # d ← d + λ y
        return direction
