"""Curves over training (losses, each group's learning rate), the range test's curve, and sweep heat maps.

Every function draws on ``ax`` (a new figure's axes when ``None``), labels its axes, and returns the
Axes; none calls ``plt.show()``. A curve whose name is an optimizer (``"adam"``, ``"SGD"``) gets the
course colour of :func:`optimlab.style.optimizer_color`; other names take matplotlib's colour cycle.

Taught in: notebooks/06_hyperparameters_lr_finder.ipynb (and 01-03, 07, 10, 11).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from optimlab.lr_finder import LRRangeTestResult, smooth_losses
from optimlab.style import OPTIMIZER_COLORS, optimizer_color
from optimlab.validation import check_fraction, invalid


def _axes(ax: Axes | None) -> Axes:
    return plt.subplots()[1] if ax is None else ax


def _color(name: str) -> str | None:
    """The course colour for an optimizer's name; None (matplotlib's cycle) for anything else."""
    return optimizer_color(name) if str(name).lower() in OPTIMIZER_COLORS else None


def _smoothed(values: Sequence[float], beta: float) -> list[float]:
    """Bias-corrected EMA that carries NaN/inf through as gaps instead of poisoning the rest."""
    if beta == 0:
        return [float(v) for v in values]
    finite = [v for v in values if math.isfinite(v)]
    smooth = iter(smooth_losses(finite, beta))
    return [next(smooth) if math.isfinite(v) else math.nan for v in values]


def plot_loss_curves(
    curves: dict[str, Sequence[float]],
    *,
    ax: Axes | None = None,
    title: str = "Loss",
    xlabel: str = "step",
    ylabel: str = "loss",
    logy: bool = False,
    smooth: float = 0,
) -> Axes:
    """One line per entry of ``curves`` (name → values per step), labelled with the name.

    ``smooth`` in [0, 1) is the factor β of a bias-corrected exponential moving average (the range
    test's smoothing; 0 draws the raw values). NaN or infinite values leave gaps.

    Taught in: notebooks/01_four_steps.ipynb.
    """
    if not isinstance(curves, dict) or not curves:
        raise invalid("curves", curves, "a non-empty dict of name -> sequence of values")
    check_fraction("smooth", smooth)
    ax = _axes(ax)
    for name, values in curves.items():
        ax.plot(range(len(values)), _smoothed(list(values), smooth), label=str(name), color=_color(name))
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend()
    return ax


def plot_lr_per_group(
    history_lr: Sequence[Sequence[float]],
    *,
    group_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str = "Learning rate of each parameter group",
    logy: bool = False,
) -> Axes:
    """Each group's learning rate against the step; ``history_lr[t][g]`` as in ``optimlab.train.History.lr``.

    Taught in: notebooks/10_schedulers_in_training.ipynb.
    """
    widths = sorted({len(rates_at_step) for rates_at_step in history_lr})
    if len(widths) != 1 or widths[0] == 0:
        raise invalid("history_lr", f"{len(history_lr)} steps with {widths} groups",
                      "one list of per-group rates per step, the same groups at every step")
    rates = np.asarray(history_lr, dtype=float)
    names = [f"group {g}" for g in range(rates.shape[1])] if group_names is None else list(group_names)
    if len(names) != rates.shape[1]:
        raise invalid("group_names", group_names, f"{rates.shape[1]} names, one per group")
    ax = _axes(ax)
    for column, name in enumerate(names):
        ax.plot(range(len(rates)), rates[:, column], label=name)
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel="step", ylabel="learning rate")
    ax.legend()
    return ax


def plot_lr_finder(result: LRRangeTestResult, ax: Axes | None = None, *,
                   title: str = "Learning-rate range test") -> Axes:
    """Raw (faint) and smoothed loss against the lr on a log axis, with both suggestions marked.

    The y-axis stops a little above the starting loss, so the blow-up at the end does not flatten the
    part of the curve that matters.

    Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
    """
    if not isinstance(result, LRRangeTestResult):
        raise invalid("result", type(result).__name__, "an LRRangeTestResult from lr_range_test")
    ax = _axes(ax)
    ax.plot(result.lrs, result.losses, color="#999999", alpha=0.5, linewidth=1, label="loss per step")
    ax.plot(result.lrs, result.smoothed, color="#0072B2", label="smoothed loss")
    for lr, name, style in ((result.lr_steepest, "steepest descent", "--"),
                            (result.lr_min_over_10, "minimum / 10", ":")):
        ax.axvline(lr, color="#D55E00", linestyle=style, label=f"{name}: {lr:.2g}")
    ax.set_xscale("log")
    low, high = min(result.losses), result.smoothed[0]
    span = max(high - low, 1e-12)
    ax.set_ylim(low - 0.05 * span, high + 0.25 * span)
    ax.set(title=title, xlabel="learning rate (log scale)", ylabel="training loss")
    ax.legend()
    return ax


def plot_heatmap(
    values: Any,
    row_labels: Sequence[Any],
    col_labels: Sequence[Any],
    *,
    ax: Axes | None = None,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    fmt: str = ".2f",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    nan_label: str = "n/a",
    colorbar_label: str | None = None,
) -> Axes:
    """A grid of ``values[row, col]`` as coloured cells, each annotated with its value (format ``fmt``).

    NaN cells are grey and read ``nan_label`` (e.g. ``"diverged"``). Rows run top to bottom.

    Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
    """
    grid = np.asarray(values, dtype=float)
    if grid.ndim != 2 or grid.size == 0:
        raise invalid("values", getattr(grid, "shape", None), "a non-empty 2-D array")
    if len(row_labels) != grid.shape[0]:
        raise invalid("row_labels", list(row_labels), f"{grid.shape[0]} labels, one per row")
    if len(col_labels) != grid.shape[1]:
        raise invalid("col_labels", list(col_labels), f"{grid.shape[1]} labels, one per column")
    ax = _axes(ax)
    colormap = plt.get_cmap(cmap).with_extremes(bad="#cccccc")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=colormap, vmin=vmin, vmax=vmax, aspect="auto")
    for (row, col), value in np.ndenumerate(grid):
        if math.isnan(value):
            ax.text(col, row, nan_label, ha="center", va="center", color="black", fontsize=10)
        else:
            shade = np.asarray(image.norm(value)).item()
            ax.text(col, row, format(value, fmt), ha="center", va="center", fontsize=11,
                    color="black" if shade > 0.5 else "white")
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in col_labels])
    ax.set_yticks(range(grid.shape[0]), [str(r) for r in row_labels])
    ax.grid(False)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.figure.colorbar(image, ax=ax, label=colorbar_label or "")
    return ax
