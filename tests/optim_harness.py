"""Shared machinery for the optimizer tests: a small problem whose gradients depend on the parameters,
two param groups with different hyperparameters, a parameter whose ``.grad`` is None on some steps, and the
parity cases (``CASES``: every option combination each optimizer is compared with torch on)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import torch

from optimlab import optim as ours

OptimizerFactory = Callable[[list[dict[str, Any]]], torch.optim.Optimizer]


def make_params(dtype: torch.dtype = torch.float64, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (3,), (2, 2)]
    return [torch.randn(shape, generator=generator, dtype=dtype).requires_grad_() for shape in shapes]


def loss_at(params: list[torch.Tensor], step: int) -> torch.Tensor:
    """Non-quadratic, so gradients change with the parameters; the third tensor only counts on even
    steps, so on odd steps its ``.grad`` is None (zero_grad sets it to None)."""
    w, b, z = params
    x = torch.linspace(-1, 1, 3, dtype=w.dtype)
    loss = torch.tanh(w @ x + 0.3).pow(2).sum() + (b - 0.5).pow(2).sum() + 0.1 * torch.sin(w).sum()
    if step % 2 == 0:
        loss = loss + (z @ z.T).trace() + z.abs().sum()
    return loss


def groups_for(params: list[torch.Tensor], first: dict[str, Any], second: dict[str, Any]) -> list[dict]:
    """Two param groups: the first two tensors with ``first``'s options, the third with ``second``'s."""
    return [{"params": params[:2], **first}, {"params": params[2:], **second}]


def run(make_optimizer: OptimizerFactory, first: dict, second: dict, *, steps: int,
        dtype: torch.dtype = torch.float64, params: list[torch.Tensor] | None = None,
        optimizer: torch.optim.Optimizer | None = None, start: int = 0):
    """Run ``steps`` steps; return (params, optimizer) so a test can continue or inspect them."""
    params = params if params is not None else make_params(dtype)
    optimizer = optimizer or make_optimizer(groups_for(params, first, second))
    for step in range(start, start + steps):
        optimizer.zero_grad(set_to_none=True)
        loss_at(params, step).backward()
        optimizer.step()
    return params, optimizer


def assert_same_params(ours: list[torch.Tensor], theirs: list[torch.Tensor], tol: float) -> None:
    for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol, msg=lambda m, i=index: f"tensor {i}: {m}")


def assert_same_state(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer, tol: float) -> None:
    """Same state keys per parameter and equal values (torch's names are part of the contract)."""
    our_state, their_state = ours.state_dict()["state"], theirs.state_dict()["state"]
    assert our_state.keys() == their_state.keys()
    for index in our_state:
        assert our_state[index].keys() == their_state[index].keys(), index
        for key, value in our_state[index].items():
            other = their_state[index][key]
            if isinstance(value, torch.Tensor):
                torch.testing.assert_close(value.double(), other.double(), atol=tol, rtol=tol)
            else:
                assert value == other, (index, key)


# --- the parity cases: every option combination each optimizer is checked with against torch -----------------


def grid(**options: list) -> list[dict]:
    """Every combination of the given option values."""
    names = list(options)
    return [dict(zip(names, values)) for values in itertools.product(*options.values())]


def sgd_cases() -> list[dict]:
    cases = grid(momentum=[0.0, 0.9], dampening=[0.0, 0.3], weight_decay=[0.0, 0.05], maximize=[False, True])
    cases += grid(momentum=[0.5, 0.9], nesterov=[True], weight_decay=[0.0, 0.05], maximize=[False, True])
    return [dict(lr=0.05, **c) for c in cases]


def adam_cases() -> list[dict]:
    return [
        dict(lr=0.01, **c)
        for c in grid(weight_decay=[0.0, 0.1], amsgrad=[False, True], maximize=[False, True],
                      decoupled_weight_decay=[False, True], betas=[(0.9, 0.999), (0.8, 0.9)])
    ]


def adamw_cases() -> list[dict]:
    return [dict(lr=0.01, **c) for c in grid(weight_decay=[0.0, 0.1], amsgrad=[False, True], maximize=[False, True])]


# The new optimizers' grids cross only the options that interact (e.g. RMSprop's momentum and centering); an
# option that acts alone (maximize, weight decay as L2) is switched on by itself and once more with everything
# else on. The last case of each has every option on: the state_dict tests use it.


def adagrad_cases() -> list[dict]:
    cases = [dict(), dict(lr_decay=0.1), dict(initial_accumulator_value=0.5), dict(weight_decay=0.05),
             dict(eps=0.1, maximize=True)]
    cases += [dict(lr_decay=0.1, initial_accumulator_value=0.5, weight_decay=0.05, maximize=True)]
    return [dict(lr=0.05, **c) for c in cases]


def rmsprop_cases() -> list[dict]:
    cases = grid(alpha=[0.5], eps=[0.1], momentum=[0.5], weight_decay=[0.05])
    cases += grid(momentum=[0.0, 0.9], centered=[False, True])
    cases += grid(maximize=[True], momentum=[0.9], centered=[True], weight_decay=[0.05])
    return [dict(lr=0.01, **c) for c in cases]


def adadelta_cases() -> list[dict]:
    cases = grid(eps=[1e-2], rho=[0.0, 1.0])
    cases += grid(rho=[0.9, 0.5], weight_decay=[0.0, 0.05])
    cases += grid(rho=[0.5], weight_decay=[0.05], maximize=[True])
    return [dict(lr=0.5, **c) for c in cases]


def nadam_cases() -> list[dict]:
    cases = grid(momentum_decay=[0.0, 0.5], betas=[(0.8, 0.9)], eps=[1e-3])
    cases += [dict(), dict(weight_decay=0.1), dict(weight_decay=0.1, decoupled_weight_decay=True)]
    cases += [dict(weight_decay=0.1, decoupled_weight_decay=True, maximize=True)]
    return [dict(lr=0.01, **c) for c in cases]


def radam_cases() -> list[dict]:
    # Every case takes un-adapted steps 1-5 and rectified ones from step 6 on: both branches run.
    cases = grid(betas=[(0.8, 0.9), (0.0, 0.99)], eps=[1e-3])
    cases += [dict(), dict(weight_decay=0.1), dict(weight_decay=0.1, decoupled_weight_decay=True)]
    cases += [dict(weight_decay=0.1, decoupled_weight_decay=True, maximize=True)]
    return [dict(lr=0.01, **c) for c in cases]


def adamax_cases() -> list[dict]:
    cases = grid(eps=[0.5])
    cases += grid(betas=[(0.9, 0.999), (0.8, 0.9)], weight_decay=[0.0, 0.1])
    cases += grid(betas=[(0.8, 0.9)], weight_decay=[0.1], maximize=[True])
    return [dict(lr=0.01, **c) for c in cases]


def asgd_cases() -> list[dict]:
    # t0=3: averaging (μ < 1) starts within the 25 steps; with torch's t0=1e6 the average is the iterate.
    cases = [dict(), dict(t0=3.0), dict(lambd=0.05, alpha=0.5, t0=3.0), dict(weight_decay=0.05), dict(maximize=True)]
    cases += [dict(lambd=0.05, alpha=0.5, t0=3.0, weight_decay=0.05, maximize=True)]
    return [dict(lr=0.05, **c) for c in cases]


def rprop_cases() -> list[dict]:
    # step_sizes=(1e-3, 0.02) from lr=0.01: both bounds are reached within the 25 steps
    cases = [dict(), dict(etas=(0.3, 1.5)), dict(step_sizes=(1e-3, 0.02)), dict(maximize=True)]
    cases += [dict(etas=(0.3, 1.5), step_sizes=(1e-3, 0.02), maximize=True)]
    return [dict(lr=0.01, **c) for c in cases]


def adafactor_cases() -> list[dict]:
    # the (4, 3) and (2, 2) tensors take the factored path, the (3,) one the full-vector path
    cases = grid(beta2_decay=[-0.8, -0.3], eps=[(None, 1e-3), (1e-3, 0.5)])
    cases += [dict(d=3.0), dict(weight_decay=0.1), dict(maximize=True)]
    cases += [dict(beta2_decay=-0.3, eps=(1e-3, 0.5), d=3.0, weight_decay=0.1, maximize=True)]
    return [dict(lr=0.05, **c) for c in cases]


# name -> (our class, torch class, list of option dicts). The second group always gets a different lr.
CASES: dict[str, tuple[type, type, list[dict]]] = {
    "sgd": (ours.SGD, torch.optim.SGD, sgd_cases()),
    "adam": (ours.Adam, torch.optim.Adam, adam_cases()),
    "adamw": (ours.AdamW, torch.optim.AdamW, adamw_cases()),
    # --- more algorithms: parity cases ---
    "adagrad": (ours.Adagrad, torch.optim.Adagrad, adagrad_cases()),
    "rmsprop": (ours.RMSprop, torch.optim.RMSprop, rmsprop_cases()),
    "adadelta": (ours.Adadelta, torch.optim.Adadelta, adadelta_cases()),
    "nadam": (ours.NAdam, torch.optim.NAdam, nadam_cases()),
    "radam": (ours.RAdam, torch.optim.RAdam, radam_cases()),
    "adamax": (ours.Adamax, torch.optim.Adamax, adamax_cases()),
    "asgd": (ours.ASGD, torch.optim.ASGD, asgd_cases()),
    "rprop": (ours.Rprop, torch.optim.Rprop, rprop_cases()),
    "adafactor": (ours.Adafactor, torch.optim.Adafactor, adafactor_cases()),
}

PARAMS = [(name, index) for name, (_, _, cases) in CASES.items() for index in range(len(cases))]


def second_group(options: dict) -> dict:
    """The second group's options: same algorithm settings, a different learning rate."""
    return {**options, "lr": options["lr"] * 0.37}


# Optimizers torch.optim does not have; they are checked against the papers' pseudo-code instead
# (tests/test_optim_beyond_torch.py). Lookahead wraps another optimizer, so it is not registered at all.
NO_TORCH_TWIN = {"lion", "lars", "lamb"}  # lars, lamb: tests/test_optim_lars_lamb.py

# Registered optimizers the generic harnesses cannot drive (they set a dense ``.grad`` on 1-D and 2-D tensors and
# call ``step()`` without a closure). Each has its own parity, state_dict and convergence tests; the generic
# parity and convergence tests skip them here, with this reason, and nowhere else.
NEEDS_OWN_HARNESS = {
    "lbfgs": "step(closure) re-evaluates the loss several times; tested in tests/test_optim_new_lbfgs.py",
    "sparse_adam": "takes sparse gradients only; tested in tests/test_optim_new_sparse_adam.py",
    "muon": "takes 2-D parameters only; tested in tests/test_optim_new_muon.py",
    "sgd_schedule_free": "needs optimizer.train() before stepping; tested in tests/test_schedule_free.py",
    "adamw_schedule_free": "needs optimizer.train() before stepping; tested in tests/test_schedule_free.py",
}
