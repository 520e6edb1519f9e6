"""Every torch-named scheduler equals its torch.optim.lr_scheduler namesake, step for step.

The cases and the comparison live in ``schedule_harness`` (shared with the plot and resume tests).
"""

from __future__ import annotations

import pytest
from schedule_harness import CASES, assert_same, make_optimizer, trajectory
from torch.optim import lr_scheduler as theirs

from optimlab import schedules as ours

PARAMS = [(name, index) for name, cases in CASES.items() for index in range(len(cases))]


def test_every_torch_named_class_has_parity_cases():
    assert set(ours.TORCH_NAMED) == set(CASES)
    assert all(len(cases) >= 3 for cases in CASES.values())
    assert set(ours.TORCH_NAMED) >= set(theirs.__all__) - {"LRScheduler"}  # every torch class has a twin


@pytest.mark.parametrize("name,index", PARAMS, ids=[f"{n}-{i}" for n, i in PARAMS])
def test_matches_torch_step_for_step(name, index):
    case = CASES[name][index]
    mine, expected = trajectory(ours, case), trajectory(theirs, case)
    assert_same(mine, expected)
    lrs = {row[0] for row in expected}
    assert len(lrs) >= 2, "the case never changes the lr: it could not catch a wrong schedule"
    assert isinstance(case.build(ours, make_optimizer(case.optimizer)), ours.TORCH_NAMED[name])


def test_one_cycle_refuses_to_step_past_its_cycle_like_torch():
    for module in (ours, theirs):
        optimizer = make_optimizer("sgd")
        scheduler = module.OneCycleLR(optimizer, max_lr=0.1, total_steps=10)
        for _ in range(10):  # steps 1 … 10 are allowed (10 extrapolates the last phase)
            optimizer.step()
            scheduler.step()
        with pytest.raises(ValueError, match="total.steps"):
            scheduler.step()
