"""Every registered optimizer, with settings stated here, reaches the minimum of an ill-conditioned quadratic and
of Rosenbrock's function within a stated number of steps, to a stated distance, in float64.

The gradients are written out by hand (checked against autograd once) so that thousands of steps stay cheap.
A new optimizer in ``OPTIMIZERS`` fails ``test_every_registered_optimizer_has_settings`` until it gets a row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pytest
import torch
from optim_harness import NEEDS_OWN_HARNESS

from optimlab import optim as ours

CONDITION_NUMBER = 25.0


def quadratic(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """½(x² + 25 y²): curvatures 1 and 25, minimum at (0, 0)."""
    return 0.5 * (x**2 + CONDITION_NUMBER * y**2)


def quadratic_gradient(x: float, y: float) -> list[float]:
    return [x, CONDITION_NUMBER * y]


def rosenbrock(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(1 − x)² + 100 (y − x²)²: a curved, flat-bottomed valley, minimum at (1, 1)."""
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def rosenbrock_gradient(x: float, y: float) -> list[float]:
    return [-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)]


class Problem(NamedTuple):
    function: Callable
    gradient: Callable[[float, float], list[float]]
    start: tuple[float, float]
    minimum: tuple[float, float]


PROBLEMS = {
    "quadratic": Problem(quadratic, quadratic_gradient, (-2.0, 1.5), (0.0, 0.0)),
    "rosenbrock": Problem(rosenbrock, rosenbrock_gradient, (-1.5, 2.0), (1.0, 1.0)),
}


class Run(NamedTuple):
    options: dict
    steps: int
    tol: float  # distance to the minimum after ``steps`` steps


# name -> problem -> settings. Each was checked to land at least 2x inside its tolerance (most by 5-1000x), on
# a trajectory that was still closing in or had settled, so the margins do not hang on one lucky step.
SETTINGS: dict[str, dict[str, Run]] = {
    "sgd": {
        "quadratic": Run(dict(lr=0.07), 200, 1e-3),  # lr just under 2/25, the stability limit
        "rosenbrock": Run(dict(lr=0.002, momentum=0.9), 1200, 1e-3),
    },
    "adam": {
        "quadratic": Run(dict(lr=0.1), 300, 1e-3),
        "rosenbrock": Run(dict(lr=0.005, betas=(0.9, 0.99)), 2000, 1e-2),
    },
    "adamw": {  # weight decay moves the minimum; the decay itself is tested in the parity tests
        "quadratic": Run(dict(lr=0.1, weight_decay=0.0), 300, 1e-3),
        "rosenbrock": Run(dict(lr=0.005, betas=(0.9, 0.99), weight_decay=0.0), 2000, 1e-2),
    },
    "adagrad": {
        "quadratic": Run(dict(lr=0.5), 200, 1e-3),
        # Adagrad's steps only shrink: the steep walls' squared gradients leave it crawling along the flat
        # valley floor (about 0.1 away after 3000 steps, 2.7 at the start).
        "rosenbrock": Run(dict(lr=1.5), 3000, 0.2),
    },
    "rmsprop": {
        "quadratic": Run(dict(lr=0.03), 300, 1e-3),
        "rosenbrock": Run(dict(lr=0.001, momentum=0.9), 1500, 1e-2),
    },
    "adadelta": {
        "quadratic": Run(dict(lr=5.0, rho=0.99), 400, 1e-3),
        # Adadelta stalls in the flat valley unless its averages remember long: ρ close to 1 (about 0.08 away
        # after 4000 steps, 2.7 at the start). With torch's ρ = 0.9 it stalls about 0.6 away.
        "rosenbrock": Run(dict(lr=1.0, rho=0.9999), 4000, 0.2),
    },
    "nadam": {
        "quadratic": Run(dict(lr=0.1), 300, 1e-3),
        "rosenbrock": Run(dict(lr=0.005, betas=(0.95, 0.99)), 3000, 2e-2),
    },
    "radam": {
        "quadratic": Run(dict(lr=0.1), 400, 1e-3),
        # Small lr: RAdam's first five steps are un-adapted, γ m̂, and Rosenbrock's gradient there is ~150.
        "rosenbrock": Run(dict(lr=0.005, betas=(0.9, 0.99)), 2000, 1e-2),
    },
    "adamax": {
        "quadratic": Run(dict(lr=0.1), 300, 1e-3),
        "rosenbrock": Run(dict(lr=0.01, betas=(0.9, 0.99)), 1500, 1e-2),
    },
    "asgd": {  # t0 = 1e6: no averaging here; these are the (slowly decaying-step) SGD iterates
        "quadratic": Run(dict(lr=0.07), 200, 1e-3),
        "rosenbrock": Run(dict(lr=0.002), 3000, 2e-2),  # about 0.007 away after 3000 steps
    },
    "rprop": {  # sign-based steps: the valley's bend keeps flipping signs and shrinking the steps (0.035 away)
        "quadratic": Run(dict(lr=0.01), 100, 1e-3),
        "rosenbrock": Run(dict(lr=0.01), 2000, 0.1),
    },
    "adafactor": {
        "quadratic": Run(dict(lr=0.1), 1000, 1e-3),  # about 4e-4 away: near 0 the step is ε₂ ρ (relative to RMS(θ))
        # the relative step ρ = min(γ, 1/√t) keeps shrinking: it crawls along the valley floor (0.09 away after
        # 3000 steps, 2.7 at the start), as Adagrad does
        "rosenbrock": Run(dict(lr=1.0), 3000, 0.2),
    },
    "lion": {
        # Every coordinate moves by exactly lr per step, so with a constant lr Lion ends within a few lr.
        "quadratic": Run(dict(lr=0.007, betas=(0.5, 0.9)), 500, 2e-2),
        "rosenbrock": Run(dict(lr=0.003, betas=(0.95, 0.98)), 2000, 2e-2),
    },
    "lars": {  # steps of γη‖w‖ along g/‖g‖: geometric on the quadratic, hovering about 0.02 around Rosenbrock's (1, 1)
        "quadratic": Run(dict(lr=1.0, momentum=0.9, trust_coefficient=0.01), 300, 1e-3),
        "rosenbrock": Run(dict(lr=1.0, momentum=0.9, trust_coefficient=0.003), 2000, 5e-2),
    },
    "lamb": {  # Rosenbrock's path passes near (0, 0), where the trust ratio ‖x‖/‖r‖ stalls it: adaptation off there
        "quadratic": Run(dict(lr=0.05), 300, 1e-3),
        "rosenbrock": Run(dict(lr=0.005, betas=(0.9, 0.99), layer_adaptation=False), 1800, 1e-2),
    },
}

# Lookahead wraps another optimizer: name -> (factory of the inner optimizer, problem -> settings for Lookahead)
LOOKAHEAD_SETTINGS = {
    "sgd": (
        lambda params, lr: ours.SGD(params, lr=lr, momentum=0.9),
        {"quadratic": Run(dict(lr=0.07, k=5, alpha=0.5), 400, 1e-3),
         "rosenbrock": Run(dict(lr=0.002, k=5, alpha=0.5), 2000, 1e-2)},
    ),
    "adam": (
        lambda params, lr: ours.Adam(params, lr=lr, betas=(0.9, 0.99)),
        {"quadratic": Run(dict(lr=0.1, k=5, alpha=0.5), 400, 1e-3),
         "rosenbrock": Run(dict(lr=0.01, k=5, alpha=0.5), 2000, 1e-2)},
    ),
}


def distance_after(optimizer: torch.optim.Optimizer, point: torch.Tensor, problem: Problem, steps: int) -> float:
    for _ in range(steps):
        point.grad = torch.tensor(problem.gradient(*point.tolist()), dtype=torch.float64)
        optimizer.step()
    return (point.detach() - torch.tensor(problem.minimum, dtype=torch.float64)).norm().item()


def start(problem: Problem) -> torch.Tensor:
    return torch.tensor(problem.start, dtype=torch.float64, requires_grad=True)


def test_every_registered_optimizer_has_settings():
    assert set(SETTINGS) == set(ours.OPTIMIZERS) - set(NEEDS_OWN_HARNESS), "add settings for every registered optimizer"


@pytest.mark.parametrize("problem_name", list(PROBLEMS))
def test_hand_written_gradients_match_autograd(problem_name):
    problem = PROBLEMS[problem_name]
    for point in [(-1.5, 2.0), (0.3, -0.7), (1.0, 1.0)]:
        xy = torch.tensor(point, dtype=torch.float64, requires_grad=True)
        problem.function(*xy).backward()
        torch.testing.assert_close(xy.grad, torch.tensor(problem.gradient(*point), dtype=torch.float64))


@pytest.mark.parametrize("problem_name", list(PROBLEMS))
def test_the_start_is_far_from_the_minimum(problem_name):
    """Guards against a vacuous pass: no optimizer starts within any tolerance used here."""
    problem = PROBLEMS[problem_name]
    assert distance_after(ours.SGD([start(problem)], lr=0.0), start(problem), problem, 0) > 1.0


@pytest.mark.parametrize("problem_name", list(PROBLEMS))
@pytest.mark.parametrize("name", sorted(set(SETTINGS) | set(NEEDS_OWN_HARNESS)))
def test_converges(name, problem_name):
    if name in NEEDS_OWN_HARNESS:
        pytest.skip(f"{name}: {NEEDS_OWN_HARNESS[name]}")
    problem, (options, steps, tol) = PROBLEMS[problem_name], SETTINGS[name][problem_name]
    point = start(problem)
    distance = distance_after(ours.make_optimizer(name, [point], **options), point, problem, steps)
    assert distance < tol, f"{name} on {problem_name}: {distance:.3g} from the minimum after {steps} steps"


@pytest.mark.parametrize("problem_name", list(PROBLEMS))
@pytest.mark.parametrize("inner", sorted(LOOKAHEAD_SETTINGS))
def test_lookahead_converges(inner, problem_name):
    make_inner, settings = LOOKAHEAD_SETTINGS[inner]
    problem, (options, steps, tol) = PROBLEMS[problem_name], settings[problem_name]
    point = start(problem)
    optimizer = ours.Lookahead(make_inner([point], options["lr"]), k=options["k"], alpha=options["alpha"])
    distance = distance_after(optimizer, point, problem, steps)
    assert distance < tol, f"Lookahead({inner}) on {problem_name}: {distance:.3g} from the minimum after {steps} steps"
