"""The course's look: one colour per optimizer everywhere, and figures readable from the back of a room.

Taught in: every notebook (``use_course_style()`` is called once at the top).
"""

from __future__ import annotations

import matplotlib as mpl

# One colour per optimizer across the whole course: Okabe-Ito and Tol hues, darkened where needed so that every
# line has at least 3:1 contrast on white (WCAG's bar for graphics; no yellow, no pale cyan) and reads from the
# back of a room. tests/test_style.py checks the contrast.
OPTIMIZER_COLORS: dict[str, str] = {
    "sgd": "#000000",
    "momentum": "#B35900",
    "nesterov": "#0072B2",
    "adagrad": "#009E73",
    "rmsprop": "#8C6D00",
    "adadelta": "#332288",
    "adam": "#D55E00",
    "adamw": "#AA3377",
    "amsgrad": "#882255",
    "nadam": "#1F7A6E",
    "radam": "#7A7A1F",
    "adamax": "#AA4499",
    "lion": "#117733",
    "lookahead": "#4B6FA5",
    "asgd": "#6A3D9A",
    "rprop": "#B15928",
    "sparseadam": "#E7298A",
    "lbfgs": "#555555",
    "adafactor": "#A6761D",
    "muon": "#C51B7D",
    "schedulefree": "#0F5C9E",
    "lars": "#5D4037",
    "lamb": "#8E0152",
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
    """The course colour of optimizer ``name`` (case-insensitive); grey for unknown names.

    Taught in: notebooks/01_four_steps.ipynb.
    """
    return OPTIMIZER_COLORS.get(name.lower(), "#777777")


def use_course_style() -> None:
    """Apply the course's matplotlib settings (large fonts, thick lines, light grid)."""
    mpl.rcParams.update(COURSE_RC)  # type: ignore[arg-type]  # matplotlib types keys as literals
