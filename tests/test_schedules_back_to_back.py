"""Schedulers stepped back to back on one optimizer multiply their effects exactly as torch's do.

Every ordered pair of the nine classes in ``BACK_TO_BACK`` (72), every triple of them in both orders
(2 · 84 = 168), and ChainedScheduler around parts torch lets overwrite or floor the lr: two param
groups with different base lrs, 120 steps, every lr compared to 1e-12 (relative).
"""

from __future__ import annotations

import itertools
import math

import pytest
from schedule_harness import BACK_TO_BACK, LRS, Case, assert_same, back_to_back, make_optimizer, trajectory
from torch.optim import lr_scheduler as theirs

from optimlab import schedules as ours

PAIRS = list(itertools.permutations(BACK_TO_BACK, 2))
TRIPLES = [names for combo in itertools.combinations(BACK_TO_BACK, 3) for names in (combo, combo[::-1])]


def assert_parity(names) -> None:
    expected = back_to_back(theirs, names)
    assert_same(back_to_back(ours, names), expected)
    assert len({row[0] for row in expected}) >= 4, "the run hardly changes the lr: it could not catch a wrong one"


@pytest.mark.parametrize("names", PAIRS, ids=["+".join(names) for names in PAIRS])
def test_every_pair_back_to_back_matches_torch(names):
    assert_parity(names)


@pytest.mark.parametrize("names", TRIPLES, ids=["+".join(names) for names in TRIPLES])
def test_every_triple_back_to_back_matches_torch(names):
    assert_parity(names)


def test_the_order_matters_where_one_of_them_overwrites():
    """LambdaLR overwrites the lr (in torch too): stepped last it erases the other's factor for that step."""
    first, last = back_to_back(ours, ("ExponentialLR", "LambdaLR")), back_to_back(ours, ("LambdaLR", "ExponentialLR"))
    assert first[50][0] == pytest.approx(LRS[0] / (1 + 0.05 * 50), rel=1e-12)
    assert last[50][0] == pytest.approx(LRS[0] / (1 + 0.05 * 50) * 0.98, rel=1e-12)


def test_a_floor_does_not_hold_under_another_factor():
    """The surprise of eta_min: beside ExponentialLR the cosine shrinks the distance to its floor, so the
    product passes below eta_min, and at the cosine's restart torch adds the rise without the other factor."""
    rows = back_to_back(ours, ("ExponentialLR", "CosineAnnealingLR"))
    assert min(row[0] for row in rows) < 0.005  # below the floor eta_min = 0.005
    rise = (LRS[0] - 0.005) * (1 - math.cos(math.pi / 40)) / 2
    assert rows[41][0] == pytest.approx(rows[40][0] * 0.98 + rise, rel=1e-12)


CHAINED = {
    "cosine-past-T_max": lambda m, o: m.ChainedScheduler([m.ExponentialLR(o, 0.99), m.CosineAnnealingLR(o, T_max=50)]),
    "cosine-floor": lambda m, o: m.ChainedScheduler([m.LinearLR(o, 0.1, total_iters=10),
                                                     m.CosineAnnealingLR(o, 30, eta_min=0.01)]),
    "lambda-last": lambda m, o: m.ChainedScheduler([m.StepLR(o, 3), m.LambdaLR(o, lambda t: 0.97**t)]),
    "one-cycle-first": lambda m, o: m.ChainedScheduler([m.OneCycleLR(o, 0.5, total_steps=130),
                                                        m.ExponentialLR(o, 0.99)]),
    "warm-restarts": lambda m, o: m.ChainedScheduler([m.CosineAnnealingWarmRestarts(o, 10, 2, 0.001),
                                                      m.MultiStepLR(o, [30, 30, 5], 0.5)]),
}


@pytest.mark.parametrize("name", list(CHAINED))
def test_chained_scheduler_matches_torch_with_any_parts(name):
    case = Case(CHAINED[name])
    assert_same(trajectory(ours, case), trajectory(theirs, case))


def test_chained_scheduler_equals_the_same_parts_stepped_back_to_back():
    optimizer = make_optimizer("sgd")
    chained = ours.ChainedScheduler([BACK_TO_BACK[n](ours, optimizer) for n in ("CosineAnnealingLR", "StepLR")])
    rows = []
    for _ in range(121):
        rows.append([float(group["lr"]) for group in optimizer.param_groups])
        optimizer.step()
        chained.step()
    assert_same(rows[:121], back_to_back(ours, ("CosineAnnealingLR", "StepLR")))
