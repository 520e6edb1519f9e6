"""Every optimizer equals its torch.optim namesake, step for step, for every option combination.

Each case runs 25 steps on two param groups with different hyperparameters, in float64 (tolerance
1e-12) and float32 (1e-5), and also compares the state (torch's keys and values). Add an optimizer's
cases to ``CASES``; ``test_every_registered_optimizer_has_parity_cases`` fails until you do.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from optim_harness import assert_same_params, assert_same_state, run

from optimlab import optim as ours


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
}

PARAMS = [(name, index) for name, (_, _, cases) in CASES.items() for index in range(len(cases))]


def second_group(options: dict) -> dict:
    """The second group's options: same algorithm settings, a different learning rate."""
    return {**options, "lr": options["lr"] * 0.37}


# Optimizers torch.optim does not have; they are checked against the papers' pseudo-code instead
# (tests/test_optim_beyond_torch.py). Lookahead wraps another optimizer, so it is not registered at all.
NO_TORCH_TWIN = {"lion"}


def test_every_registered_optimizer_has_parity_cases():
    missing = set(ours.OPTIMIZERS) - set(CASES) - NO_TORCH_TWIN
    assert not missing, f"add parity cases for {sorted(missing)}"


@pytest.mark.parametrize("name,index", PARAMS, ids=[f"{n}-{i}" for n, i in PARAMS])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["f64", "f32"])
def test_matches_torch_step_for_step(name, index, dtype, tol):
    our_cls, torch_cls, cases = CASES[name]
    options = cases[index]
    our_params, our_opt = run(lambda g: our_cls(g), options, second_group(options), steps=25, dtype=dtype)
    their_params, their_opt = run(lambda g: torch_cls(g), options, second_group(options), steps=25, dtype=dtype)
    assert_same_params(our_params, their_params, tol)
    assert_same_state(our_opt, their_opt, tol)


@pytest.mark.parametrize("name", list(CASES))
def test_parameters_actually_move(name):
    """Guards the parity test against a vacuous pass (e.g. both optimizers doing nothing)."""
    our_cls, _, cases = CASES[name]
    options = cases[0]
    before = [p.detach().clone() for p in run(lambda g: our_cls(g), options, options, steps=0)[0]]
    after = run(lambda g: our_cls(g), options, options, steps=5)[0]
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
