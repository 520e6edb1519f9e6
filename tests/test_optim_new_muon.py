"""Muon equals torch.optim.Muon step for step; its Newton–Schulz step orthogonalises; it takes 2-D parameters only.

Tolerance: torch's Newton–Schulz runs in bfloat16 (8 bits of mantissa, relative rounding ~4e-3). We run the same
operations in the same order (``addmm`` with the same β and α, the same transposition), so the results are
bitwise equal and the parity tolerance is float64's 1e-12 (float32's 1e-6). A looser tolerance would hide a
different arithmetic: ``test_a_float32_newton_schulz_would_fail_the_parity_tolerance`` shows that computing the same
polynomial in float32 moves the update by ~1e-3, far outside it.
"""

from __future__ import annotations

import pytest
import torch
from optim_harness import grid

from optimlab import optim as ours
from optimlab.optim.muon import NS_COEFFICIENTS, adjusted_lr, newton_schulz

SHAPES = [(4, 6), (6, 3), (3, 3)]  # wide, tall (Newton–Schulz transposes it), square


def make_params(dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator, dtype=dtype).requires_grad_() for shape in SHAPES]


def loss_at(params, step):
    """Non-quadratic; the third matrix counts only on even steps, so its .grad is None on odd ones."""
    w, v, z = params
    x = torch.linspace(-1, 1, 6, dtype=w.dtype)
    loss = torch.tanh(w @ x + 0.3).pow(2).sum() + (v - 0.5).pow(2).sum() + 0.1 * torch.sin(v @ v.T).sum()
    if step % 2 == 0:
        loss = loss + (z @ z.T).trace() + z.abs().sum()
    return loss


def run(cls, options, *, steps, dtype=torch.float64, params=None, optimizer=None, start=0):
    params = params if params is not None else make_params(dtype)
    if optimizer is None:
        second = {**options, "lr": options["lr"] * 0.37}
        optimizer = cls([{"params": params[:2], **options}, {"params": params[2:], **second}])
    for step in range(start, start + steps):
        optimizer.zero_grad(set_to_none=True)
        loss_at(params, step).backward()
        optimizer.step()
    return params, optimizer


def cases():
    options = grid(nesterov=[True, False], adjust_lr_fn=[None, "original", "match_rms_adamw"])
    options += [dict(momentum=0.0), dict(momentum=0.5, weight_decay=0.0), dict(ns_steps=2, eps=1e-3),
                dict(ns_coefficients=(2.0, -1.5, 0.5))]
    options += [dict(momentum=0.8, nesterov=False, weight_decay=0.3, ns_steps=7, adjust_lr_fn="match_rms_adamw")]
    return [dict(lr=0.02, **c) for c in options]


CASES = cases()


@pytest.mark.parametrize("options", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)], ids=["f64", "f32"])
def test_matches_torch_step_for_step(options, dtype, tol):
    our_params, our_opt = run(ours.Muon, options, steps=20, dtype=dtype)
    their_params, their_opt = run(torch.optim.Muon, options, steps=20, dtype=dtype)
    for a, b in zip(our_params, their_params, strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)
    our_state, their_state = our_opt.state_dict()["state"], their_opt.state_dict()["state"]
    assert our_state.keys() == their_state.keys() == {0, 1, 2}
    for index in our_state:
        assert our_state[index].keys() == their_state[index].keys() == {"momentum_buffer"}
        torch.testing.assert_close(our_state[index]["momentum_buffer"], their_state[index]["momentum_buffer"],
                                   atol=tol, rtol=tol)


def test_parameters_actually_move():
    before = [p.detach().clone() for p in make_params()]
    after = run(ours.Muon, CASES[0], steps=3)[0]
    assert all((a - b).abs().max() > 1e-3 for a, b in zip(after, before))


def test_a_float32_newton_schulz_would_fail_the_parity_tolerance():
    """Why the tolerance is meaningful: the same polynomial in float32 lands ~1e-3 away from torch's bfloat16 one."""
    matrix = torch.randn(6, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours_bf16 = newton_schulz(matrix).double()
    x = (matrix / matrix.norm()).float().T
    a, b, c = NS_COEFFICIENTS
    for _ in range(5):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    assert (ours_bf16 - x.T.double()).abs().max() > 1e-4


@pytest.mark.parametrize("shape", [(8, 32), (32, 8), (16, 16)])
def test_newton_schulz_sets_every_singular_value_near_one(shape):
    """Singular values spread over two orders of magnitude all land in ~[0.7, 1.15] after torch's 5 steps."""
    generator = torch.Generator().manual_seed(1)
    u, _ = torch.linalg.qr(torch.randn(shape[0], shape[0], generator=generator, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(shape[1], shape[1], generator=generator, dtype=torch.float64))
    k = min(shape)
    spread = torch.logspace(0, -2, k, dtype=torch.float64)  # singular values from 1 down to 1e-2
    matrix = u[:, :k] @ torch.diag(spread) @ v[:, :k].T
    singular = torch.linalg.svdvals(newton_schulz(matrix).double())
    assert singular.min() > 0.6 and singular.max() < 1.25, singular  # measured 0.68-1.14 on these shapes
    assert newton_schulz(matrix).dtype == torch.bfloat16 and newton_schulz(matrix).shape == shape


def test_adjusted_lr_matches_the_two_recipes():
    assert adjusted_lr(0.1, None, torch.Size([8, 2])) == pytest.approx(0.1 * 2.0)  # √max(1, 8/2)
    assert adjusted_lr(0.1, "original", torch.Size([2, 8])) == pytest.approx(0.1)  # √max(1, 1/4)
    assert adjusted_lr(0.1, "match_rms_adamw", torch.Size([4, 9])) == pytest.approx(0.1 * 0.2 * 3.0)


@pytest.mark.parametrize("direction", ["ours->ours", "ours->torch", "torch->ours"])
def test_resume_from_state_dict_equals_uninterrupted_run(direction):
    options = CASES[-1]
    save_cls, load_cls = {"ours->ours": (ours.Muon, ours.Muon), "ours->torch": (ours.Muon, torch.optim.Muon),
                          "torch->ours": (torch.optim.Muon, ours.Muon)}[direction]
    expected = run(ours.Muon, options, steps=12)[0]
    params, saved = run(save_cls, options, steps=5)
    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    resumed = load_cls([{"params": resumed_params[:2], **options}, {"params": resumed_params[2:], **options}])
    resumed.load_state_dict(saved.state_dict())
    run(None, options, steps=7, params=resumed_params, optimizer=resumed, start=5)
    for a, b in zip(resumed_params, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    # and it can fail: a fresh optimizer (no momentum buffer) continues differently
    fresh_params = [p.detach().clone().requires_grad_() for p in params]
    run(ours.Muon, options, steps=7, params=fresh_params, start=5)
    assert any(not torch.allclose(a, b, atol=1e-9) for a, b in zip(fresh_params, expected))


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), ()])
def test_refuses_a_parameter_that_is_not_a_matrix_as_torch_does(shape):
    param = torch.zeros(shape, requires_grad=True)
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        torch.optim.Muon([param])
    with pytest.raises(ValueError, match=r"^params: Muon only supports 2D parameters .*AdamW"):
        ours.Muon([param])
    optimizer = ours.Muon([torch.zeros(2, 2, requires_grad=True)])
    with pytest.raises(ValueError, match="only supports 2D parameters"):
        optimizer.add_param_group({"params": [param]})


def test_refuses_a_complex_parameter():
    with pytest.raises(ValueError, match=r"^params=.*complex.* is invalid: expected real parameters"):
        ours.Muon([torch.zeros(2, 2, dtype=torch.complex64, requires_grad=True)])


def test_converges_on_a_matrix_least_squares_problem():
    """min ‖W A − B‖² over a 6 × 4 W: Muon's orthogonalised steps with a decaying lr reach the solution.

    Measured over data seeds 0-4: 0.07%-0.3% of the starting distance left after 200 steps (asserted: < 1%).
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(4, 20, generator=generator, dtype=torch.float64)
    target = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    b = target @ a
    w = torch.zeros(6, 4, dtype=torch.float64, requires_grad=True)
    optimizer = ours.Muon([w], lr=0.2, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.98**step)
    start = (w - target).norm().item()
    for _ in range(200):
        optimizer.zero_grad()
        (w @ a - b).pow(2).sum().backward()
        optimizer.step()
        scheduler.step()
    assert (w - target).norm().item() < 0.01 * start
