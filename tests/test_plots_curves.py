"""Curve plots and heat maps: the lines, labels, colours and cells they draw (Agg backend, no image comparison)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from optimlab.lr_finder import LRRangeTestResult, smooth_losses  # noqa: E402
from optimlab.plots.curves import plot_heatmap, plot_loss_curves, plot_lr_finder, plot_lr_per_group  # noqa: E402
from optimlab.style import optimizer_color  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_loss_curves_one_labelled_line_per_curve_in_the_course_colours():
    ax = plot_loss_curves({"adam": [3.0, 2.0, 1.0], "SGD": [3.0, 2.5], "my run": [1.0, 1.0, 1.0]},
                          title="Training loss", logy=True)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["adam", "SGD", "my run"]
    assert to_hex(lines[0].get_color()) == optimizer_color("adam").lower()
    assert to_hex(lines[1].get_color()) == optimizer_color("sgd").lower()
    assert to_hex(lines[2].get_color()) != optimizer_color("unknown").lower()  # not grey: the colour cycle
    assert list(lines[1].get_xdata()) == [0, 1] and list(lines[0].get_ydata()) == [3.0, 2.0, 1.0]
    assert ax.get_title() == "Training loss" and ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["adam", "SGD", "my run"]


def test_loss_curves_smoothing_is_the_range_tests_and_keeps_gaps():
    values = [4.0, 2.0, math.nan, 1.0, 3.0]
    ax = plot_loss_curves({"run": values}, smooth=0.5)
    drawn = ax.get_lines()[0].get_ydata()
    expected = smooth_losses([4.0, 2.0, 1.0, 3.0], 0.5)
    assert np.allclose(drawn[[0, 1, 3, 4]], expected) and math.isnan(drawn[2])


def test_loss_curves_draws_on_the_given_axes():
    _, ax = plt.subplots()
    assert plot_loss_curves({"sgd": [1.0, 0.5]}, ax=ax) is ax


def test_lr_per_group_one_line_per_group_from_history_lr():
    history_lr = [[0.1, 0.01], [0.05, 0.005], [0.025, 0.0025]]
    ax = plot_lr_per_group(history_lr, group_names=["backbone", "head"], logy=True)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["backbone", "head"]
    assert list(lines[1].get_ydata()) == [0.01, 0.005, 0.0025]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate" and ax.get_yscale() == "log"
    assert [line.get_label() for line in plot_lr_per_group(history_lr).get_lines()] == ["group 0", "group 1"]


def _result():
    lrs = list(np.logspace(-4, 0, 30))
    losses = [2.3 - 2 * math.tanh(max(0.0, math.log10(lr) + 3)) for lr in lrs[:25]] + [2.0, 5.0, 9.0, 20, 40]
    smoothed = smooth_losses(losses, 0.9)
    return LRRangeTestResult(lrs=lrs, losses=losses, smoothed=smoothed, stopped_early=True, base_lrs=[0.1],
                             lr_steepest=1e-3, lr_min_over_10=2e-3)


def test_lr_finder_plot_shows_raw_smoothed_and_both_suggestions_on_a_log_axis():
    result = _result()
    ax = plot_lr_finder(result)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["loss per step", "smoothed loss"]
    assert "steepest descent: 0.001" in labels and "minimum / 10: 0.002" in labels
    assert list(ax.get_lines()[1].get_ydata()) == result.smoothed
    assert ax.get_xscale() == "log" and "learning rate" in ax.get_xlabel()
    assert ax.get_ylim()[1] < max(result.losses)  # the blow-up is cut off ...
    assert ax.get_ylim()[1] > result.smoothed[0]  # ... the start is not


def test_heatmap_annotates_every_cell_and_marks_nan():
    values = [[0.5, 0.9, math.nan], [0.1, 0.95, 0.2]]
    ax = plot_heatmap(values, ["μ=0", "μ=0.9"], [0.01, 0.1, 1.0], title="test accuracy", xlabel="lr",
                      ylabel="momentum", nan_label="diverged")
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["0.50", "0.90", "diverged", "0.10", "0.95", "0.20"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.01", "0.1", "1.0"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["μ=0", "μ=0.9"]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("test accuracy", "lr", "momentum")
    image = ax.get_images()[0]
    assert image.get_array().mask[0, 2] and image.get_array()[1, 1] == 0.95
    assert len(ax.figure.axes) == 2  # the heat map and its colour bar


def test_heatmap_format_and_readable_text_colour():
    ax = plot_heatmap(np.array([[0.0, 1.0]]), ["a"], ["low", "high"], fmt=".0%")
    low, high = ax.texts
    assert (low.get_text(), high.get_text()) == ("0%", "100%")
    assert low.get_color() == "white" and high.get_color() == "black"  # dark cell, light cell (viridis)


@pytest.mark.parametrize("call,message", [
    (lambda: plot_loss_curves({}), "curves={} is invalid"),
    (lambda: plot_loss_curves({"a": [1.0]}, smooth=1.0), "smooth=1.0 is invalid"),
    (lambda: plot_lr_per_group([[0.1, 0.2], [0.1]]), r"history_lr='2 steps with \[1, 2\] groups' is invalid"),
    (lambda: plot_lr_per_group([]), r"history_lr='0 steps with \[\] groups' is invalid"),
    (lambda: plot_lr_per_group([[0.1, 0.2]], group_names=["a"]), r"group_names=\['a'\] is invalid"),
    (lambda: plot_lr_finder({"lrs": []}), "result='dict' is invalid"),
    (lambda: plot_heatmap([1.0, 2.0], ["a"], ["b"]), r"values=\(2,\) is invalid"),
    (lambda: plot_heatmap([[1.0, 2.0]], ["a", "b"], ["c", "d"]), r"row_labels=\['a', 'b'\] is invalid"),
    (lambda: plot_heatmap([[1.0, 2.0]], ["a"], ["c"]), r"col_labels=\['c'\] is invalid"),
])
def test_bad_arguments_name_themselves(call, message):
    with pytest.raises(ValueError, match=message):
        call()
