"""Lookahead: let any optimizer take k fast steps, then pull the weights part of the way back.

torch.optim has no Lookahead; its tests check it against the paper's Algorithm 1 instead.

Taught in: notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from optimlab.validation import check_int, check_number, invalid


class Lookahead(torch.optim.Optimizer):
    r"""Lookahead (Zhang, Lucas, Hinton & Ba, 2019) around any ``torch.optim.Optimizer``.

    .. math::
        θ_{t,0} &= φ_{t-1} \\
        θ_{t,i} &= θ_{t,i-1} + A(L, θ_{t,i-1}, d) \qquad i = 1, \dots, k \\
        φ_t &= φ_{t-1} + α\, (θ_{t,k} - φ_{t-1})

    ==========  ==================  ==============================================
    symbol      argument            meaning
    ==========  ==================  ==============================================
    A           ``optimizer``       the inner optimizer: SGD, Adam, ... (ours or torch's)
    k           ``k``               fast steps between two synchronisations
    α           ``alpha``           how far the slow weights move towards the fast ones
    θ, φ        (state)             fast weights (the model's parameters), slow weights
    ==========  ==================  ==============================================

    The model's parameters are the fast weights θ; the inner optimizer updates them as usual.
    Every ``k``-th call of :meth:`step`, the slow weights φ move a fraction α of the way to θ and θ
    is reset to φ. α = 1 is the inner optimizer alone.

    It shares the inner optimizer's ``param_groups`` (the same list of the same dicts), so an lr
    scheduler built on the Lookahead changes the inner optimizer's learning rate; ``zero_grad``
    delegates. :meth:`state_dict` holds the inner state, the slow weights and the step counter, so
    a resumed run continues exactly.

    Paper: "Lookahead Optimizer: k steps forward, 1 step back", NeurIPS 2019, Algorithm 1.
    Differences from the paper: Algorithm 1 leaves open what happens to the inner optimizer's state
    at a synchronisation; like the authors' code by default, it is kept. φ₀ is taken at the first
    :meth:`step` (not at construction, as the authors' code does), so weights loaded into the model
    after building the optimizer are the starting point; a param group added later starts its slow
    weights at its first step. The authors' ``state_dict`` drops the slow weights; this one keeps them.

    State (in ``self.state``, per parameter): ``slow_param`` (φ).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise invalid("optimizer", optimizer, "a torch.optim.Optimizer (ours or torch's)")
        self._check(k, alpha)
        self.optimizer = optimizer
        self.k, self.alpha = k, alpha
        self.fast_steps = 0  # inner steps taken so far; a synchronisation follows every k-th
        # torch's constructor sets up the hooks and an empty state; the groups it sees are the inner's dicts.
        super().__init__(optimizer.param_groups, optimizer.defaults)
        self.param_groups = optimizer.param_groups  # the very same list, so add_param_group reaches both

    @staticmethod
    def _check(k: Any, alpha: Any, fast_steps: Any = 0) -> None:
        """The constructor's rules, applied to a loaded state_dict too."""
        check_int("k", k, low=1)
        check_number("alpha", alpha, low=0.0, high=1.0, low_inclusive=False)
        check_int("fast_steps", fast_steps, low=0)

    def _params(self) -> list[Tensor]:
        return [param for group in self.param_groups for param in group["params"]]

    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        """One fast step of the inner optimizer; every k-th, also the slow step. Returns the closure's loss."""
        self._remember_start()
        loss = self.optimizer.step(closure)  # type: ignore[arg-type]  # θₜ,ᵢ = θₜ,ᵢ₋₁ + A(L, θₜ,ᵢ₋₁, d)
        self.fast_steps += 1
        if self.fast_steps % self.k == 0:
            self._synchronize()
        return loss

    @torch.no_grad()
    def _remember_start(self) -> None:
        for param in self._params():
            if "slow_param" not in self.state[param]:
                self.state[param]["slow_param"] = param.detach().clone()  # φ₀ = θ₀

    @torch.no_grad()
    def _synchronize(self) -> None:
        for param in self._params():
            slow = self.state[param]["slow_param"]
            slow.add_(param - slow, alpha=self.alpha)  # φₜ = φₜ₋₁ + α (θₜ,ₖ − φₜ₋₁)
            param.copy_(slow)  # θₜ₊₁,₀ = φₜ

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """The inner optimizer's state_dict, the slow weights (by parameter index) and the counters."""
        slow = {index: self.state[p]["slow_param"] for index, p in enumerate(self._params()) if p in self.state}
        return {
            "inner": self.optimizer.state_dict(), "slow_params": slow,
            "fast_steps": self.fast_steps, "k": self.k, "alpha": self.alpha,
        }

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group to the inner optimizer (so its own checks apply); the groups list is shared."""
        if self.param_groups is not self.optimizer.param_groups:  # inside torch's constructor, before sharing
            super().add_param_group(param_group)
        else:
            self.optimizer.add_param_group(param_group)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load :meth:`state_dict`'s output; ``k``, ``alpha`` and the counter are checked as the constructor does."""
        keys = {"inner", "slow_params", "fast_steps", "k", "alpha"}
        if not isinstance(state_dict, dict) or not keys <= set(state_dict):
            raise invalid("state_dict", type(state_dict).__name__, f"a Lookahead state_dict with keys {sorted(keys)}")
        self._check(state_dict["k"], state_dict["alpha"], state_dict["fast_steps"])
        self.optimizer.load_state_dict(state_dict["inner"])
        self.param_groups = self.optimizer.param_groups  # torch's load_state_dict builds a new list
        self.k, self.alpha, self.fast_steps = state_dict["k"], state_dict["alpha"], state_dict["fast_steps"]
        self.state.clear()
        for index, param in enumerate(self._params()):
            if index in state_dict["slow_params"]:
                self.state[param]["slow_param"] = state_dict["slow_params"][index].to(param, copy=True)

    def __getstate__(self) -> dict[str, Any]:
        # torch's keeps only defaults, state and param_groups; copy.deepcopy and pickle need the rest.
        return {
            **super().__getstate__(), "optimizer": self.optimizer, "k": self.k, "alpha": self.alpha,
            "fast_steps": self.fast_steps,
        }

    def __repr__(self) -> str:
        return f"Lookahead(k={self.k}, alpha={self.alpha}, optimizer={self.optimizer!r})"
