"""L-BFGS: a quasi-Newton method that builds curvature from the last few steps; ``step(closure)`` runs many iterations.

Taught in: notebooks/13_modern_optimizers.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer
from optimlab.optim.line_search import Point, strong_wolfe
from optimlab.validation import check_choice, check_int, check_non_negative, invalid

LINE_SEARCH_FNS = (None, "strong_wolfe")


def as_float(loss: Any) -> float:
    """The closure's loss as a Python float (torch's LBFGS keeps losses as floats)."""
    return float(loss.detach()) if isinstance(loss, Tensor) else float(loss)


def two_loop_direction(grad: Tensor, old_dirs: list[Tensor], old_stps: list[Tensor], ro: list[Tensor],
                       h_diag: Any, al: list[Any]) -> Tensor:
    """d = −H g, with H the L-BFGS inverse-Hessian estimate from the pairs (sᵢ, yᵢ) (Nocedal & Wright, Alg. 7.4).

    ``old_dirs`` holds yᵢ = gᵢ₊₁ − gᵢ, ``old_stps`` sᵢ = θᵢ₊₁ − θᵢ, ``ro`` ρᵢ = 1/(yᵢ·sᵢ); H₀ = ``h_diag`` · I.
    ``al`` is scratch space for the αᵢ (torch keeps it in the state).
    """
    q = grad.neg()
    for i in range(len(old_dirs) - 1, -1, -1):  # newest pair first
        al[i] = old_stps[i].dot(q) * ro[i]  # αᵢ = ρᵢ sᵢ·q
        q.add_(old_dirs[i], alpha=-al[i])  # q ← q − αᵢ yᵢ
    r = torch.mul(q, h_diag)  # r = H₀ q
    for i in range(len(old_dirs)):  # oldest pair first
        be_i = old_dirs[i].dot(r) * ro[i]  # βᵢ = ρᵢ yᵢ·r
        r.add_(old_stps[i], alpha=al[i] - be_i)  # r ← r + (αᵢ − βᵢ) sᵢ
    return r


class LBFGS(Optimizer):
    r"""L-BFGS (Liu & Nocedal, 1989) as ``torch.optim.LBFGS`` computes it (a port of minFunc).

    Each iteration k, with g the gradient of all parameters flattened into one vector:

    .. math::
        s_{k-1} &= θ_k - θ_{k-1} \qquad y_{k-1} = g_k - g_{k-1} \quad (\text{kept if } y·s > 10^{-10}) \\
        d_k &= -H_k g_k \quad (\text{two-loop recursion over the last } m \text{ pairs},\;
              H_0 = \tfrac{y·s}{y·y} I) \\
        θ_{k+1} &= θ_k + t_k d_k, \quad t_k = γ \text{ (or from a strong-Wolfe line search; }
                   t_1 = γ \min(1, 1/\lVert g_1 \rVert_1))

    ======  ======================  ==============================================================
    symbol  argument                meaning
    ======  ======================  ==============================================================
    γ       ``lr``                  step length (the line search's first trial)
    —       ``max_iter``            iterations per ``step`` call
    —       ``max_eval``            closure calls per ``step`` call (default ⌊1.25 max_iter⌋)
    —       ``tolerance_grad``      stop when max |g| ≤ this
    —       ``tolerance_change``    stop when the loss or the step changes less than this
    m       ``history_size``        number of (s, y) pairs kept
    —       ``line_search_fn``      None (fixed step γ) or "strong_wolfe"
    ======  ======================  ==============================================================

    Why ``step`` needs a closure: one ``step`` is up to ``max_iter`` iterations, and every iteration needs
    the loss and gradient at a *new* point (to form yₖ, and for each line-search trial). Only the caller
    can evaluate the model, so it passes a closure that zeroes the gradients, recomputes the loss,
    calls ``backward`` and returns the loss; ``step`` returns the loss of the first call. This is a
    full-batch method: the curvature pairs assume the same function at every evaluation.

    Differences from the paper: the step is a fixed γ unless ``line_search_fn="strong_wolfe"`` (the paper
    uses a Wolfe line search always); the first step is scaled by 1/‖g‖₁; pairs with y·s ≤ 1e-10 are
    skipped rather than damped. One param group only, as torch (torch's error). Complex parameters
    count as their real and imaginary parts; a parameter whose ``.grad`` is None counts as a zero gradient.

    State (all on the first parameter, torch's keys): ``func_evals``, ``n_iter``, ``d``, ``t``,
    ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss``, ``al``.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    rules = {
        **Optimizer.rules,
        "max_iter": lambda name, value: check_int(name, value, low=1),
        "max_eval": lambda name, value: check_int(name, value, low=1),
        "tolerance_grad": check_non_negative,
        "tolerance_change": check_non_negative,
        "history_size": lambda name, value: check_int(name, value, low=1),
        "line_search_fn": lambda name, value: check_choice(name, value, LINE_SEARCH_FNS),
    }
    state_keys = frozenset({"func_evals", "n_iter"})

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        check_int("max_iter", max_iter, low=1)  # before it sets max_eval's default
        if max_eval is None:
            max_eval = max_iter * 5 // 4  # torch's default, ⌊1.25 max_iter⌋
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """LBFGS works on one flat vector of all parameters, so it takes exactly one group (torch's error)."""
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups): pass one group")
        super().add_param_group(param_group)

    # --- the parameters as one flat vector ---

    def _params(self) -> list[Tensor]:
        return [torch.view_as_real(p) if torch.is_complex(p) else p for p in self.param_groups[0]["params"]]

    def _flat_grad(self) -> Tensor:
        """All gradients in one vector; a missing gradient counts as zeros."""
        views = []
        for p in self.param_groups[0]["params"]:
            grad = torch.zeros_like(p) if p.grad is None else p.grad.to_dense() if p.grad.is_sparse else p.grad
            views.append((torch.view_as_real(grad) if torch.is_complex(grad) else grad).reshape(-1))
        return torch.cat(views)

    def _move(self, t: Any, d: Tensor) -> None:
        """θ ← θ + t d, d split back into the parameters' shapes."""
        offset = 0
        for p in self._params():
            p.add_(d[offset : offset + p.numel()].view_as(p), alpha=t)
            offset += p.numel()

    def _evaluate(self, closure: Callable[[], Any]) -> tuple[float, Tensor]:
        with torch.enable_grad():
            loss = closure()
        return as_float(loss), self._flat_grad()

    def _probe(self, closure: Callable[[], Any], t: Any, d: Tensor) -> Point:
        """Loss and gradient at θ + t d, then put θ back: one line-search trial."""
        saved = [p.clone(memory_format=torch.contiguous_format) for p in self.param_groups[0]["params"]]
        self._move(t, d)
        loss, grad = self._evaluate(closure)
        for p, value in zip(self.param_groups[0]["params"], saved, strict=True):
            p.copy_(value)
        return Point(t, loss, grad, grad.dot(d))

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Up to ``max_iter`` iterations; ``closure`` (required) re-evaluates the loss; returns its first value."""
        if closure is None or not callable(closure):
            raise invalid("closure", closure, "a function that zeroes the gradients, computes the loss, calls "
                          "backward() and returns the loss (LBFGS evaluates it several times per step)")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]  # lr may be a 0-dim tensor
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        state = self.state[group["params"][0]]  # torch keeps LBFGS's global state on the first parameter
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with torch.enable_grad():
            first_loss = closure()
        loss, flat_grad = as_float(first_loss), self._flat_grad()
        evals = 1
        state["func_evals"] += 1
        if flat_grad.abs().max() <= tolerance_grad:
            return first_loss  # already optimal

        d, t = state.get("d"), state.get("t")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")
        for n_iter in range(1, max_iter + 1):
            state["n_iter"] += 1
            d = self._direction(state, flat_grad, prev_flat_grad, d, t, group["history_size"])
            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.clone(memory_format=torch.contiguous_format)
            else:
                prev_flat_grad.copy_(flat_grad)
            prev_loss = loss
            t = lr  # the first trial step: γ ...
            if state["n_iter"] == 1:  # ... or γ min(1, 1/‖g‖₁) on the very first iteration (no curvature known yet)
                t = cast(Any, min(1.0, 1.0 / flat_grad.abs().sum())) * lr  # a float or a 0-dim tensor, as in torch
            gtd = flat_grad.dot(d)  # directional derivative g·d
            if gtd > -tolerance_change:
                break  # d is (numerically) not a descent direction
            if group["line_search_fn"] == "strong_wolfe":
                def probe(trial_t: Any, d: Tensor = d) -> Point:
                    return self._probe(closure, trial_t, d)  # one trial: loss and gradient at θ + t d

                point, new_evals = strong_wolfe(probe, Point(0, loss, flat_grad, gtd), t, d.abs().max(),
                                                max_ls=max_eval - evals)
                t, loss, flat_grad = point.t, point.f, point.g
                self._move(t, d)  # θₖ₊₁ = θₖ + tₖ dₖ
            else:
                self._move(t, d)  # θₖ₊₁ = θₖ + γ dₖ
                new_evals = 0
                if n_iter != max_iter:  # the last iteration's loss would be wasted: step returns the first one
                    loss, flat_grad = self._evaluate(closure)
                    new_evals = 1
            evals += new_evals
            state["func_evals"] += new_evals
            if n_iter == max_iter or evals >= max_eval or flat_grad.abs().max() <= tolerance_grad:
                break  # out of iterations or evaluations, or optimal
            if d.mul(t).abs().max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break  # no progress
        state.update(d=d, t=t, prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return first_loss

    def _direction(self, state: dict[str, Any], flat_grad: Tensor, prev_flat_grad: Tensor | None, d: Any, t: Any,
                   history_size: int) -> Tensor:
        """The search direction: −g first, then −H g after storing the newest curvature pair (s, y)."""
        if state["n_iter"] == 1:
            state.update(old_dirs=[], old_stps=[], ro=[], H_diag=1)
            return flat_grad.neg()
        y = flat_grad.sub(cast(Tensor, prev_flat_grad))  # yₖ₋₁ = gₖ − gₖ₋₁  (set by every earlier iteration)
        s = d.mul(t)  # sₖ₋₁ = tₖ₋₁ dₖ₋₁
        ys = y.dot(s)
        if ys > 1e-10:  # keep only pairs with positive curvature, so H stays positive definite
            if len(state["old_dirs"]) == history_size:
                for key in ("old_dirs", "old_stps", "ro"):
                    state[key].pop(0)  # forget the oldest pair
            state["old_dirs"].append(y)
            state["old_stps"].append(s)
            state["ro"].append(1.0 / ys)
            state["H_diag"] = ys / y.dot(y)  # H₀ = (y·s / y·y) I: the latest curvature along y
        if "al" not in state:
            state["al"] = [None] * history_size
        return two_loop_direction(flat_grad, state["old_dirs"], state["old_stps"], state["ro"], state["H_diag"],
                                  state["al"])
