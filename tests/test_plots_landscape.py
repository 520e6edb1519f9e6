"""Landscape, momentum-weight and effective-step plots draw what they promise (Agg backend, no image comparison)."""

from __future__ import annotations

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import LogNorm, to_hex  # noqa: E402

from optimlab.functions2d import quadratic, rosenbrock, run_optimizer  # noqa: E402
from optimlab.optim import SGD, Adam  # noqa: E402
from optimlab.plots.effective_step import plot_effective_steps  # noqa: E402
from optimlab.plots.landscape import plot_landscape, plot_weights_of_ema  # noqa: E402
from optimlab.style import optimizer_color  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _trajectories(fn, steps=20):
    return {
        "sgd": run_optimizer(fn, lambda p: SGD(p, lr=1e-3), steps=steps),
        "momentum": run_optimizer(fn, lambda p: SGD(p, lr=1e-3, momentum=0.9), steps=steps),
        "adam": run_optimizer(fn, lambda p: Adam(p, lr=0.05), steps=steps),
    }


def test_landscape_draws_one_coloured_line_per_trajectory_with_start_and_end_markers():
    fn = rosenbrock()
    paths = _trajectories(fn)
    ax = plot_landscape(fn, paths, resolution=40)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["minimum", "sgd", "momentum", "adam"]
    lines = ax.get_lines()
    assert len(lines) == 1 + 3 * len(paths)  # the minimum, then path + start + end per trajectory
    by_label = {line.get_label(): line for line in lines}
    for name, path in paths.items():
        assert to_hex(by_label[name].get_color()) == optimizer_color(name).lower()
        np.testing.assert_allclose(by_label[name].get_xydata(), path.numpy())
    np.testing.assert_allclose(by_label["minimum"].get_xydata(), [fn.minimum.numpy()])
    assert ax.get_xlim() == fn.bounds[0] and ax.get_ylim() == fn.bounds[1]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_contour_levels_are_log_spaced():
    ax = plot_landscape(quadratic(10.0), levels=12, resolution=30)
    filled = ax.collections[0]
    assert isinstance(filled.norm, LogNorm)
    levels = np.asarray(filled.levels)
    assert len(levels) == 12
    ratios = levels[1:] / levels[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)


def test_explicit_colours_win_and_a_diverged_path_gets_no_end_marker():
    fn = quadratic(10.0)
    paths = {"lr=0.5": run_optimizer(fn, lambda p: SGD(p, lr=0.5), steps=10),
             "lr=3": run_optimizer(fn, lambda p: SGD(p, lr=3.0), steps=2000)}
    assert torch.isnan(paths["lr=3"][-1]).all()
    ax = plot_landscape(fn, paths, colors={"lr=0.5": "#123456"}, resolution=30, title="two rates")
    by_label = {line.get_label(): line for line in ax.get_lines()}
    assert to_hex(by_label["lr=0.5"].get_color()) == "#123456"
    assert to_hex(by_label["lr=3"].get_color()) == optimizer_color("unknown").lower()
    assert len(ax.get_lines()) == 1 + 3 + 2  # the minimum; path, start, end; path, start (no end)
    assert ax.get_title() == "two rates"


def test_landscape_without_trajectories_has_no_legend_and_draws_on_the_given_axes():
    fig, axes = plt.subplots(1, 2)
    ax = plot_landscape(rosenbrock(), ax=axes[1], resolution=30)
    assert ax is axes[1] and ax.get_legend() is None and len(ax.get_lines()) == 1


def test_bad_trajectory_or_settings_raise_value_errors():
    with pytest.raises(ValueError, match=r"trajectories\['x'\]"):
        plot_landscape(quadratic(), {"x": torch.zeros(5, 3)}, resolution=20)
    with pytest.raises(ValueError, match="levels=1"):
        plot_landscape(quadratic(), levels=1)


def test_weights_of_ema_plot_one_curve_and_one_window_line_per_beta():
    betas = [0.5, 0.9]
    ax = plot_weights_of_ema(betas, steps=30)
    curves = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert len(curves) == 2 and len(ax.get_lines()) == 4  # each β: its curve and its dashed window
    for beta, curve in zip(betas, curves):
        k, weights = curve.get_xydata().T
        np.testing.assert_allclose(weights, beta**k)
        assert f"{beta:g}" in curve.get_label()
    windows = sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--")
    assert windows == pytest.approx([2.0, 10.0])
    assert len(ax.get_legend().get_texts()) == 2


def test_weights_of_ema_rejects_beta_of_one():
    with pytest.raises(ValueError, match="beta=1.0"):
        plot_weights_of_ema(1.0)


def test_effective_step_heat_map_has_one_row_per_tensor_on_a_log_scale():
    history = {"fc1.weight": [1e-3, 5e-4, 2e-4], "fc1.bias": [1e-2, 1e-2, 9e-3], "fc2.weight": [1e-4, 1e-4, 1e-4]}
    ax = plot_effective_steps(history, title="adam")
    image = ax.get_images()[0]
    assert image.get_array().shape == (3, 3)
    assert isinstance(image.norm, LogNorm) and image.norm.vmin == 1e-4 and image.norm.vmax == 1e-2
    assert [t.get_text() for t in ax.get_yticklabels()] == list(history)
    assert ax.get_title() == "adam" and ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.figure.axes) == 2  # the heat map and its colour bar


def test_effective_step_heat_map_takes_a_shared_colour_range():
    ax = plot_effective_steps({"w": [1e-3, 1e-2]}, vmin=1e-5, vmax=1.0, colorbar=False)
    assert ax.get_images()[0].norm.vmin == 1e-5 and len(ax.figure.axes) == 1


@pytest.mark.parametrize("history,message", [
    ({}, "history={}"),
    ({"a": [1.0, 2.0], "b": [1.0]}, "history="),
    ({"a": [1.0, 0.0]}, "history='non-positive entries'"),
])
def test_effective_step_heat_map_rejects_bad_histories(history, message):
    with pytest.raises(ValueError, match=message):
        plot_effective_steps(history)
