"""The course palette: one colour per optimizer, each readable on white (no yellow lines on a projector)."""

from __future__ import annotations

import pytest

from optimlab.style import OPTIMIZER_COLORS, optimizer_color


def relative_luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour like ``#D55E00``."""
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("name", [*OPTIMIZER_COLORS, "not-an-optimizer"])
def test_every_colour_has_at_least_3_to_1_contrast_on_white(name):
    contrast = 1.05 / (relative_luminance(optimizer_color(name)) + 0.05)
    assert contrast >= 3.0, f"{name}: {optimizer_color(name)} has contrast {contrast:.2f} on white"


def test_one_colour_per_optimizer():
    assert len(set(OPTIMIZER_COLORS.values())) == len(OPTIMIZER_COLORS)


def test_yellow_would_fail():
    assert 1.05 / (relative_luminance("#F0E442") + 0.05) < 3.0  # the old RMSprop colour
