"""EMA and SWA (optimlab.averaging) equal torch.optim.swa_utils: same averages, buffers, state_dicts, update_bn.

Each parity case trains a small BatchNorm network with SGD for 12 steps in float64, folding the weights into
our AveragedModel and torch's after every step, and compares every tensor of the two state_dicts (1e-12).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.optim import swa_utils

from optimlab import averaging

TOL = 1e-12


def make_model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3)).double()


def batches(count: int = 6, size: int = 16, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 4, generator=generator, dtype=torch.float64) * 2 + 1,
             torch.randn(size, 3, generator=generator, dtype=torch.float64)) for _ in range(count)]


# (name, our AveragedModel kwargs, torch's AveragedModel kwargs)
CASES = [
    ("swa-default", {}, {}),
    ("swa-multi", dict(multi_avg_fn=averaging.get_swa_multi_avg_fn()),
     dict(multi_avg_fn=swa_utils.get_swa_multi_avg_fn())),
    ("swa-single", dict(avg_fn=averaging.get_swa_avg_fn()), dict(avg_fn=swa_utils.get_swa_avg_fn())),
    ("ema-multi", dict(multi_avg_fn=averaging.get_ema_multi_avg_fn(0.8)),
     dict(multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.8))),
    ("ema-single", dict(avg_fn=averaging.get_ema_avg_fn(0.8)), dict(avg_fn=swa_utils.get_ema_avg_fn(0.8))),
    ("ema-buffers", dict(multi_avg_fn=averaging.get_ema_multi_avg_fn(0.7), use_buffers=True),
     dict(multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.7), use_buffers=True)),
    ("swa-buffers", dict(use_buffers=True), dict(use_buffers=True)),
]


def train_and_average(ours_kwargs: dict, theirs_kwargs: dict, steps: int = 12):
    model = make_model()
    ours, theirs = averaging.AveragedModel(model, **ours_kwargs), swa_utils.AveragedModel(model, **theirs_kwargs)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = batches(steps)
    snapshots = []
    for inputs, targets in data:
        optimizer.zero_grad()
        nn.functional.mse_loss(model(inputs), targets).backward()
        optimizer.step()
        ours.update_parameters(model)
        theirs.update_parameters(model)
        snapshots.append(copy.deepcopy(model.state_dict()))
    return model, ours, theirs, snapshots, data


def assert_same_state_dict(ours: nn.Module, theirs: nn.Module, tol: float = TOL) -> None:
    mine, other = ours.state_dict(), theirs.state_dict()
    assert mine.keys() == other.keys()
    for key, value in mine.items():
        assert value.dtype == other[key].dtype, key
        torch.testing.assert_close(value, other[key], atol=tol, rtol=tol, msg=lambda m, k=key: f"{k}: {m}")


@pytest.mark.parametrize(("name", "ours_kwargs", "theirs_kwargs"), CASES, ids=[c[0] for c in CASES])
def test_averaged_model_equals_torch(name, ours_kwargs, theirs_kwargs):
    model, ours, theirs, _, data = train_and_average(ours_kwargs, theirs_kwargs)
    # torch's get_swa_multi_avg_fn computes its weight 1/(n+1) from a long tensor, so in float32 (relative
    # error ~1e-7); ours uses a Python float, like torch's single-tensor SWA and its default path on the CPU.
    tol = 1e-6 if name == "swa-multi" else TOL
    assert_same_state_dict(ours, theirs, tol)
    assert int(ours.n_averaged) == len(data)
    ours.eval()
    theirs.eval()
    torch.testing.assert_close(ours(data[0][0]), theirs(data[0][0]), atol=tol, rtol=tol)


def test_swa_is_the_plain_mean_of_the_snapshots_and_ema_the_geometric_one():
    _, swa, _, snapshots, _ = train_and_average({}, {})
    _, ema, _, _, _ = train_and_average(dict(multi_avg_fn=averaging.get_ema_multi_avg_fn(0.8)), {})
    for key in ("0.weight", "3.bias"):
        stacked = torch.stack([s[key] for s in snapshots])
        torch.testing.assert_close(swa.module.state_dict()[key], stacked.mean(0), atol=1e-12, rtol=1e-12)
        n = len(snapshots)  # W̄ = 0.8^(n−1) W₀ + Σ_{i≥1} 0.2 · 0.8^(n−1−i) Wᵢ
        weights = torch.tensor([0.8 ** (n - 1)] + [0.2 * 0.8 ** (n - 1 - i) for i in range(1, n)],
                               dtype=torch.float64)
        expected = (weights.reshape(-1, *[1] * (stacked.dim() - 1)) * stacked).sum(0)
        torch.testing.assert_close(ema.module.state_dict()[key], expected, atol=1e-12, rtol=1e-12)


def test_without_use_buffers_the_buffers_follow_the_trained_model():
    model, ours, _, _, _ = train_and_average({}, {})
    assert torch.equal(ours.module[1].running_mean, model[1].running_mean)
    assert int(ours.module[1].num_batches_tracked) == int(model[1].num_batches_tracked)


@pytest.mark.parametrize("direction", ["ours->torch", "torch->ours"])
def test_state_dict_loads_both_ways(direction):
    ours_kwargs, theirs_kwargs = CASES[3][1], CASES[3][2]
    _, ours, theirs, _, _ = train_and_average(ours_kwargs, theirs_kwargs)
    fresh_ours = averaging.AveragedModel(make_model(seed=5), **ours_kwargs)
    fresh_theirs = swa_utils.AveragedModel(make_model(seed=5), **theirs_kwargs)
    if direction == "ours->torch":
        fresh_theirs.load_state_dict(ours.state_dict())
        assert_same_state_dict(ours, fresh_theirs, tol=0)
    else:
        fresh_ours.load_state_dict(theirs.state_dict())
        assert_same_state_dict(fresh_ours, theirs, tol=0)


def test_update_bn_equals_torch_and_estimates_the_plain_average():
    _, ours, theirs, _, data = train_and_average({}, {})
    loader = [inputs for inputs, _ in data]
    ours.module[1].momentum = 0.3
    ours.eval()
    averaging.update_bn(loader, ours)
    swa_utils.update_bn(loader, theirs)
    assert_same_state_dict(ours, theirs)
    assert not ours.training and ours.module[1].momentum == 0.3  # mode and momentum restored
    with torch.no_grad():  # equal batches: the running mean is the mean of the BatchNorm's inputs over the pass
        features = torch.cat([ours.module[0](x) for x in loader])
    torch.testing.assert_close(ours.module[1].running_mean, features.mean(0), atol=1e-12, rtol=1e-12)
    variances = torch.stack([ours.module[0](x).detach().var(0, unbiased=True) for x in loader]).mean(0)
    torch.testing.assert_close(ours.module[1].running_var, variances, atol=1e-12, rtol=1e-12)


def test_update_bn_takes_input_target_pairs_and_leaves_a_model_without_batchnorm_alone():
    _, ours, theirs, _, data = train_and_average({}, {})
    averaging.update_bn(data, ours)  # (inputs, targets) tuples: the first item is the input
    swa_utils.update_bn(data, theirs)
    assert_same_state_dict(ours, theirs)
    plain = nn.Linear(4, 3).double()
    before = copy.deepcopy(plain.state_dict())
    averaging.update_bn(data, plain)
    assert all(torch.equal(before[k], v) for k, v in plain.state_dict().items())


def test_bad_arguments_raise_naming_them():
    model = make_model()
    for decay in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"^decay=.* is invalid"):
            averaging.get_ema_multi_avg_fn(decay)
        with pytest.raises(ValueError, match=r"^decay=.* is invalid"):
            averaging.get_ema_avg_fn(decay)
    with pytest.raises(ValueError, match=r"^multi_avg_fn=.* is invalid"):
        averaging.AveragedModel(model, avg_fn=averaging.get_swa_avg_fn(),
                                multi_avg_fn=averaging.get_swa_multi_avg_fn())
    with pytest.raises(ValueError, match=r"^model=.* is invalid"):
        averaging.AveragedModel(model).update_parameters(nn.Linear(4, 3).double())
    with pytest.raises(ValueError, match=r"^model=.* is invalid"):
        averaging.AveragedModel("not a model")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^loader=.* is invalid"):
        averaging.update_bn([{"x": torch.zeros(2, 4)}], model)


# --- SWALR: a library scheduler equal to torch.optim.swa_utils.SWALR -----------------------------------------

def two_group_optimizers():
    """Our-side and torch-side SGD optimizers with two groups of different learning rates."""
    def make():
        return torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": 0.4},
                                {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.1}], lr=0.4)
    return make(), make()


def step_both(pairs, steps):
    """Step each (optimizer, scheduler) pair ``steps`` times; return the lrs after each step."""
    trace = []
    for _ in range(steps):
        row = []
        for optimizer, scheduler in pairs:
            optimizer.step()
            scheduler.step()
            row.append([group["lr"] for group in optimizer.param_groups])
        trace.append(row)
    return trace


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 5])
@pytest.mark.parametrize("swa_lr", [0.05, [0.05, 0.2]], ids=["one", "per-group"])
def test_swalr_equals_torch(strategy, anneal_epochs, swa_lr):
    from optimlab.schedules import SWALR

    ours_opt, theirs_opt = two_group_optimizers()
    ours = SWALR(ours_opt, swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    theirs = swa_utils.SWALR(theirs_opt, swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    assert [g["lr"] for g in ours_opt.param_groups] == pytest.approx([g["lr"] for g in theirs_opt.param_groups])
    for ours_lrs, theirs_lrs in step_both([(ours_opt, ours), (theirs_opt, theirs)], 9):
        assert ours_lrs == pytest.approx(theirs_lrs, rel=1e-12, abs=1e-15)
    assert [g["swa_lr"] for g in ours_opt.param_groups] == [g["swa_lr"] for g in theirs_opt.param_groups]
    assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr_after_another_scheduler_anneals_from_the_current_lr_as_torch(strategy):
    """torch's documented pattern: both built at the start, the first stepped until swa_start, then SWALR."""
    from optimlab.schedules import SWALR, MultiplicativeLR

    ours_opt, theirs_opt = two_group_optimizers()
    ours_first = MultiplicativeLR(ours_opt, lr_lambda=lambda epoch: 0.9)
    theirs_first = torch.optim.lr_scheduler.MultiplicativeLR(theirs_opt, lr_lambda=lambda epoch: 0.9)
    ours_swa = SWALR(ours_opt, swa_lr=0.05, anneal_epochs=4, anneal_strategy=strategy)
    theirs_swa = swa_utils.SWALR(theirs_opt, swa_lr=0.05, anneal_epochs=4, anneal_strategy=strategy)
    before = step_both([(ours_opt, ours_first), (theirs_opt, theirs_first)], 6)
    after = step_both([(ours_opt, ours_swa), (theirs_opt, theirs_swa)], 7)
    for ours_lrs, theirs_lrs in before + after:
        assert ours_lrs == pytest.approx(theirs_lrs, rel=1e-12)
    assert after[-1][0] == pytest.approx([0.05, 0.05])


def test_swalr_state_dict_resume_equals_an_uninterrupted_run():
    from optimlab.schedules import SWALR

    straight_opt, resumed_opt = two_group_optimizers()
    straight = SWALR(straight_opt, swa_lr=[0.05, 0.2], anneal_epochs=6)
    first = SWALR(resumed_opt, swa_lr=[0.05, 0.2], anneal_epochs=6)
    step_both([(straight_opt, straight), (resumed_opt, first)], 3)
    saved_optimizer, saved_scheduler = copy.deepcopy(resumed_opt.state_dict()), copy.deepcopy(first.state_dict())
    _, fresh_opt = two_group_optimizers()
    fresh_opt.load_state_dict(saved_optimizer)
    second = SWALR(fresh_opt, swa_lr=[0.05, 0.2], anneal_epochs=6)
    second.load_state_dict(saved_scheduler)
    for straight_lrs, resumed_lrs in step_both([(straight_opt, straight), (fresh_opt, second)], 5):
        assert straight_lrs == pytest.approx(resumed_lrs, rel=1e-12)
    with pytest.raises(ValueError, match="anneal_epochs"):
        SWALR(two_group_optimizers()[0], swa_lr=[0.05, 0.2], anneal_epochs=5).load_state_dict(saved_scheduler)


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(swa_lr=-0.1), "swa_lr"), (dict(swa_lr=[0.1]), "swa_lr"), (dict(swa_lr=[0.1, -1.0]), r"swa_lr\[1\]"),
    (dict(swa_lr=0.1, anneal_epochs=-1), "anneal_epochs"), (dict(swa_lr=0.1, anneal_epochs=2.5), "anneal_epochs"),
    (dict(swa_lr=0.1, anneal_strategy="exp"), "anneal_strategy"),
])
def test_swalr_bad_arguments_raise_naming_them(kwargs, name):
    from optimlab.schedules import SWALR

    with pytest.raises(ValueError, match=rf"^{name}=.* is invalid"):
        SWALR(two_group_optimizers()[0], **kwargs)
