"""Our schedulers drive our optimizers (optimlab.optim.SGD, Adam) and torch's alike: training with them
gives the same parameters, to 1e-12 in float64, as torch's optimizer driven by torch's scheduler."""

from __future__ import annotations

import warnings

import pytest
import torch
from optim_harness import assert_same_params, groups_for, loss_at, make_params
from torch.optim import lr_scheduler as theirs

from optimlab import optim as our_optim
from optimlab import schedules as ours

OPTIMIZERS = {  # name -> (ours, torch's, options of the first group; the second gets lr × 0.37)
    "sgd": (our_optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    "nesterov": (our_optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    "adam": (our_optim.Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.9, 0.99))),
    "adamw": (our_optim.AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
}

SCHEDULERS = {  # name -> (module, optimizer) -> scheduler
    "one_cycle": lambda m, o: m.OneCycleLR(o, max_lr=[0.05, 0.02], total_steps=40, three_phase=True),
    "cyclic": lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=0.02, step_size_up=5, mode="triangular2"),
    "warm_restarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2, eta_min=1e-4),
    "warmup_then_cosine": lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 0.1, total_iters=5),
                                                          m.CosineAnnealingLR(o, T_max=35)], milestones=[5]),
}


def train(optimizer_cls, scheduler_module, options, build, steps=40):
    params = make_params()
    optimizer = optimizer_cls(groups_for(params, options, {**options, "lr": options["lr"] * 0.37}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = build(scheduler_module, optimizer)
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss_at(params, step).backward()
        optimizer.step()
        scheduler.step()
    return params


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_our_scheduler_drives_our_and_torchs_optimizers_like_torchs_scheduler(optimizer, scheduler):
    our_cls, torch_cls, options = OPTIMIZERS[optimizer]
    build = SCHEDULERS[scheduler]
    expected = train(torch_cls, theirs, options, build)
    assert_same_params(train(our_cls, ours, options, build), expected, 1e-12)
    assert_same_params(train(torch_cls, ours, options, build), expected, 1e-12)


def test_the_schedule_changes_the_trajectory():
    """The test above can fail: a different schedule gives different parameters."""
    our_cls, _, options = OPTIMIZERS["adam"]
    one_cycle = train(our_cls, ours, options, SCHEDULERS["one_cycle"])
    cyclic = train(our_cls, ours, options, SCHEDULERS["cyclic"])
    with pytest.raises(AssertionError):
        assert_same_params(one_cycle, cyclic, 1e-6)
