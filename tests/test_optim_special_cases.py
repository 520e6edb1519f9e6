"""Settings under which two algorithms must coincide."""

from __future__ import annotations

import torch

from optim_harness import assert_same_params, run
from optimlab.optim import SGD, Adam, AdamW, sgd_update, adam_update


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
