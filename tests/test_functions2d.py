"""2-D test functions: analytic gradients equal autograd's, minima are minima, trajectories and step counts."""

from __future__ import annotations

import pytest
import torch

from optimlab.functions2d import (
    beale,
    largest_stable_lr,
    quadratic,
    rosenbrock,
    run_optimizer,
    saddle,
    steps_to_reach,
)
from optimlab.optim import SGD

FUNCTIONS = {
    "quadratic": quadratic(25.0),
    "rotated_quadratic": quadratic(5.0, largest_eigenvalue=3.0, angle=0.7),
    "rosenbrock": rosenbrock(),
    "shifted_rosenbrock": rosenbrock(a=-0.5, b=10.0),
    "saddle": saddle(),
    "beale": beale(),
}


@pytest.fixture(params=list(FUNCTIONS), ids=list(FUNCTIONS))
def fn(request):
    return FUNCTIONS[request.param]


def _random_points(fn, n=50, seed=0):
    generator = torch.Generator().manual_seed(seed)
    (x_min, x_max), (y_min, y_max) = fn.bounds
    low = torch.tensor([x_min, y_min], dtype=torch.float64)
    high = torch.tensor([x_max, y_max], dtype=torch.float64)
    return low + (high - low) * torch.rand(n, 2, generator=generator, dtype=torch.float64)


def test_analytic_gradient_equals_autograd(fn):
    for point in _random_points(fn):
        xy = point.clone().requires_grad_()
        fn(xy).backward()
        torch.testing.assert_close(fn.grad(point), xy.grad, rtol=1e-10, atol=1e-10)


def test_batched_evaluation_matches_pointwise(fn):
    points = _random_points(fn, n=12).reshape(3, 4, 2)
    values, grads = fn(points), fn.grad(points)
    assert values.shape == (3, 4) and grads.shape == (3, 4, 2)
    for index in [(0, 0), (1, 2), (2, 3)]:
        torch.testing.assert_close(values[index], fn(points[index]))
        torch.testing.assert_close(grads[index], fn.grad(points[index]))


def test_minimum_has_zero_gradient_the_min_value_and_nothing_lower_nearby(fn):
    assert fn.grad(fn.minimum).abs().max().item() < 1e-12
    assert fn(fn.minimum).item() == pytest.approx(fn.min_value, abs=1e-12)
    assert (fn(_random_points(fn, n=2000)) >= fn.min_value - 1e-12).all()


def test_start_lies_in_the_plotting_window_and_above_the_minimum(fn):
    (x_min, x_max), (y_min, y_max) = fn.bounds
    x, y = fn.start.tolist()
    assert x_min <= x <= x_max and y_min <= y <= y_max
    assert fn(fn.start).item() > fn.min_value + 1e-3


def test_quadratic_exposes_its_eigenvalues():
    q = quadratic(condition_number=8.0, largest_eigenvalue=2.0, angle=0.4)
    eigenvalues = torch.linalg.eigvalsh(q.hessian)
    assert q.L == pytest.approx(eigenvalues.max().item()) == pytest.approx(2.0)
    assert q.mu == pytest.approx(eigenvalues.min().item()) == pytest.approx(0.25)
    assert q.condition_number == 8.0
    point = torch.tensor([0.3, -1.2], dtype=torch.float64)
    assert q(point).item() == pytest.approx(0.5 * point @ q.hessian @ point)


def test_rotating_the_quadratic_rotates_its_start_so_the_problem_stays_as_hard():
    plain, rotated = quadratic(20.0), quadratic(20.0, angle=0.9)
    assert rotated(rotated.start).item() == pytest.approx(plain(plain.start).item())
    assert rotated.grad(rotated.start).norm().item() == pytest.approx(plain.grad(plain.start).norm().item())
    assert not torch.allclose(rotated.start, plain.start)


def test_saddle_is_a_saddle_between_two_minima():
    s = saddle()
    origin = torch.zeros(2, dtype=torch.float64).requires_grad_()
    hessian = torch.autograd.functional.hessian(lambda p: s(p), origin)
    eigenvalues = torch.linalg.eigvalsh(hessian)
    assert eigenvalues.min() < 0 < eigenvalues.max()
    assert (s(s.minima) == s.min_value).all()


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.5, False), (0.9, False), (0.5, True), (0.9, True)])
def test_largest_stable_lr_separates_convergence_from_divergence(momentum, nesterov):
    q = quadratic(condition_number=4.0, largest_eigenvalue=2.0)
    limit = largest_stable_lr(q.hessian, momentum=momentum, nesterov=nesterov)

    def final_gap(lr):
        path = run_optimizer(q, lambda p: SGD(p, lr=lr, momentum=momentum, nesterov=nesterov), steps=1000)
        return (q(path[-1]) - q.min_value).item()

    assert final_gap(0.97 * limit) < 1e-6
    assert not final_gap(1.03 * limit) < 1e6  # NaN (diverged to inf) or huge


def test_largest_stable_lr_of_plain_descent_is_two_over_L():
    assert largest_stable_lr(quadratic(10.0, largest_eigenvalue=4.0).hessian) == pytest.approx(0.5)


def test_run_optimizer_records_the_start_and_every_step():
    q = quadratic(10.0)
    path = run_optimizer(q, lambda p: SGD(p, lr=0.3), steps=5)
    assert path.shape == (6, 2) and path.dtype == torch.float64
    torch.testing.assert_close(path[0], q.start)
    expected = q.start.clone()
    for step in range(1, 6):
        expected = expected - 0.3 * q.hessian @ expected  # θₜ = θₜ₋₁ − γ Hθₜ₋₁
        torch.testing.assert_close(path[step], expected)


def test_run_optimizer_drives_torch_optimizers_the_same_way_as_ours():
    r = rosenbrock()
    ours = run_optimizer(r, lambda p: SGD(p, lr=1e-3, momentum=0.9, nesterov=True), steps=200)
    theirs = run_optimizer(r, lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9, nesterov=True), steps=200)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_run_optimizer_takes_another_start_and_fills_nan_after_divergence():
    q = quadratic(10.0)
    path = run_optimizer(q, lambda p: SGD(p, lr=5.0), start=[1.0, 1.0], steps=2000)
    assert path[0].tolist() == [1.0, 1.0]
    assert torch.isnan(path[-1]).all() and torch.isfinite(path[:10]).all()
    assert not torch.isinf(path).any()  # each row is a finite point or NaN, never a half-overflowed one


def test_steps_to_reach_is_the_first_step_within_tolerance():
    q = quadratic(10.0)
    path = run_optimizer(q, lambda p: SGD(p, lr=1.0), steps=300)
    gaps = q(path) - q.min_value
    steps = steps_to_reach(path, q, 1e-4)
    assert gaps[steps] <= 1e-4 < gaps[steps - 1]
    assert steps_to_reach(path, q, 10.0) == 0
    assert steps_to_reach(path[:10], q, 1e-4) is None


def test_steps_to_reach_is_none_for_a_diverged_run():
    q = quadratic(10.0)
    assert steps_to_reach(run_optimizer(q, lambda p: SGD(p, lr=2.5), steps=500), q, 1e-4) is None


@pytest.mark.parametrize("call,message", [
    (lambda: quadratic(0.5), "condition_number=0.5"),
    (lambda: quadratic(10, largest_eigenvalue=0), "largest_eigenvalue=0"),
    (lambda: rosenbrock(b=-1), "b=-1"),
    (lambda: quadratic()(torch.zeros(3)), "xy=(3,)"),
    (lambda: quadratic().grad(torch.tensor(1.0)), "xy=()"),
    (lambda: run_optimizer(quadratic(), lambda p: SGD(p), steps=-1), "steps=-1"),
    (lambda: steps_to_reach(torch.zeros(3, 2), quadratic(), -1e-3), "tol=-0.001"),
    (lambda: largest_stable_lr(torch.eye(3)), "hessian="),
    (lambda: largest_stable_lr(torch.eye(2), momentum=1.0), "momentum=1.0"),
])
def test_bad_arguments_raise_value_errors_naming_them(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()
