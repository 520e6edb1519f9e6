"""Checkpoints: ours → ours, ours → torch and torch → ours all continue exactly like an uninterrupted run."""

from __future__ import annotations

import pytest
import torch
from optim_harness import CASES, assert_same_params, make_params, run, second_group

# One rich case per optimizer (the last option combination: usually every flag on).
NAMES = list(CASES)


def _case(name):
    our_cls, torch_cls, cases = CASES[name]
    return our_cls, torch_cls, cases[-1]


def _resume(save_cls, load_cls, options, *, before=7, after=11):
    """Run ``before`` steps with save_cls, checkpoint, load into a fresh load_cls over cloned params, go on."""
    params, saved = run(lambda g: save_cls(g), options, second_group(options), steps=before)
    checkpoint = saved.state_dict()
    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    resumed = load_cls([{"params": resumed_params[:2], **options}, {"params": resumed_params[2:], **options}])
    resumed.load_state_dict(checkpoint)
    run(None, options, options, steps=after, params=resumed_params, optimizer=resumed, start=before)
    return resumed_params


def _uninterrupted(cls, options, steps):
    return run(lambda g: cls(g), options, second_group(options), steps=steps)[0]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("direction", ["ours->ours", "ours->torch", "torch->ours"])
def test_resume_from_state_dict_equals_uninterrupted_run(name, direction):
    our_cls, torch_cls, options = _case(name)
    save_cls, load_cls = {
        "ours->ours": (our_cls, our_cls), "ours->torch": (our_cls, torch_cls), "torch->ours": (torch_cls, our_cls),
    }[direction]
    expected = _uninterrupted(our_cls, options, 18)
    assert_same_params(_resume(save_cls, load_cls, options), expected, 1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_resume_without_state_differs(name):
    """The resume test can fail: dropping the optimizer state changes the trajectory (for stateful ones)."""
    our_cls, _, options = _case(name)
    params, optimizer = run(lambda g: our_cls(g), options, second_group(options), steps=7)
    if not optimizer.state_dict()["state"] or all(not s for s in optimizer.state_dict()["state"].values()):
        pytest.skip(f"{name} with {options} keeps no state")
    fresh = [p.detach().clone().requires_grad_() for p in params]
    restarted = our_cls([{"params": fresh[:2], **options}, {"params": fresh[2:], **second_group(options)}])
    run(None, options, options, steps=11, params=fresh, optimizer=restarted, start=7)
    expected = _uninterrupted(our_cls, options, 18)
    assert any(not torch.allclose(a, b, atol=1e-9) for a, b in zip(fresh, expected))


def test_make_params_is_deterministic():
    assert all(torch.equal(a, b) for a, b in zip(make_params(), make_params()))
