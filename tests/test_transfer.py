"""Fine-tuning strategies: who trains at which rate, what stays frozen (BatchNorm included), and the lr timeline."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from optimlab.data.digits import load_digits_split
from optimlab.models import new_head
from optimlab.optim import Adam
from optimlab.param_groups import geometric_rates
from optimlab.pretrained import load_pretrained
from optimlab.schedules import warmup_cosine
from optimlab.train import fit
from optimlab.transfer import (
    STRATEGIES,
    STRATEGY_TABLE,
    backbone_blocks,
    finetune,
    freeze,
    source_accuracy,
    strategy_groups,
)

STEPS = 10  # every finetune call here is short: the tests check bookkeeping, not accuracy


@pytest.fixture(scope="module")
def pretrained():
    return load_pretrained()


@pytest.fixture(scope="module")
def runs(pretrained):
    """One short run of every strategy (seed 0, 3 digits per class), shared by the tests below."""
    return {s: finetune(s, 0, 3, steps=STEPS, pretrained=pretrained, score_letters=s in ("frozen", "scratch"))
            for s in STRATEGIES}


def _names(model, params):
    name_of = {id(p): name for name, p in model.named_parameters()}
    return [name_of[id(p)] for p in params]


def test_blocks_cover_the_backbone_in_order(pretrained):
    blocks = backbone_blocks(pretrained)
    assert list(blocks) == ["block1", "block2", "block3", "block4"]
    names = [_names(pretrained, block.parameters()) for block in blocks.values()]
    assert names[0] == ["features.conv1.weight", "features.bn1.weight", "features.bn1.bias"]
    assert sum(names, []) == _names(pretrained, pretrained.features.parameters())


def test_freeze_stops_gradients_and_batchnorm_statistics(pretrained):
    model = new_head(pretrained, 10, seed=0).train()
    assert freeze(model.features) is model.features
    assert not any(p.requires_grad for p in model.features.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    before = copy.deepcopy(model.features.state_dict())
    model(load_digits_split(seed=0, labels_per_class=3, images=True).X_train)
    assert all(torch.equal(before[k], v) for k, v in model.features.state_dict().items())


@pytest.mark.parametrize("strategy,expected", [
    ("scratch", {"all": 1e-2}), ("uniform_low", {"all": 1e-4}), ("uniform_high", {"all": 1e-2}),
    ("differential", {"backbone": 1e-4, "head": 1e-2}), ("differential_schedule", {"backbone": 1e-4, "head": 1e-2}),
    ("layerwise", dict(zip(["block1", "block2", "block3", "block4", "head"], geometric_rates(1e-4, 1e-2, 5)))),
])
def test_groups_and_rates_of_each_strategy(pretrained, strategy, expected):
    model = new_head(pretrained, 10, seed=0)
    groups = strategy_groups(strategy, model, 1e-4, 1e-2)
    assert {g["name"]: g["lr"] for g in groups} == pytest.approx(expected)
    assert sorted(id(p) for g in groups for p in g["params"]) == sorted(id(p) for p in model.parameters())


def test_frozen_strategies_train_only_the_head(pretrained):
    model = new_head(pretrained, 10, seed=0)
    freeze(model.features)
    assert _names(model, strategy_groups("frozen", model, 1e-4, 1e-2)[0]["params"]) == [
        "classifier.weight", "classifier.bias"]
    with pytest.raises(ValueError, match="groups="):   # forgetting to freeze leaves the backbone out of every group
        strategy_groups("frozen", new_head(pretrained, 10, seed=0), 1e-4, 1e-2)


def test_frozen_backbone_is_untouched_buffers_included(pretrained, runs):
    frozen = runs["frozen"]
    assert frozen["backbone_change"] == 0.0
    assert frozen["letters_retained"] == source_accuracy(pretrained)
    state = frozen["model"].features.state_dict()
    assert all(torch.equal(value, state[key]) for key, value in pretrained.features.state_dict().items())


def test_frozen_in_train_mode_keeps_weights_but_moves_batchnorm_statistics(pretrained, runs):
    drifted = runs["frozen_bn_train"]
    assert drifted["backbone_change"] == 0.0
    assert not torch.equal(drifted["model"].features.bn1.running_mean, pretrained.features.bn1.running_mean)
    tracked = drifted["model"].features.bn1.num_batches_tracked - pretrained.features.bn1.num_batches_tracked
    assert tracked.item() == STEPS   # one update of the running statistics per training step


def test_features_computed_once_equal_the_backbone_run_every_step(pretrained, runs):
    """The frozen shortcut (features computed once) trains the same head as running the frozen backbone each step."""
    data = load_digits_split(seed=0, labels_per_class=3, images=True)
    model = new_head(pretrained, 10, seed=0)
    freeze(model.features)
    fit(model, nn.functional.cross_entropy, Adam(strategy_groups("frozen", model, 1e-4, 1e-2)),
        [(data.X_train, data.y_train)], epochs=STEPS, progress=False)
    assert not model.features.training   # fit left the frozen backbone in eval mode
    for mine, shortcut in zip(model.classifier.parameters(), runs["frozen"]["model"].classifier.parameters()):
        torch.testing.assert_close(mine, shortcut)


def test_gradual_unfreezes_from_the_top_one_block_per_phase(runs):
    gradual = runs["gradual"]
    assert gradual["groups"] == ["block1", "block2", "block3", "block4", "head"]
    unfrozen_at = [next(t for t, rates in enumerate(gradual["lr"]) if rates[g] > 0) for g in range(5)]
    assert unfrozen_at == [8, 6, 4, 2, 0]   # 10 steps in 5 phases of 2
    assert gradual["lr"][-1] == pytest.approx(geometric_rates(1e-4, 1e-2, 5))


def test_the_schedule_scales_each_groups_own_rate(runs):
    multiplier = warmup_cosine(1, STEPS)   # 10 % of 10 steps of warmup
    expected = [[1e-4 * multiplier(t), 1e-2 * multiplier(t)] for t in range(STEPS)]
    assert sum(runs["differential_schedule"]["lr"], []) == pytest.approx(sum(expected, []))
    assert runs["differential"]["lr"] == [[1e-4, 1e-2]] * STEPS


def test_scratch_has_no_letters_score_and_strategies_are_repeatable(pretrained, runs):
    assert math.isnan(runs["scratch"]["letters_retained"])
    again = finetune("differential", 0, 3, steps=STEPS, pretrained=pretrained)
    assert again["accuracy"] == runs["differential"]["accuracy"]
    assert again["backbone_change"] == runs["differential"]["backbone_change"]


@pytest.mark.parametrize("arguments,expected", [
    ({"strategy": "linear_probe"}, "strategy='linear_probe'"), ({"steps": 0}, "steps=0"),
    ({"head_lr": -1.0}, "head_lr=-1.0"), ({"labels_per_class": 0}, "labels_per_class=0"),
])
def test_bad_arguments_name_themselves(pretrained, arguments, expected):
    call = {"strategy": "frozen", "seed": 0, "labels_per_class": 3, "steps": 2, "pretrained": pretrained, **arguments}
    with pytest.raises(ValueError, match=expected.replace("(", r"\(")):
        finetune(**call)


def test_the_head_is_new_and_sized_for_digits(runs):
    for strategy in STRATEGIES:
        head = runs[strategy]["model"].classifier
        assert isinstance(head, nn.Linear) and head.out_features == 10


def test_the_strategies_are_rows_of_a_table_in_the_documented_order():
    assert STRATEGIES == tuple(STRATEGY_TABLE) == (
        "scratch", "frozen", "frozen_bn_train", "uniform_low", "uniform_high", "differential",
        "differential_schedule", "layerwise", "gradual")
    assert [s for s, row in STRATEGY_TABLE.items() if row.freeze_backbone] == ["frozen", "frozen_bn_train"]


def test_modes_survive_training_and_scoring(runs):
    """A frozen backbone stays in eval mode after fit, accuracy and source_accuracy; a trained one in train mode."""
    assert not any(m.training for m in runs["frozen"]["model"].features.modules())
    assert runs["frozen"]["model"].classifier.training
    assert all(m.training for m in runs["differential"]["model"].modules())


def test_source_accuracy_copies_a_head_to_the_models_device_and_never_moves_the_callers(pretrained):
    """A model on another device (here "meta", which has no values) gets a copy of the head; the caller's stays."""
    head = copy.deepcopy(pretrained.classifier)
    on_meta = copy.deepcopy(pretrained).to("meta")
    with pytest.raises((NotImplementedError, RuntimeError)):   # meta tensors hold no numbers to count
        source_accuracy(on_meta, head)
    assert all(p.device.type == "cpu" for p in head.parameters())
