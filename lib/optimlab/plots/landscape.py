"""Optimization landscapes: a 2-D function's contours with optimizer trajectories drawn over them.

- :func:`plot_landscape` draws log-spaced contours of f − f* (so the flat valley floor shows as
  clearly as the steep walls), marks the minimum, and overlays one trajectory per optimizer in the
  course colour (start ○, end ×; a run that diverged gets no end marker).
- :func:`plot_weights_of_ema` draws the weights βᵏ that momentum gives the gradient from k steps ago.

Taught in: notebooks/04_sgd_momentum_nesterov.ipynb, notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from torch import Tensor

from optimlab.functions2d import Function2D
from optimlab.style import optimizer_color
from optimlab.validation import check_fraction, check_int, invalid

CONTOUR_CMAP = "Greys_r"
FAR_AWAY = 1e6  # coordinates beyond this are not drawn


def _contour_grid(fn: Function2D, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    (x_min, x_max), (y_min, y_max) = fn.bounds
    xs = torch.linspace(x_min, x_max, resolution, dtype=torch.float64)
    ys = torch.linspace(y_min, y_max, resolution, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (resolution, resolution, 2)
    gap = (fn(grid) - fn.min_value).clamp_min(0)
    return xs.numpy(), ys.numpy(), gap.numpy()


def plot_landscape(
    fn: Function2D,
    trajectories: Mapping[str, Tensor] | None = None,
    *,
    ax: Axes | None = None,
    colors: Mapping[str, str] | None = None,
    levels: int = 25,
    resolution: int = 150,
    title: str | None = None,
    legend: bool = True,
) -> Axes:
    """Contours of ``fn`` over ``fn.bounds`` with each labelled trajectory (shape (steps + 1, 2)) on top.

    A trajectory's colour is ``colors[label]`` if given, else ``optimizer_color(label)``. Points that
    left the window (divergence) are clipped by the axes, which stay on ``fn.bounds``.

    Taught in: notebooks/04_sgd_momentum_nesterov.ipynb.
    """
    check_int("levels", levels, low=2)
    check_int("resolution", resolution, low=10)
    ax = ax if ax is not None else plt.subplots()[1]
    xs, ys, gap = _contour_grid(fn, resolution)
    positive = gap[gap > 0]
    low = max(positive.min(), positive.max() * 1e-9) if positive.size else 1e-9
    contour_levels = np.geomspace(low, gap.max() + low, levels)
    ax.contourf(xs, ys, gap + low, levels=contour_levels, norm=LogNorm(), cmap=CONTOUR_CMAP, alpha=0.6)
    ax.contour(xs, ys, gap + low, levels=contour_levels, norm=LogNorm(), colors="white", linewidths=0.4)
    ax.plot(*fn.minimum.tolist(), marker="*", markersize=18, color="gold", markeredgecolor="black",
            linestyle="none", label="minimum", zorder=5)
    for label, path in (trajectories or {}).items():
        _draw_trajectory(ax, label, path, (colors or {}).get(label) or optimizer_color(label))
    (x_min, x_max), (y_min, y_max) = fn.bounds
    ax.set(xlim=(x_min, x_max), ylim=(y_min, y_max), xlabel="x", ylabel="y",
           title=title if title is not None else f"{fn.name}: contours of f − f* (log-spaced)")
    if legend and trajectories:
        ax.legend(loc="best", framealpha=0.85)
    return ax


def _draw_trajectory(ax: Axes, label: str, path: Tensor, color: str) -> None:
    if not isinstance(path, Tensor) or path.ndim != 2 or path.shape[1] != 2 or len(path) == 0:
        raise invalid(f"trajectories[{label!r}]", getattr(path, "shape", path), "a tensor of shape (steps + 1, 2)")
    points = path.detach().to(torch.float64).numpy().copy()
    points[np.abs(points) > FAR_AWAY] = np.nan  # a diverging run leaves the window: don't let 1e300 reach matplotlib
    ax.plot(points[:, 0], points[:, 1], color=color, label=label, marker=".", markersize=4, alpha=0.9, zorder=3)
    ax.plot(*points[0], marker="o", markersize=9, color=color, markeredgecolor="black", zorder=4)
    if np.isfinite(points[-1]).all():  # only a run that did not diverge gets an end marker
        ax.plot(*points[-1], marker="X", markersize=11, color=color, markeredgecolor="black", zorder=4)


def plot_weights_of_ema(
    beta: float | Sequence[float],
    *,
    ax: Axes | None = None,
    steps: int | None = None,
    title: str | None = None,
) -> Axes:
    """The weight βᵏ momentum gives the gradient from k steps ago, one curve per β, window 1/(1 − β) dashed.

    torch's buffer bₜ = β bₜ₋₁ + gₜ is the sum Σₖ βᵏ gₜ₋ₖ: an exponentially weighted average of past
    gradients (times 1/(1 − β), the weights' total). About 1 − 1/e ≈ 63% of that total falls on the last
    1/(1 − β) gradients, hence "averages over the last ~1/(1 − β) steps".

    Taught in: notebooks/04_sgd_momentum_nesterov.ipynb.
    """
    betas = [beta] if isinstance(beta, (int, float)) else list(beta)
    if not betas:
        raise invalid("beta", beta, "a number in [0, 1) or a non-empty list of them")
    for b in betas:
        check_fraction("beta", b)
    longest_window = 1 / (1 - max(betas))
    steps = check_int("steps", steps, low=1) if steps is not None else int(math.ceil(3 * longest_window))
    ax = ax if ax is not None else plt.subplots()[1]
    k = np.arange(steps + 1)
    palette = plt.get_cmap("viridis")
    for index, b in enumerate(betas):
        color = palette(index / max(len(betas) - 1, 1) * 0.85)
        window = 1 / (1 - b)
        ax.plot(k, b**k, color=color, marker="." if steps <= 60 else None, label=f"β = {b:g} (window ≈ {window:.3g})")
        ax.axvline(window, color=color, linestyle="--", linewidth=1.5)
    ax.set(xlabel="age of the gradient k (steps ago)", ylabel="weight βᵏ", ylim=(0, 1.05),
           title=title if title is not None else "Momentum's weights on past gradients")
    ax.legend(loc="upper right")
    return ax


__all__ = ["plot_landscape", "plot_weights_of_ema"]
