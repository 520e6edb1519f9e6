"""The effective-step microscope: a heat map of each layer's effective step over training.

Rows are parameter tensors (layers), columns are optimizer steps, colour is the effective step
γ/(√v̂ + ε) on a log scale (see :mod:`optimlab.effective_step`). A horizontal band of one colour would
be a single learning rate; the rows' differences and drifts are the adaptive method at work.

Taught in: notebooks/05_adaptive_methods.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm

from optimlab.validation import invalid


def plot_effective_steps(
    history: Mapping[str, Sequence[float]],
    *,
    ax: Axes | None = None,
    title: str = "Effective step per layer",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    label: str = "median lr / (√v̂ + ε)",
) -> Axes:
    """Heat map of ``history[name][t]`` (one row per tensor name, one column per step), log colour scale.

    ``vmin``/``vmax`` fix the colour range, so that several panels (one per optimizer) compare; ``label``
    names the colour bar.

    Taught in: notebooks/05_adaptive_methods.ipynb.
    """
    if not history:
        raise invalid("history", history, "a non-empty dict {tensor name: effective steps over time}")
    lengths = {len(series) for series in history.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise invalid("history", {k: len(v) for k, v in history.items()}, "series of one common, non-zero length")
    values = np.array([list(series) for series in history.values()], dtype=float)
    if not (values > 0).all():
        raise invalid("history", "non-positive entries", "positive effective steps (the colour scale is logarithmic)")
    ax = ax if ax is not None else plt.subplots()[1]
    steps = values.shape[1]
    image = ax.imshow(
        values, aspect="auto", interpolation="nearest", cmap="viridis",
        norm=LogNorm(vmin=values.min() if vmin is None else vmin, vmax=values.max() if vmax is None else vmax),
        extent=(0.5, steps + 0.5, len(values) - 0.5, -0.5),
    )
    ax.set_yticks(range(len(values)), list(history))
    ax.set(xlabel="optimizer step", ylabel="parameter tensor", title=title)
    ax.grid(False)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=label)
    return ax


__all__ = ["plot_effective_steps"]
