"""Tiny regression problems generated in code: a noisy linear model and a noisy sine wave.

Both are drawn in float64 from their own seeded ``torch.Generator`` and only then cast to ``dtype``,
so the same seed gives the same data (up to rounding) in float32 and float64, and nothing touches
torch's global generator. Targets ``y`` are always 1-D (``n_samples,``); inputs are 2-D
(``n_samples, n_features``), ready for ``nn.Linear``.

Taught in: notebooks/01_four_steps.ipynb, notebooks/02_parameters.ipynb, notebooks/03_optimizer_anatomy.ipynb.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from optimlab.validation import check_int, check_non_negative, check_number, invalid


def _check_dtype(dtype: torch.dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point or dtype.is_complex:
        raise invalid("dtype", dtype, "a real floating-point torch dtype (torch.float32, torch.float64, ...)")
    return dtype


def make_regression(
    n_samples: int = 128,
    n_features: int = 3,
    noise: float = 0.1,
    seed: int = 0,
    *,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""A noisy linear regression problem: ``(X, y, true_weights, true_bias)``.

    .. math::
        x_i \sim \mathcal{N}(0, I), \quad w^\star_j \sim \mathcal{U}[-2, 2], \quad
        b^\star \sim \mathcal{U}[-1, 1], \quad y_i = x_i^\top w^\star + b^\star + \sigma \varepsilon_i,
        \quad \varepsilon_i \sim \mathcal{N}(0, 1)

    ``X`` has shape ``(n_samples, n_features)``, ``y`` and ``true_weights`` are 1-D, ``true_bias`` is a
    0-dim tensor; all four have ``dtype``. ``noise`` is :math:`σ`, the standard deviation of the noise,
    so the best achievable mean squared error is about :math:`σ^2`. Standard-normal features make the
    problem well conditioned (the Hessian of the MSE is close to ``2 I``), so gradient descent converges
    in a few dozen steps: right for a first training loop.

    Taught in: notebooks/01_four_steps.ipynb, notebooks/03_optimizer_anatomy.ipynb.
    """
    check_int("n_samples", n_samples, low=1)
    check_int("n_features", n_features, low=1)
    check_non_negative("noise", noise)
    check_int("seed", seed, low=0)
    _check_dtype(dtype)
    generator = torch.Generator().manual_seed(seed)
    # Draw the truth first, so changing n_samples keeps the same underlying model for a seed.
    true_weights = torch.rand(n_features, generator=generator, dtype=torch.float64) * 4 - 2
    true_bias = torch.rand((), generator=generator, dtype=torch.float64) * 2 - 1
    X = torch.randn(n_samples, n_features, generator=generator, dtype=torch.float64)
    y = X @ true_weights + true_bias + noise * torch.randn(n_samples, generator=generator, dtype=torch.float64)
    return X.to(dtype), y.to(dtype), true_weights.to(dtype), true_bias.to(dtype)


def make_sine_regression(
    n_samples: int = 128,
    noise: float = 0.1,
    seed: int = 0,
    *,
    low: float = -math.pi,
    high: float = math.pi,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    r"""A 1-D nonlinear regression problem for a small network: ``(x, y)`` with :math:`y = \sin x + σ ε`.

    ``x`` has shape ``(n_samples, 1)``, drawn uniformly from ``[low, high]`` and sorted (so a line plot
    of a prediction needs no re-ordering); ``y`` has shape ``(n_samples,)``. No linear model fits it, which
    is the point: a layer with its own nonlinear parameters (an RBF layer, a hidden layer) is needed.

    Taught in: notebooks/02_parameters.ipynb.
    """
    check_int("n_samples", n_samples, low=1)
    check_non_negative("noise", noise)
    check_int("seed", seed, low=0)
    check_number("low", low)
    check_number("high", high, low=low, low_inclusive=False)
    _check_dtype(dtype)
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n_samples, generator=generator, dtype=torch.float64).sort().values * (high - low) + low
    y = torch.sin(x) + noise * torch.randn(n_samples, generator=generator, dtype=torch.float64)
    return x.unsqueeze(1).to(dtype), y.to(dtype)
