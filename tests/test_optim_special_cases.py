"""Settings under which two algorithms must coincide."""

from __future__ import annotations

import math

import pytest
import torch
from optim_harness import NEEDS_OWN_HARNESS, assert_same_params, assert_same_state, groups_for, make_params, run

from optimlab.optim import (
    OPTIMIZERS,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Lion,
    NAdam,
    RAdam,
    RMSprop,
    adadelta_update,
    adagrad_update,
    adam_update,
    adamax_update,
    lion_update,
    nadam_update,
    radam_update,
    rmsprop_update,
    sgd_update,
)
from optimlab.optim.nadam import momentum_schedule
from optimlab.optim.radam import sma_length


def _same(factory_a, factory_b, options_a, options_b, steps=20):
    a = run(factory_a, options_a, options_a, steps=steps)[0]
    b = run(factory_b, options_b, options_b, steps=steps)[0]
    assert_same_params(a, b, 1e-12)


def test_momentum_zero_is_plain_sgd():
    _same(lambda g: SGD(g), lambda g: SGD(g), dict(lr=0.1, momentum=0.0, dampening=0.5), dict(lr=0.1))


def test_full_dampening_with_momentum_keeps_first_gradient_then_freezes_buffer():
    # dampening=1: b_t = μ b_{t-1}, so after the first step the buffer only decays.
    x = torch.tensor([1.0], dtype=torch.float64)
    state = {}
    sgd_update(x, torch.tensor([2.0], dtype=torch.float64), state, lr=0.1, momentum=0.5, dampening=1.0)
    sgd_update(x, torch.tensor([100.0], dtype=torch.float64), state, lr=0.1, momentum=0.5, dampening=1.0)
    assert state["momentum_buffer"].item() == 1.0
    assert x.item() == 1.0 - 0.1 * 2.0 - 0.1 * 1.0


def test_adamw_without_weight_decay_is_adam():
    _same(lambda g: AdamW(g), lambda g: Adam(g), dict(lr=0.01, weight_decay=0.0), dict(lr=0.01))


def test_adam_with_decoupled_weight_decay_is_adamw():
    _same(lambda g: Adam(g), lambda g: AdamW(g),
          dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), dict(lr=0.01, weight_decay=0.1))


def test_adam_l2_and_adamw_differ_when_decay_is_on():
    a = run(lambda g: Adam(g), dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, weight_decay=0.1), steps=10)[0]
    b = run(lambda g: AdamW(g), dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, weight_decay=0.1), steps=10)[0]
    assert not torch.allclose(a[0], b[0], atol=1e-9)


def test_adam_first_step_moves_each_coordinate_by_lr():
    # Bias correction makes the first step γ·sign(g) (up to ε): the textbook sanity check.
    x = torch.tensor([3.0, -2.0, 0.5], dtype=torch.float64)
    adam_update(x, torch.tensor([10.0, -0.001, 4.0], dtype=torch.float64), {}, lr=0.1, eps=0.0)
    torch.testing.assert_close(x, torch.tensor([2.9, -1.9, 0.4], dtype=torch.float64), atol=1e-12, rtol=0)


def test_plain_function_equals_the_class():
    x_fn = torch.tensor([1.0, -2.0], dtype=torch.float64)
    x_cls = x_fn.clone().requires_grad_()
    optimizer, state = Adam([x_cls], lr=0.05, amsgrad=True), {}
    for _ in range(10):
        adam_update(x_fn, 2 * x_fn, state, lr=0.05, amsgrad=True)
        optimizer.zero_grad()
        (x_cls**2).sum().backward()
        optimizer.step()
    torch.testing.assert_close(x_fn, x_cls.detach(), atol=1e-12, rtol=0)


# --- more algorithms -------------------------------------------------------------------------------------


def _tensor(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_adagrad_state_exists_before_the_first_step_like_torch():
    ours_params, torch_params = make_params(), make_params()
    ours = Adagrad(ours_params, initial_accumulator_value=0.3)
    theirs = torch.optim.Adagrad(torch_params, initial_accumulator_value=0.3)
    assert len(ours.state_dict()["state"]) == len(ours_params)
    assert_same_state(ours, theirs, 0.0)


def test_adagrad_takes_the_accumulator_start_from_the_constructor_like_torch():
    # torch ignores a per-group initial_accumulator_value; so do we, and the runs still agree.
    first, second = dict(lr=0.05), dict(lr=0.05, initial_accumulator_value=5.0)
    params = make_params()
    fresh = Adagrad(groups_for(params, first, second), initial_accumulator_value=0.5)
    assert all(torch.all(fresh.state[p]["sum"] == 0.5) for p in params)
    ours = run(lambda g: Adagrad(g, initial_accumulator_value=0.5), first, second, steps=10)
    theirs = run(lambda g: torch.optim.Adagrad(g, initial_accumulator_value=0.5), first, second, steps=10)
    assert_same_params(ours[0], theirs[0], 1e-12)


@pytest.mark.parametrize("lr_decay", [0.0, 0.3])
def test_adagrad_under_a_constant_gradient_steps_by_decayed_lr_over_root_t(lr_decay):
    # Constant g, G₀ = 0, ε = 0: Gₜ = t g², so step t moves by γ / (1 + (t − 1)η) / √t against sign(g).
    x, g, state = _tensor(1.0, -1.0), _tensor(2.0, -0.5), {}
    for _ in range(10):
        adagrad_update(x, g, state, lr=0.1, lr_decay=lr_decay, eps=0.0)
    travelled = sum(0.1 / (1 + (t - 1) * lr_decay) / math.sqrt(t) for t in range(1, 11))
    torch.testing.assert_close(x, _tensor(1.0 - travelled, -1.0 + travelled), atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "options,keys",
    [
        (dict(), {"step", "square_avg"}),
        (dict(momentum=0.9), {"step", "square_avg", "momentum_buffer"}),
        (dict(centered=True), {"step", "square_avg", "grad_avg"}),
        (dict(momentum=0.9, centered=True), {"step", "square_avg", "momentum_buffer", "grad_avg"}),
    ],
)
def test_rmsprop_keeps_only_the_buffers_its_options_need(options, keys):
    _, optimizer = run(lambda g: RMSprop(g), dict(lr=0.01, **options), dict(lr=0.01, **options), steps=2)
    assert all(set(state) == keys for state in optimizer.state.values())


def test_rmsprop_with_alpha_zero_is_sign_descent():
    # α = 0: vₜ = gₜ², so every step is γ gₜ / (|gₜ| + ε) ≈ γ sign(gₜ).
    x = _tensor(1.0, -2.0, 0.5)
    state = {}
    for step in range(5):
        g = _tensor(3.0, -0.01, 50.0) * (step + 1)
        before = x.clone()
        rmsprop_update(x, g, state, lr=0.1, alpha=0.0, eps=1e-12)
        torch.testing.assert_close(before - x, 0.1 * g.sign(), atol=1e-9, rtol=0)


def test_adadelta_with_rho_one_is_sgd():
    # ρ = 1: both averages stay 0, so Δ = √ε / √ε · g = g.
    _same(lambda g: Adadelta(g), lambda g: SGD(g), dict(lr=0.1, rho=1.0), dict(lr=0.1))


def test_adadelta_is_zeilers_algorithm_1():
    """Zeiler (2012), Algorithm 1, transcribed literally: torch's lr=1.0 is the paper's method."""
    rho, eps = 0.95, 1e-6
    x = _tensor(1.5, -0.7, 0.2)
    Eg2, Edx2 = torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    ours, state = x.clone(), {}
    for _ in range(30):
        g = torch.sin(3 * x) + x  # compute gradient g_t
        Eg2 = rho * Eg2 + (1 - rho) * g**2  # accumulate gradient: E[g²]_t = ρ E[g²]_{t-1} + (1-ρ) g_t²
        dx = -torch.sqrt(Edx2 + eps) / torch.sqrt(Eg2 + eps) * g  # compute update: Δx_t = -RMS[Δx]_{t-1}/RMS[g]_t g_t
        Edx2 = rho * Edx2 + (1 - rho) * dx**2  # accumulate updates: E[Δx²]_t = ρ E[Δx²]_{t-1} + (1-ρ) Δx_t²
        x = x + dx  # apply update: x_{t+1} = x_t + Δx_t
        adadelta_update(ours, torch.sin(3 * ours) + ours, state, rho=rho, eps=eps)
    torch.testing.assert_close(ours, x, atol=1e-12, rtol=0)


def test_nadam_with_beta1_zero_is_adam_with_beta1_zero():
    # β₁ = 0 makes every μₜ = 0: only the current gradient's term is left, γ gₜ / (√v̂ₜ + ε).
    options = dict(lr=0.01, betas=(0.0, 0.99), weight_decay=0.05)
    _same(lambda g: NAdam(g), lambda g: Adam(g), options, options)


def test_nadam_first_step_uses_mu_1_and_mu_2():
    # t = 1: θ₁ = θ₀ − γ [g + μ₂ (1 − β₁) g / (1 − μ₁μ₂)] / |g|   (ε = 0, m₁ = (1 − β₁) g, v̂₁ = g²).
    beta1, psi = 0.9, 0.004
    mu1, mu2 = (beta1 * (1 - 0.5 * 0.96 ** (t * psi)) for t in (1, 2))
    x, g = _tensor(1.0, 2.0), _tensor(4.0, -0.5)
    nadam_update(x, g, {}, lr=0.1, betas=(beta1, 0.999), eps=0.0, momentum_decay=psi)
    step = 0.1 * (1 + mu2 * (1 - beta1) / (1 - mu1 * mu2))
    # ∏μ is stored in float32, as torch does: hence the tolerance.
    torch.testing.assert_close(x, _tensor(1.0 - step, 2.0 + step), atol=1e-7, rtol=0)


def test_nadam_momentum_schedule_warms_up_and_momentum_decay_zero_is_not_adam():
    assert momentum_schedule(0, 0.9, 0.004) == 0.45
    assert momentum_schedule(1e6, 0.9, 0.004) == pytest.approx(0.9)
    assert momentum_schedule(1000, 0.9, 0.0) == 0.45  # ψ = 0: a constant μ = β₁/2, which Adam has no analogue of
    nadam = run(lambda g: NAdam(g), dict(lr=0.01, momentum_decay=0.0), dict(lr=0.01, momentum_decay=0.0), steps=10)
    adam = run(lambda g: Adam(g), dict(lr=0.01), dict(lr=0.01), steps=10)
    assert not torch.allclose(nadam[0][0], adam[0][0], atol=1e-6)


def test_radam_takes_five_bias_corrected_momentum_steps_before_adapting():
    assert sma_length(1, 0.999)[0] == pytest.approx(1.0)  # ρ₁ = 1 for every β₂
    assert sma_length(5, 0.999)[0] < 5 < sma_length(6, 0.999)[0]
    x, hand, m, state = _tensor(1.5, -0.7), _tensor(1.5, -0.7), torch.zeros(2, dtype=torch.float64), {}
    for t in range(1, 7):
        radam_update(x, torch.sin(3 * x) + x, state, lr=0.05)
        m = 0.9 * m + 0.1 * (torch.sin(3 * hand) + hand)
        hand = hand - 0.05 * m / (1 - 0.9**t)  # θₜ = θₜ₋₁ − γ m̂ₜ
        if t <= 5:
            torch.testing.assert_close(x, hand, atol=1e-12, rtol=0)
    assert not torch.allclose(x, hand, atol=1e-6)  # step 6 is adapted


def test_adamax_first_step_moves_each_coordinate_by_lr():
    # ε = 0: m₁ = (1 − β₁) g, u₁ = |g|, so θ₁ = θ₀ − γ/(1 − β₁) · (1 − β₁) g / |g| = θ₀ − γ sign(g).
    x = _tensor(3.0, -2.0, 0.5)
    adamax_update(x, _tensor(10.0, -0.001, 4.0), {}, lr=0.1, eps=0.0)
    torch.testing.assert_close(x, _tensor(2.9, -1.9, 0.4), atol=1e-12, rtol=0)


def test_adamax_infinity_norm_decays_by_beta2_without_new_gradients():
    state = {}
    adamax_update(_tensor(0.0), _tensor(-8.0), state, lr=0.1, betas=(0.9, 0.5), eps=0.0)
    adamax_update(_tensor(0.0), _tensor(1.0), state, lr=0.1, betas=(0.9, 0.5), eps=0.0)
    assert state["exp_inf"].item() == 4.0  # max(0.5 · 8, |1|)


@pytest.mark.parametrize(
    "cls,update,options",
    [
        (Adagrad, adagrad_update, dict(lr=0.05, lr_decay=0.1, weight_decay=0.01)),
        (RMSprop, rmsprop_update, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.01)),
        (Adadelta, adadelta_update, dict(lr=0.5, rho=0.8, weight_decay=0.01)),
        (NAdam, nadam_update, dict(lr=0.05, weight_decay=0.01, decoupled_weight_decay=True)),
        (RAdam, radam_update, dict(lr=0.05, weight_decay=0.01)),
        (Adamax, adamax_update, dict(lr=0.05, weight_decay=0.01)),
        (Lion, lion_update, dict(lr=0.01, weight_decay=0.1)),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_plain_update_function_equals_the_class(cls, update, options):
    x_fn = _tensor(1.0, -2.0)
    x_cls = x_fn.clone().requires_grad_()
    optimizer, state = cls([x_cls], **options), {}
    for _ in range(10):
        update(x_fn, torch.sin(3 * x_fn) + x_fn, state, **options)
        optimizer.zero_grad()
        (-torch.cos(3 * x_cls) / 3 + x_cls**2 / 2).sum().backward()
        optimizer.step()
    torch.testing.assert_close(x_fn, x_cls.detach(), atol=1e-12, rtol=0)


# Rprop clamps its per-weight step sizes to step_sizes[0] = 1e-6 (as torch's does), so lr = 0 still moves it.
@pytest.mark.parametrize("name", sorted(set(OPTIMIZERS) - set(NEEDS_OWN_HARNESS) - {"rprop"}))
def test_a_zero_learning_rate_leaves_the_parameters_unchanged_and_finite(name):
    """A warmup from 0 (warmup_cosine, LinearLR(start_factor=0)) gives lr = 0 at the first step: nothing moves,
    also where a gradient is exactly 0 (a pixel that is blank in every digit), so no 0/0 may appear."""
    torch.manual_seed(0)
    param = torch.nn.Parameter(torch.randn(3, 4, dtype=torch.float64))
    start = param.detach().clone()
    optimizer = OPTIMIZERS[name]([param], lr=0.0)
    for _ in range(3):
        param.grad = torch.randn_like(param)
        param.grad[0] = 0.0  # a weight that never gets a gradient
        optimizer.step()
    assert torch.isfinite(param).all(), f"{name} made a parameter non-finite at lr=0"
    torch.testing.assert_close(param.detach(), start, rtol=0, atol=0)
