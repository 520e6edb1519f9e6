import pytest
import torch
from torch import nn

from optimlab.optim import SGD, AdamW
from optimlab.param_groups import (
    check_partition,
    decay_groups,
    describe_groups,
    geometric_rates,
    layerwise_groups,
)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 3))


def test_decay_groups_split_matrices_from_biases_and_norms():
    net = _net()
    decay, no_decay = decay_groups(net, 0.1, lr=1e-3)
    assert [p.shape for p in decay["params"]] == [(8, 4), (3, 8)]
    assert len(no_decay["params"]) == 4  # two biases, LayerNorm weight and bias
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0 and decay["lr"] == 1e-3
    check_partition(net, [decay, no_decay])


def test_describe_groups_counts_tensors_and_parameters():
    rows = describe_groups(decay_groups(_net(), 0.1))
    assert rows[0]["group"] == "decay" and rows[0]["tensors"] == 2 and rows[0]["parameters"] == 32 + 24
    assert rows[1]["parameters"] == 8 + 8 + 8 + 3 and rows[1]["weight_decay"] == 0.0


def test_no_decay_parameters_really_do_not_decay():
    net = _net()
    optimizer = AdamW(decay_groups(net, 0.5), lr=0.1)
    before = [p.detach().clone() for p in net.parameters()]
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # zero gradient: only weight decay can move anything
    moved = [not torch.equal(b, p) for b, p in zip(before, net.parameters())]
    assert moved == [True, False, False, False, True, False]


def test_geometric_rates_have_a_constant_ratio_and_hit_both_ends():
    rates = geometric_rates(1e-4, 1e-2, 5)
    assert rates[0] == pytest.approx(1e-4) and rates[-1] == pytest.approx(1e-2)
    ratios = [b / a for a, b in zip(rates, rates[1:])]
    assert ratios == pytest.approx([10 ** 0.5] * 4)
    assert geometric_rates(1e-4, 1e-2, 1) == [1e-2]


def test_layerwise_groups_skip_parameterless_layers_and_train_with_their_rates():
    net = _net()
    groups = layerwise_groups(list(net), 1e-3, 1e-1, momentum=0.0)
    assert [g["name"] for g in groups] == ["0", "1", "3"]
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-2, 1e-1])
    check_partition(net, groups)
    optimizer = SGD(groups)
    before = [p.detach().clone() for p in net.parameters()]
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    moves = [(b - p).abs().max().item() for b, p in zip(before, net.parameters())]
    assert moves == pytest.approx([1e-3, 1e-3, 1e-2, 1e-2, 1e-1, 1e-1], rel=1e-5)  # float32 rounding


def test_partition_check_catches_missing_and_duplicated_parameters():
    net = _net()
    with pytest.raises(ValueError, match="missing"):
        check_partition(net, [{"params": [net[0].weight]}])
    with pytest.raises(ValueError, match="disjoint"):
        check_partition(net, [{"params": list(net.parameters())}, {"params": [net[0].weight]}])


@pytest.mark.parametrize(
    "args,name", [((0.0, 1.0, 3), "lowest"), ((1e-3, -1.0, 3), "highest"), ((1e-3, 1.0, 0), "count")]
)
def test_geometric_rates_validate(args, name):
    with pytest.raises(ValueError, match=rf"^{name}="):
        geometric_rates(*args)


def test_decay_groups_validate_weight_decay():
    with pytest.raises(ValueError, match=r"^weight_decay=-0.1"):
        decay_groups(_net(), -0.1)
