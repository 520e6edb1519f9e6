"""The regression datasets: shapes, dtypes, determinism, the model they claim, and loud bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

from optimlab.data.regression import make_regression, make_sine_regression


def test_make_regression_shapes_and_dtypes():
    X, y, w, b = make_regression(50, 4, 0.1, 0)
    assert X.shape == (50, 4) and y.shape == (50,) and w.shape == (4,) and b.shape == ()
    assert {t.dtype for t in (X, y, w, b)} == {torch.float32}
    X64, y64, w64, b64 = make_regression(50, 4, 0.1, 0, dtype=torch.float64)
    assert {t.dtype for t in (X64, y64, w64, b64)} == {torch.float64}
    # One draw in float64, then a cast: both dtypes hold the same data up to float32 rounding.
    torch.testing.assert_close(X64.float(), X, rtol=0, atol=0)
    torch.testing.assert_close(y64.float(), y, rtol=0, atol=0)


def test_make_regression_is_deterministic_per_seed_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = make_regression(20, 2, 0.5, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    second = make_regression(20, 2, 0.5, seed=7)
    other = make_regression(20, 2, 0.5, seed=8)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[0], other[0])


def test_make_regression_targets_follow_the_true_linear_model_with_the_stated_noise():
    X, y, w, b = make_regression(4000, 3, 0.25, 1, dtype=torch.float64)
    residual = y - (X @ w + b)
    assert abs(residual.std().item() - 0.25) < 0.02 and abs(residual.mean().item()) < 0.02
    noiseless = make_regression(10, 3, 0.0, 1, dtype=torch.float64)
    torch.testing.assert_close(noiseless[0] @ noiseless[2] + noiseless[3], noiseless[1])
    assert w.abs().max() <= 2 and b.abs() <= 1


def test_make_regression_least_squares_recovers_the_truth():
    X, y, w, b = make_regression(2000, 5, 0.1, 3, dtype=torch.float64)
    design = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1)
    solution = torch.linalg.lstsq(design, y.unsqueeze(1)).solution.squeeze(1)
    torch.testing.assert_close(solution, torch.cat([w, b.reshape(1)]), atol=0.02, rtol=0)


def test_make_regression_keeps_the_true_model_when_n_samples_changes():
    small, large = make_regression(10, 3, 0.1, 5), make_regression(100, 3, 0.1, 5)
    assert torch.equal(small[2], large[2]) and torch.equal(small[3], large[3])


def test_make_sine_regression():
    x, y = make_sine_regression(300, 0.05, 2)
    assert x.shape == (300, 1) and y.shape == (300,) and x.dtype == y.dtype == torch.float32
    assert torch.all(x[1:] >= x[:-1]), "x is sorted"
    assert x.min() >= -math.pi and x.max() <= math.pi
    assert abs((y - torch.sin(x.squeeze(1))).std().item() - 0.05) < 0.01
    x64, y64 = make_sine_regression(300, 0.05, 2, low=0.0, high=1.0, dtype=torch.float64)
    assert x64.dtype == torch.float64 and 0 <= x64.min() and x64.max() <= 1
    assert all(torch.equal(a, b) for a, b in zip(make_sine_regression(5, seed=1), make_sine_regression(5, seed=1)))


@pytest.mark.parametrize(
    "kwargs,expected",
    [
        ({"n_samples": 0}, "n_samples=0"),
        ({"n_samples": 2.5}, "n_samples=2.5"),
        ({"n_features": 0}, "n_features=0"),
        ({"noise": -0.1}, "noise=-0.1"),
        ({"noise": float("nan")}, "noise=nan"),
        ({"seed": -1}, "seed=-1"),
        ({"dtype": torch.int64}, "dtype=torch.int64"),
        ({"dtype": "float32"}, "dtype='float32'"),
    ],
)
def test_make_regression_rejects_bad_arguments_by_name(kwargs, expected):
    with pytest.raises(ValueError, match="is invalid") as error:
        make_regression(**kwargs)
    assert expected in str(error.value)


@pytest.mark.parametrize(
    "kwargs,expected",
    [
        ({"n_samples": -3}, "n_samples=-3"),
        ({"noise": -1.0}, "noise=-1.0"),
        ({"low": 1.0, "high": 1.0}, "high=1.0"),
        ({"dtype": torch.complex64}, "dtype=torch.complex64"),
    ],
)
def test_make_sine_regression_rejects_bad_arguments_by_name(kwargs, expected):
    with pytest.raises(ValueError, match="is invalid") as error:
        make_sine_regression(**kwargs)
    assert expected in str(error.value)
