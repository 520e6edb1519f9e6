"""Adafactor: Adam-like steps from a *factored* second moment (a row and a column average per matrix).

Taught in: notebooks/13_modern_optimizers.ipynb.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import Optimizer, new_step_counter
from optimlab.validation import check_non_negative, check_number, invalid


def refuse_complex(param_group: dict[str, Any], name: str) -> None:
    """Raise a ValueError if the group holds a complex parameter (for optimizers that torch also refuses them)."""
    params = param_group["params"]
    param_group["params"] = params = [params] if isinstance(params, Tensor) else list(params)
    for param in params:
        if torch.is_complex(param):
            raise invalid("params", f"<a {param.dtype} tensor>",
                          f"real parameters ({name} does not support complex ones)")


def check_eps_pair(name: str, eps: Any) -> tuple[float | None, float]:
    """Adafactor's (ε₁, ε₂): ε₁ None (the dtype's machine epsilon) or a number >= 0, and ε₂ >= 0."""
    if not isinstance(eps, (tuple, list)) or len(eps) != 2:
        raise invalid(name, eps, "a pair (eps1, eps2): eps1 None or a number >= 0, eps2 a number >= 0")
    if eps[0] is not None:
        check_non_negative(f"{name}[0]", eps[0])
    check_non_negative(f"{name}[1]", eps[1])
    return tuple(eps)


def adafactor_init(param: Tensor) -> dict[str, Any]:
    """torch's keys: ``step``; ``row_var`` and ``col_var`` for a tensor of 2 or more dimensions, else ``variance``.

    For an n × m matrix the state is n + m numbers instead of Adam's 2nm: ``row_var`` has shape (n, 1)
    and ``col_var`` (1, m); leading dimensions of a higher-dimensional tensor are kept as a batch.
    """
    state: dict[str, Any] = {"step": new_step_counter()}
    if param.dim() > 1:
        state["row_var"] = param.new_zeros((*param.shape[:-1], 1))
        state["col_var"] = param.new_zeros((*param.shape[:-2], 1, param.shape[-1]))
    else:
        state["variance"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    return state


def second_moment_estimate(grad: Tensor, state: dict[str, Any], *, one_minus_beta2: float, eps1: float) -> Tensor:
    """Update the running averages of g² in ``state`` and return the estimate V̂ₜ (a new tensor)."""
    if grad.dim() <= 1:
        state["variance"].lerp_(grad * grad, one_minus_beta2)  # V̂ₜ = β̂₂ V̂ₜ₋₁ + (1 − β̂₂) gₜ²
        return state["variance"].clone()
    row_var, col_var = state["row_var"], state["col_var"]
    # torch.norm(g)² / m is mean(g²) along a row, without materialising g² (torch computes it this way)
    row_var.lerp_(torch.norm(grad, dim=-1, keepdim=True).square_().div_(grad.size(-1)), one_minus_beta2)  # Rₜ
    col_var.lerp_(torch.norm(grad, dim=-2, keepdim=True).square_().div_(grad.size(-2)), one_minus_beta2)  # Cₜ
    # V̂ₜ = Rₜ Cₜ / max(mean(Rₜ), ε₁): the rank-1 matrix whose row and column means match Rₜ and Cₜ
    return (row_var @ col_var).div_(row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1))


def rms(tensor: Tensor) -> float:
    """Root mean square, RMS(x) = ‖x‖₂ / √numel."""
    return tensor.norm(2).item() / tensor.numel() ** 0.5


def adafactor_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 1e-2,
    beta2_decay: float = -0.8,
    eps: tuple[float | None, float] = (None, 1e-3),
    d: float = 1.0,
    weight_decay: float = 0.0,
) -> None:
    """One Adafactor step on ``param`` in place; an empty ``state`` is initialised on the first call."""
    if not state:
        state.update(adafactor_init(param))
    eps1 = torch.finfo(param.dtype).eps if eps[0] is None else eps[0]
    eps2 = eps[1]
    state["step"] += 1
    t = state["step"].item()
    one_minus_beta2 = t**beta2_decay  # 1 − β̂₂ₜ = t^τ  (β̂₂ₜ = 1 − t^τ grows towards 1)
    rho = min(lr, 1 / t**0.5)  # ρₜ = min(γ, 1/√t): the relative step size
    alpha = max(eps2, rms(param)) * rho  # αₜ = max(ε₂, RMS(θₜ₋₁)) ρₜ: steps scale with the weights
    if weight_decay != 0:
        param.mul_(1 - lr * weight_decay)  # θ ← θ (1 − γλ)  (decoupled)
    v_hat = second_moment_estimate(grad, state, one_minus_beta2=one_minus_beta2, eps1=eps1)
    update = v_hat.clamp_(min=eps1 * eps1).rsqrt_().mul_(grad)  # Uₜ = gₜ / max(√V̂ₜ, ε₁)
    clip = max(1.0, update.norm(2).item() / (update.numel() ** 0.5 * d))  # Ûₜ = Uₜ / max(1, RMS(Uₜ)/d)
    param.add_(update, alpha=-alpha / clip)  # θₜ = θ − αₜ Ûₜ


class Adafactor(Optimizer):
    r"""Adafactor (Shazeer & Stern, 2018) as ``torch.optim.Adafactor`` computes it.

    .. math::
        β̂_{2,t} &= 1 - t^{τ} \qquad ρ_t = \min(γ, 1/\sqrt t) \qquad α_t = \max(ε_2, \mathrm{RMS}(θ_{t-1}))\, ρ_t \\
        R_t &= β̂_{2,t} R_{t-1} + (1-β̂_{2,t})\, \mathrm{mean}_{row}(g_t^2) \qquad
        C_t = β̂_{2,t} C_{t-1} + (1-β̂_{2,t})\, \mathrm{mean}_{col}(g_t^2) \\
        V̂_t &= R_t C_t / \max(\mathrm{mean}(R_t), ε_1) \quad (\text{a vector keeps } V̂_t \text{ whole}) \\
        U_t &= g_t / \max(\sqrt{V̂_t}, ε_1) \qquad Û_t = U_t / \max(1, \mathrm{RMS}(U_t)/d) \\
        θ_t &= θ_{t-1}(1 - γλ) - α_t Û_t

    ==========  ==================  ==================================================================
    symbol      argument            meaning
    ==========  ==================  ==================================================================
    γ           ``lr``              cap on the relative step ρ, and the decay's step
    τ           ``beta2_decay``     β̂₂ = 1 − t^τ (τ ≤ 0; −0.8 in the paper)
    ε₁, ε₂      ``eps``             floor of √V̂ (None: the dtype's machine epsilon); floor of RMS(θ)
    d           ``d``               clipping threshold on RMS(U) (≥ 1)
    λ           ``weight_decay``    decoupled weight decay
    ==========  ==================  ==================================================================

    Memory: for an n × m weight Adafactor keeps n + m numbers of second-moment state (Adam keeps 2nm),
    and no first moment. The step is *relative*: α scales with the RMS of the weights themselves.
    ``maximize=True`` ascends.

    Differences from the paper (as torch documents them): ``lr`` caps ρ (the paper uses 0.01) and is
    the factor of decoupled weight decay (the paper has none); ε₁ is applied to mean(R) and to √V̂ rather
    than added to g²; row and column *means* instead of sums (the same V̂); no first moment (the paper's
    optional β₁). ε₁ = None takes the machine epsilon of each parameter's dtype (torch takes that of the
    group's first parameter, which differs only in a group mixing dtypes). Complex parameters and sparse
    gradients are refused, as torch refuses them.

    State keys: ``step`` (float32 scalar tensor), ``row_var`` and ``col_var`` (≥ 2-D) or ``variance``.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    rules = {
        **Optimizer.rules,
        "beta2_decay": lambda name, value: check_number(name, value, high=0.0),  # β̂₂ = 1 − t^τ must grow to 1
        "eps": lambda name, value: check_eps_pair(name, value),
        "d": lambda name, value: check_number(name, value, low=1.0),  # d < 1 would clip every update
    }
    state_keys = frozenset({"step"})

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        **implementation: Any,
    ) -> None:
        eps = tuple(eps) if isinstance(eps, list) else eps
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, **implementation)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group as torch does, refusing complex parameters (torch refuses them at the first step)."""
        refuse_complex(param_group, "Adafactor")
        super().add_param_group(param_group)

    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return adafactor_init(param)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        adafactor_update(
            param, grad, state, lr=group["lr"], beta2_decay=group["beta2_decay"], eps=group["eps"], d=group["d"],
            weight_decay=group["weight_decay"],
        )
