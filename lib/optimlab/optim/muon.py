"""Muon: momentum, then replace the update matrix by its nearest orthogonal matrix (Newton–Schulz).

Taught in: notebooks/13_modern_optimizers.ipynb.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from optimlab.optim.adafactor import refuse_complex
from optimlab.optim.base import Optimizer
from optimlab.validation import check_choice, check_fraction, check_int, check_positive, invalid

# Keller Jordan's quintic coefficients (torch's defaults): chosen to make the slope at 0 as large as possible, so
# that 5 steps push every singular value into roughly [0.7, 1.2] instead of converging exactly to 1.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def check_coefficients(name: str, value: Any) -> tuple[float, float, float]:
    """Three finite numbers (a, b, c) for the Newton–Schulz polynomial."""
    ok = isinstance(value, (tuple, list)) and len(value) == 3
    if not ok or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value):
        raise invalid(name, value, "three finite numbers (a, b, c)")
    return tuple(value)


def newton_schulz(matrix: Tensor, coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
                  steps: int = NS_STEPS, eps: float = 1e-7) -> Tensor:
    """Approximately orthogonalise ``matrix`` (G = U S Vᵀ ↦ ≈ U Vᵀ) in bfloat16, exactly as torch's Muon does.

    Each step applies the odd polynomial X ← aX + b(XXᵀ)X + c(XXᵀ)²X, which pushes every singular
    value towards 1 without an SVD: only matrix products, cheap on accelerators and fine in bfloat16.
    Returns a bfloat16 tensor of ``matrix``'s shape.
    """
    a, b, c = coefficients
    x = matrix.bfloat16()
    tall = matrix.size(0) > matrix.size(1)
    if tall:
        x = x.T  # work on the wide orientation: XXᵀ is then the smaller Gram matrix
    x.div_(x.norm().clamp(min=eps))  # X₀ = G / ‖G‖_F, so every singular value is ≤ 1
    for _ in range(steps):
        gram = x @ x.T  # A = X Xᵀ
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)  # B = b A + c A²
        x = torch.addmm(x, poly, x, beta=a)  # X ← a X + B X
    return x.T if tall else x


def adjusted_lr(lr: float | Tensor, adjust_lr_fn: str | None, shape: torch.Size) -> Any:
    """γ' for an A × B matrix: "original" (Jordan) γ √max(1, A/B); "match_rms_adamw" (Moonshot) 0.2 γ √max(A, B)."""
    rows, cols = shape[:2]
    if adjust_lr_fn == "match_rms_adamw":
        return lr * (0.2 * math.sqrt(max(rows, cols)))  # RMS of the update ≈ AdamW's, so AdamW's γ and λ carry over
    return lr * math.sqrt(max(1, rows / cols))  # None or "original"


def muon_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: float | Tensor = 1e-3,
    weight_decay: float = 0.1,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
    eps: float = 1e-7,
    ns_steps: int = NS_STEPS,
    adjust_lr_fn: str | None = None,
) -> None:
    """One Muon step on the 2-D ``param`` in place; ``state`` holds ``momentum_buffer`` (created if missing)."""
    if "momentum_buffer" not in state:
        state["momentum_buffer"] = torch.zeros_like(grad, memory_format=torch.preserve_format)
    buf = state["momentum_buffer"]
    buf.lerp_(grad, 1 - momentum)  # Bₜ = μ Bₜ₋₁ + (1 − μ) gₜ
    direction = grad.lerp(buf, momentum) if nesterov else buf  # Nesterov: (1 − μ) gₜ + μ Bₜ; else Bₜ
    ortho = newton_schulz(direction, ns_coefficients, ns_steps, eps)  # Oₜ = NS(B̃ₜ) ≈ U Vᵀ
    param.mul_(1 - lr * weight_decay)  # θ ← θ (1 − γλ)  (decoupled)
    param.add_(ortho, alpha=-adjusted_lr(lr, adjust_lr_fn, param.shape))  # θₜ = θ − γ' Oₜ


class Muon(Optimizer):
    r"""Muon (Jordan et al., 2024; Liu et al., 2025 for ``match_rms_adamw``) as ``torch.optim.Muon`` computes it.

    .. math::
        B_t &= μ B_{t-1} + (1-μ) g_t \qquad \tilde B_t = (1-μ) g_t + μ B_t \text{ (nesterov) or } B_t \\
        O_t &= \mathrm{NS}^{(a,b,c)}_k(\tilde B_t / \lVert \tilde B_t \rVert_F) \approx U V^\top
               \text{ where } \tilde B_t = U S V^\top \\
        θ_t &= θ_{t-1}(1 - γλ) - γ' O_t, \qquad γ' = γ\sqrt{\max(1, A/B)} \text{ or } 0.2\,γ\sqrt{\max(A, B)}

    =============  =====================  ============================================================
    symbol         argument               meaning
    =============  =====================  ============================================================
    γ              ``lr``                 learning rate
    λ              ``weight_decay``       decoupled weight decay
    μ              ``momentum``           momentum of the buffer B
    (a, b, c)      ``ns_coefficients``    Newton–Schulz polynomial aX + b(XXᵀ)X + c(XXᵀ)²X
    k              ``ns_steps``           Newton–Schulz steps (< 100)
    ε              ``eps``                floor of ‖B̃‖_F in the normalisation
    γ'             ``adjust_lr_fn``       None/"original" (Jordan) or "match_rms_adamw" (Moonshot)
    =============  =====================  ============================================================

    Why orthogonalise: the momentum matrix of a hidden layer is dominated by a few directions (its
    singular values spread over orders of magnitude); setting them all to ≈ 1 gives the rare directions
    as large a step as the common ones. That needs a matrix, so Muon takes 2-D parameters only: give
    biases, norms, embeddings and the output head to AdamW.

    Differences from the papers and torch's docstring: the buffer is an exponential average
    (``lerp``, so (1 − μ) scales g) where the blog and torch's docstring write Bₜ = μBₜ₋₁ + gₜ; since the
    update is normalised the scale only matters through the Nesterov mix. Newton–Schulz runs in
    bfloat16 (as torch and the reference code), so the update carries bfloat16 rounding (~4e-3 relative).
    Complex parameters are refused (torch refuses them at the first step), as is a non-2-D parameter
    (torch's error, raised here also for groups added later). Torch's Muon has no ``maximize``.

    State key: ``momentum_buffer``.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    rules = {
        **Optimizer.rules,
        "momentum": check_fraction,  # stricter than torch (>= 0): μ >= 1 never forgets, or extrapolates
        "ns_coefficients": lambda name, value: check_coefficients(name, value),
        "eps": check_positive,
        "ns_steps": lambda name, value: check_int(name, value, low=0, high=99),  # torch: < 100
        "adjust_lr_fn": lambda name, value: check_choice(name, value, ADJUST_LR_FNS),
    }
    state_keys = frozenset({"momentum_buffer"})

    def __init__(
        self,
        params: Any,
        lr: float | Tensor = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = NS_STEPS,
        adjust_lr_fn: str | None = None,
    ) -> None:
        ns_coefficients = tuple(ns_coefficients) if isinstance(ns_coefficients, list) else ns_coefficients
        defaults = dict(
            lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
            ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn,
        )
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group as torch does, refusing parameters that are not 2-D matrices, and complex ones."""
        refuse_complex(param_group, "Muon")
        for param in param_group["params"]:
            if param.ndim != 2:
                raise ValueError(
                    f"params: Muon only supports 2D parameters whereas we found a parameter with size: "
                    f"{param.size()}; optimize biases, norms, embeddings and the output head with AdamW"
                )
        super().add_param_group(param_group)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        muon_update(
            param, grad, state, lr=group["lr"], weight_decay=group["weight_decay"], momentum=group["momentum"],
            nesterov=group["nesterov"], ns_coefficients=group["ns_coefficients"], eps=group["eps"],
            ns_steps=group["ns_steps"], adjust_lr_fn=group["adjust_lr_fn"],
        )
