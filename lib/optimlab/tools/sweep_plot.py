"""The summary figure of a papermill sweep: one headline number against the first two swept parameters.

Two or more swept parameters give a heat map (first parameter down, second across; each cell the mean
over the runs that share those two values, so seeds or further parameters are averaged); one gives a
bar chart. Failed runs leave a grey "failed" cell or bar, so a diverging learning rate is visible, not
silently missing.

Taught in: notebooks/12_capstone_sweep.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from optimlab.plots.curves import plot_heatmap
from optimlab.style import COURSE_RC


def first_numeric_key(results: Sequence[dict[str, Any]]) -> str | None:
    """The first key whose value is a real number (not a bool) in every results dict that has it."""
    keys = dict.fromkeys(key for result in results for key in result)
    for key in keys:
        values = [result[key] for result in results if key in result]
        if all(isinstance(v, Real) and not isinstance(v, bool) for v in values):
            return key
    return None


def _mean(rows: list[dict[str, Any]], metric: str) -> float:
    values = [float(row[metric]) for row in rows if row["status"] == "ok" and metric in row]
    return sum(values) / len(values) if values else math.nan


def plot_sweep_summary(rows: Sequence[dict[str, Any]], swept: Sequence[str], metric: str | None) -> Figure:
    """Draw ``metric`` of the sweep's ``rows`` (one dict per run, with ``status``) against ``swept[:2]``."""
    with mpl.rc_context(COURSE_RC):  # type: ignore[arg-type]  # matplotlib types keys as literals
        figure = Figure(figsize=(8.0, 5.0), layout="constrained")
        ax = figure.add_subplot()
        failed = sum(row["status"] != "ok" for row in rows)
        note = f" ({failed} of {len(rows)} runs failed)" if failed else ""
        if metric is None or not any(row["status"] == "ok" and metric in row for row in rows):
            ax.axis("off")
            missing = "no numeric result" if metric is None else f"no run reported {metric!r}"
            ax.text(0.5, 0.5, f"{missing}{note}", ha="center", va="center")
            return figure
        labels = {name: list(dict.fromkeys(str(row[name]) for row in rows)) for name in swept[:2]}
        first = swept[0]
        if len(swept) == 1:
            means = [_mean([r for r in rows if str(r[first]) == v], metric) for v in labels[first]]
            bars = ax.bar(labels[first], np.nan_to_num(means), color="#0072B2")
            ax.bar_label(bars, ["failed" if math.isnan(m) else f"{m:.3g}" for m in means])
            ax.set(xlabel=first, ylabel=metric, title=f"{metric} by {first}{note}")
            return figure
        second = swept[1]
        grid = [[_mean([r for r in rows if str(r[first]) == a and str(r[second]) == b], metric)
                 for b in labels[second]] for a in labels[first]]
        averaged = " (mean over the other parameters)" if len(swept) > 2 else ""
        plot_heatmap(grid, labels[first], labels[second], ax=ax, xlabel=second, ylabel=first, fmt=".3g",
                     title=f"{metric}{averaged}{note}", nan_label="failed", colorbar_label=metric)
        return figure
