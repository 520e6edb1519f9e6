"""The effective step read from an optimizer's state is exactly the factor its last update applied."""

from __future__ import annotations

import math

import pytest
import torch

from optimlab.effective_step import algorithm_of, effective_step, effective_steps, summarize_effective_steps
from optimlab.optim import OPTIMIZERS, Lookahead

STEPS = 12  # long enough for RAdam to leave its un-adapted first steps (ρₜ > 5 from t = 6 with β₂ = 0.999)

# (algorithm, hyperparameters); each runs with the course's class and with torch's namesake.
CASES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("adagrad", dict(lr=0.5)),
    ("adagrad", dict(lr=0.5, lr_decay=0.1, initial_accumulator_value=0.2)),
    ("rmsprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, centered=True, alpha=0.9)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.01, amsgrad=True, betas=(0.8, 0.9))),
    ("adamw", dict(lr=0.01, weight_decay=0.1)),
    ("nadam", dict(lr=0.01)),
    ("radam", dict(lr=0.01)),
    ("adamax", dict(lr=0.01)),
]
TORCH_CLASSES = {
    "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "nadam": torch.optim.NAdam,
    "radam": torch.optim.RAdam, "adamax": torch.optim.Adamax,
}


def _params():
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(3, 4, generator=generator, dtype=torch.float64).requires_grad_(),
            torch.randn(5, generator=generator, dtype=torch.float64).requires_grad_()]


def _gradients(step):
    """Gradients that change every step and differ in scale between the two tensors (0.01 vs 10)."""
    generator = torch.Generator().manual_seed(100 + step)
    return [0.01 * torch.randn(3, 4, generator=generator, dtype=torch.float64),
            10.0 * (1 + torch.rand(5, generator=generator, dtype=torch.float64))]


def _direction(algorithm, state, group, grad):
    """What the effective step multiplies (see the module's table)."""
    t = float(state.get("step", 0))
    if algorithm in ("adam", "adamw", "radam", "adamax"):
        return state["exp_avg"] / (1 - group["betas"][0] ** t)  # m̂ₜ
    if algorithm == "nadam":
        beta1, psi = group["betas"][0], group["momentum_decay"]
        mu, mu_next = (beta1 * (1 - 0.5 * 0.96 ** (s * psi)) for s in (t, t + 1))
        product = float(state["mu_product"])
        return (1 - mu) / (1 - product) * grad + mu_next / (1 - product * mu_next) * state["exp_avg"]
    if algorithm == "sgd" and group["momentum"]:
        return state["momentum_buffer"]
    return grad


def _run(make, algorithm, options):
    """Step ``STEPS`` times; after each step check update == −(decay) − effective step × direction."""
    params = _params()
    optimizer = make(params, **options)
    history = []
    for step in range(STEPS):
        before = [p.detach().clone() for p in params]
        for p, g in zip(params, _gradients(step)):
            p.grad = g
        optimizer.step()
        steps = effective_steps(optimizer)
        for p, old, grad in zip(params, before, _gradients(step)):
            group = optimizer.param_groups[0]
            decayed = old * (1 - group["lr"] * group["weight_decay"]) if algorithm == "adamw" else old
            expected = decayed - steps[p] * _direction(algorithm, optimizer.state[p], group, grad)
            torch.testing.assert_close(p.detach(), expected, rtol=1e-9, atol=1e-12)
        history.append([steps[p] for p in params])
    return history


@pytest.mark.parametrize("algorithm,options", CASES, ids=[f"{a}-{sorted(o)}" for a, o in CASES])
def test_update_is_effective_step_times_direction_for_torch(algorithm, options):
    _run(TORCH_CLASSES[algorithm], algorithm, options)


@pytest.mark.parametrize("algorithm,options", CASES, ids=[f"{a}-{sorted(o)}" for a, o in CASES])
def test_ours_give_the_same_effective_steps_as_torch(algorithm, options):
    ours = _run(OPTIMIZERS[algorithm], algorithm, options)
    theirs = _run(TORCH_CLASSES[algorithm], algorithm, options)
    for our_step, their_step in zip(ours, theirs):
        for a, b in zip(our_step, their_step):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=0)


def test_adaptive_steps_differ_between_tensors_with_different_gradient_scales():
    last = _run(torch.optim.Adam, "adam", dict(lr=0.01))[-1]
    assert last[0].median() > 100 * last[1].median()  # gradients 0.01 vs ~10: steps ~1000x apart


def test_adagrad_steps_only_shrink():
    history = _run(torch.optim.Adagrad, "adagrad", dict(lr=0.5))
    for earlier, later in zip(history, history[1:]):
        assert all((b <= a).all() for a, b in zip(earlier, later))


def test_radam_uses_plain_lr_until_the_variance_is_trustworthy():
    history = _run(torch.optim.RAdam, "radam", dict(lr=0.01))
    assert all((s == 0.01).all() for s in history[0])
    assert all((s != 0.01).all() for s in history[-1])


def test_without_bias_correction_adam_steps_are_larger_by_one_over_root_of_one_minus_beta2_power():
    params = _params()
    optimizer = torch.optim.Adam(params, lr=0.01, eps=0.0)
    for step in range(3):
        for p, g in zip(params, _gradients(step)):
            p.grad = g
        optimizer.step()
        corrected = effective_steps(optimizer)
        raw = effective_steps(optimizer, bias_correction=False)
        for p in params:
            torch.testing.assert_close(raw[p], corrected[p] / math.sqrt(1 - 0.999 ** (step + 1)))


def test_sgd_step_is_lr_for_every_coordinate():
    params = _params()
    optimizer = torch.optim.SGD(params, lr=0.3)
    for p, g in zip(params, _gradients(0)):
        p.grad = g
    optimizer.step()
    steps = effective_steps(optimizer)
    assert all(steps[p].shape == p.shape and (steps[p] == 0.3).all() for p in params)


def test_parameters_not_yet_updated_are_left_out():
    params = _params()
    optimizer = OPTIMIZERS["adagrad"](params, lr=0.1)  # state exists from construction, with step 0
    assert effective_steps(optimizer) == {}
    params[1].grad = torch.ones(5, dtype=torch.float64)
    optimizer.step()
    assert list(effective_steps(optimizer)) == [params[1]]


def test_lookahead_is_read_through_to_its_inner_optimizer():
    params = _params()
    inner = OPTIMIZERS["adam"](params, lr=0.01)
    optimizer = Lookahead(inner, k=2)
    for step in range(3):
        for p, g in zip(params, _gradients(step)):
            p.grad = g
        optimizer.step()
    wrapped, direct = effective_steps(optimizer), effective_steps(inner)
    assert all(torch.equal(wrapped[p], direct[p]) for p in params)


def test_summaries_are_per_named_tensor_statistics():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    optimizer = OPTIMIZERS["adam"](model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(0)
    X, y = torch.randn(32, 4, generator=generator), torch.randn(32, 1, generator=generator)
    torch.nn.functional.mse_loss(model(X), y).backward()
    optimizer.step()
    steps = effective_steps(optimizer)
    for statistic, reduce in [("median", torch.median), ("mean", torch.mean), ("min", torch.min), ("max", torch.max)]:
        summary = summarize_effective_steps(optimizer, model.named_parameters(), statistic=statistic)
        assert list(summary) == ["0.weight", "0.bias", "2.weight", "2.bias"]
        for name, param in model.named_parameters():
            assert summary[name] == pytest.approx(reduce(steps[param].flatten()).item())


def test_the_algorithm_comes_from_the_class_name_ours_or_torch():
    param = [torch.zeros(2, requires_grad=True)]
    assert algorithm_of(torch.optim.NAdam(param)) == algorithm_of(OPTIMIZERS["nadam"](param)) == "nadam"

    class MyAdam(torch.optim.Adam):
        pass

    assert algorithm_of(MyAdam(param)) == "adam"


@pytest.mark.parametrize("call,message", [
    (lambda: effective_steps(OPTIMIZERS["lion"]([torch.zeros(2, requires_grad=True)])), "optimizer='Lion'"),
    (lambda: effective_steps(torch.optim.Adadelta([torch.zeros(2, requires_grad=True)])), "optimizer='Adadelta'"),
    (lambda: effective_step("adamm", {}, {"lr": 0.1}), "algorithm='adamm'"),
    (lambda: effective_step("adam", {"step": torch.tensor(0.0)}, {"lr": 0.1}), r"state\['step'\]=0.0"),
    (lambda: effective_step("radam", {"step": 1, "exp_avg_sq": torch.ones(1)}, {"lr": 0.1, "betas": (0.9, 0.999),
                                                                               "eps": 1e-8}, bias_correction=False),
     "bias_correction=False"),
    (lambda: summarize_effective_steps(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), [],
                                       statistic="mode"), "statistic='mode'"),
])
def test_bad_arguments_raise_value_errors_naming_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()
