"""The course's look: one colour per optimizer everywhere, and figures readable from the back of a room.

Taught in: every notebook (``use_course_style()`` is called once at the top).
"""

from __future__ import annotations

import matplotlib as mpl

# One colour per optimizer across the whole course (colour-blind-friendly Okabe-Ito and Tol hues).
OPTIMIZER_COLORS: dict[str, str] = {
    "sgd": "#000000",
    "momentum": "#E69F00",
    "nesterov": "#56B4E9",
    "adagrad": "#009E73",
    "rmsprop": "#F0E442",
    "adadelta": "#0072B2",
    "adam": "#D55E00",
    "adamw": "#CC79A7",
    "amsgrad": "#882255",
    "nadam": "#44AA99",
    "radam": "#999933",
    "adamax": "#AA4499",
    "lion": "#117733",
    "lookahead": "#6699CC",
}

COURSE_RC: dict[str, object] = {
    "figure.figsize": (8.0, 5.0),
    "figure.dpi": 100,
    "font.size": 14,
    "axes.titlesize": 16,
    "axes.labelsize": 14,
    "legend.fontsize": 12,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "lines.linewidth": 2.2,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def optimizer_color(name: str) -> str:
    """The course colour of optimizer ``name`` (case-insensitive); grey for unknown names."""
    return OPTIMIZER_COLORS.get(name.lower(), "#777777")


def use_course_style() -> None:
    """Apply the course's matplotlib settings (large fonts, thick lines, light grid)."""
    mpl.rcParams.update(COURSE_RC)
