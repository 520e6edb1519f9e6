"""GradScaler with every library optimizer (a skipped step touches nothing), gradient accumulation, and the
clipping helpers against torch's (optimlab.gradients)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from optimlab.gradients import accumulate_gradients, clip_grad_norm_per_group_, grad_norm
from optimlab.optim import OPTIMIZERS

# LBFGS re-evaluates the loss inside step(closure); GradScaler.step refuses a closure, as for torch's LBFGS.
SCALABLE = sorted(name for name in OPTIMIZERS if name != "lbfgs")
OPTIONS = {"muon": dict(lr=0.02), "lars": dict(lr=0.1), "sparse_adam": dict(lr=0.01)}


def scaled_backward(scaler: torch.amp.GradScaler, param: torch.Tensor, sparse: bool, poison: bool) -> None:
    if sparse:  # an embedding's gradient: rows 0 and 2, scaled as backward of a scaled loss would leave them
        scaler.scale(torch.ones(()))
        weight = torch.sparse_coo_tensor(torch.tensor([[0, 2]]), torch.ones(2, 3), param.shape)
        param.grad = (weight * scaler.get_scale()).coalesce()
        if poison:
            param.grad = torch.sparse_coo_tensor(torch.tensor([[1]]), torch.full((1, 3), float("inf")), param.shape)
        return
    loss = (param * torch.arange(12.0).reshape(4, 3)).sin().sum()
    scaler.scale(loss).backward()
    if poison:
        param.grad[0, 0] = float("inf")


@pytest.mark.parametrize("name", SCALABLE)
def test_a_step_skipped_by_gradscaler_leaves_parameters_and_state_untouched(name):
    param = nn.Parameter(torch.linspace(-1, 1, 12).reshape(4, 3))
    optimizer = OPTIMIZERS[name]([param], **OPTIONS.get(name, {}))
    if hasattr(optimizer, "train"):
        optimizer.train()  # schedule-free optimizers step in training mode
    scaler = torch.amp.GradScaler("cpu", init_scale=256.0)
    sparse = name == "sparse_adam"
    for poison in (False, False):  # two ordinary steps: the state exists
        optimizer.zero_grad()
        scaled_backward(scaler, param, sparse, poison)
        scaler.step(optimizer)
        scaler.update()
    weights, state = param.detach().clone(), copy.deepcopy(optimizer.state_dict())
    assert not torch.equal(weights, torch.linspace(-1, 1, 12).reshape(4, 3))  # the ordinary steps did step
    optimizer.zero_grad()
    scaled_backward(scaler, param, sparse, poison=True)
    scale = scaler.get_scale()
    scaler.step(optimizer)
    scaler.update()
    assert torch.equal(param.detach(), weights)
    after = optimizer.state_dict()
    for key, saved in state["state"].items():
        for entry, value in saved.items():
            now = after["state"][key][entry]
            assert torch.equal(torch.as_tensor(now), torch.as_tensor(value)), (name, entry)
    assert scaler.get_scale() == scale / 2  # the scale backs off


@pytest.mark.parametrize("micro_batches", [2, 4, 8])
def test_accumulated_micro_batches_equal_one_large_batch(micro_batches):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1)).double()
    x, y = torch.randn(16, 5, dtype=torch.float64), torch.randn(16, 1, dtype=torch.float64)
    nn.functional.mse_loss(model(x), y).backward()
    whole = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    loss = accumulate_gradients(model, nn.functional.mse_loss, x, y, micro_batches)
    for a, b in zip(whole, (p.grad for p in model.parameters()), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(loss, nn.functional.mse_loss(model(x), y).detach())


def test_accumulation_through_batchnorm_differs_from_the_large_batch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.Linear(7, 1)).double()
    x, y = torch.randn(16, 5, dtype=torch.float64), torch.randn(16, 1, dtype=torch.float64)
    accumulate_gradients(model, nn.functional.mse_loss, x, y, 1)
    whole = model[0].weight.grad.clone()
    model.zero_grad()
    accumulate_gradients(model, nn.functional.mse_loss, x, y, 4)
    assert (whole - model[0].weight.grad).abs().max() > 1e-3


@pytest.mark.parametrize("micro_batches", [0, 3, 17, 2.0])
def test_a_bad_number_of_micro_batches_is_refused(micro_batches):
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match=rf"^micro_batches={micro_batches} is invalid: expected"):
        accumulate_gradients(model, nn.functional.mse_loss, torch.zeros(16, 2), torch.zeros(16, 1), micro_batches)


def grads(seed: int, scale: float) -> list[nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    params = [nn.Parameter(torch.zeros(n)) for n in (3, 4, 5)]
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator) * scale
    params.append(nn.Parameter(torch.zeros(2)))  # no gradient: skipped, as torch skips it
    return params


@pytest.mark.parametrize("seed,scale", [(0, 1.0), (1, 100.0), (2, 1e-4)])
def test_grad_norm_is_the_norm_torch_clips_by(seed, scale):
    ours = grad_norm(grads(seed, scale))
    theirs = nn.utils.clip_grad_norm_(grads(seed, scale), max_norm=1e9)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=0)


def test_clipping_per_group_equals_torchs_clip_applied_to_each_group():
    ours, theirs = grads(0, 10.0), grads(0, 10.0)
    optimizer = torch.optim.SGD([{"params": ours[:2]}, {"params": ours[2:]}], lr=0.1)
    norms = clip_grad_norm_per_group_(optimizer, 1.5)
    expected = [nn.utils.clip_grad_norm_(theirs[:2], 1.5), nn.utils.clip_grad_norm_(theirs[2:], 1.5)]
    torch.testing.assert_close(torch.stack(norms), torch.stack(expected))
    for a, b in zip(ours, theirs, strict=True):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad)
    assert all(float(grad_norm(group["params"])) <= 1.5 * (1 + 1e-6) for group in optimizer.param_groups)
    with pytest.raises(ValueError, match=r"^max_norm=0 is invalid"):
        clip_grad_norm_per_group_(optimizer, 0)
