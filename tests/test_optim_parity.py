"""Every optimizer equals its torch.optim namesake, step for step, for every option combination.

Each case runs 25 steps on two param groups with different hyperparameters, in float64 (tolerance
1e-12) and float32 (1e-5), and also compares the state (torch's keys and values). Add an optimizer's
cases to ``CASES`` in ``tests/optim_harness.py``; ``test_every_registered_optimizer_has_parity_cases`` fails
until you do.
"""

from __future__ import annotations

import pytest
import torch
from optim_harness import (
    CASES,
    NEEDS_OWN_HARNESS,
    NO_TORCH_TWIN,
    PARAMS,
    assert_same_params,
    assert_same_state,
    run,
    second_group,
)

from optimlab import optim as ours


def test_every_registered_optimizer_has_parity_cases():
    missing = set(ours.OPTIMIZERS) - set(CASES) - NO_TORCH_TWIN - set(NEEDS_OWN_HARNESS)
    assert not missing, f"add parity cases for {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(NEEDS_OWN_HARNESS))
def test_optimizers_the_harness_cannot_drive_are_tested_elsewhere(name):
    pytest.skip(f"{name}: {NEEDS_OWN_HARNESS[name]}")


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
