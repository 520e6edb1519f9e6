"""The base class every course optimizer shares: torch's bookkeeping, and nothing of the math.

It subclasses ``torch.optim.Optimizer``, so torch's schedulers, ``GradScaler``, checkpoints and any
training framework accept our optimizers. Param groups, ``zero_grad``, ``state_dict`` and
``load_state_dict`` are torch's own. A subclass only says two things:

- ``init_state(param, group)``: the per-parameter state before the first step (torch's key names);
- ``update(param, grad, state, group)``: one step for one parameter, reading as the equations.

``step`` walks the groups, skips parameters whose ``.grad`` is ``None`` (as torch does), creates state
lazily (and keeps none for a stateless update), flips the gradient's sign when ``maximize=True``, and calls ``update``.

Taught in: notebooks/03_optimizer_anatomy.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


def new_step_counter() -> Tensor:
    """torch keeps ``state["step"]`` as a float32 scalar tensor on the CPU; so do we, for checkpoint parity."""
    return torch.tensor(0.0, dtype=torch.float32)


def apply_weight_decay(param: Tensor, grad: Tensor, *, lr: float, weight_decay: float, decoupled: bool) -> Tensor:
    """Weight decay as the Adam family does it; returns the gradient the moments should see.

    Decoupled (AdamW): θ ← θ(1 − γλ), outside the moments, so every weight shrinks at the same rate.
    Coupled (L2): g ← g + λθ, inside the moments, so the adaptive denominator rescales the decay too.
    """
    if weight_decay == 0:
        return grad
    if decoupled:
        param.mul_(1 - lr * weight_decay)  # θ ← θ(1 − γλ)
        return grad
    return grad.add(param, alpha=weight_decay)  # g ← g + λθ


class Optimizer(torch.optim.Optimizer):
    """Base class: loops over parameters and delegates each one's update to the subclass."""

    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """State for ``param`` before its first step; torch's keys (``step``, ``exp_avg``, ...)."""
        return {}

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Change ``param`` in place from ``grad`` (already negated when maximizing) and ``state``."""
        raise NotImplementedError(f"{type(self).__name__} must implement update()")

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One update of every parameter that has a gradient; returns the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                state = self.state[param] if param in self.state else self.init_state(param, group)
                grad = -param.grad if group.get("maximize", False) else param.grad
                self.update(param, grad, state, group)
                if state:  # like torch, keep no entry for a stateless update (plain SGD)
                    self.state[param] = state
        return loss

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A state_dict saved by torch.optim carries keys we ignore (foreach, fused, ...); one saved by an
        # older version may lack ours, so fill them from this optimizer's defaults.
        # torch's own __setstate__ adds its keys (differentiable, ...) to defaults; leave those out of groups.
        ours = dict(state.get("defaults") or self.defaults)  # deepcopy passes defaults; load_state_dict does not
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in ours.items():
                group.setdefault(key, value)
