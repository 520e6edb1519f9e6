"""LARS and LAMB against literal transcriptions of the papers' pseudo-code, step by step, in float64.

- LARS: You, Gitman & Ginsburg, *Large Batch Training of Convolutional Networks*, 2017, Algorithm 1, with the
  local LR of equation (6) and the polynomial decay γₜ = γ₀(1 − t/T)² of the global LR.
- LAMB: You et al., *Large Batch Optimization for Deep Learning: Training BERT in 76 minutes*, ICLR 2020,
  Algorithm 2 (φ the identity).

Each transcription keeps the paper's variable names and loops over "layers" the way the paper writes it; the
library's optimizer gets the same gradients and must land on the same weights after every step.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from optimlab.optim import LAMB, LARS, lamb_update, lars_update, layer_adaptation_groups, make_optimizer, trust_ratios

T = 12  # steps
SHAPES = [(4, 3), (3,), (2, 4), (2,)]  # two "layers": weight matrices and their biases


def _weights(seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator, dtype=torch.float64) for shape in SHAPES]


def _gradients(seed: int = 1) -> list[list[torch.Tensor]]:
    """g_t for every step and layer: fixed random tensors (their size varies by layer on purpose)."""
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(shape, generator=generator, dtype=torch.float64) * 10 ** (i - 2) for i, shape in
             enumerate(SHAPES)] for _ in range(T)]


# --- the papers' pseudo-code, transcribed ---


def lars_algorithm_1(w0, grads, *, gamma_0, m, beta, eta, adapted):
    """LARS, Algorithm 1 (adapted[l] False: λˡ = 1 and β = 0 for that layer, the exclusion of biases)."""
    w = [x.clone() for x in w0]
    v = [torch.zeros_like(x) for x in w0]  # Init: t = 0, v = 0
    history = []
    for t in range(T):  # while t < T
        gamma_t = gamma_0 * (1 - t / T) ** 2  # γₜ ← γ₀ (1 − t/T)²  (the global LR)
        for l in range(len(w)):  # for each layer l
            g = grads[t][l]  # gₜˡ ← ∇L(wₜˡ)
            b = beta if adapted[l] else 0.0
            if adapted[l]:
                lam = eta * w[l].norm() / (g.norm() + b * w[l].norm())  # λˡ ← η ‖wₜˡ‖ / (‖gₜˡ‖ + β‖wₜˡ‖)
            else:
                lam = 1.0
            v[l] = m * v[l] + gamma_t * lam * (g + b * w[l])  # vₜ₊₁ˡ ← m vₜˡ + γₜ₊₁ λˡ (gₜˡ + β wₜˡ)
            w[l] = w[l] - v[l]  # wₜ₊₁ˡ ← wₜˡ − vₜ₊₁ˡ
        history.append([x.clone() for x in w])
    return history


def lamb_algorithm_2(x1, grads, *, eta, beta1, beta2, eps, lam, adapted):
    """LAMB, Algorithm 2 with φ(z) = z (adapted[i] False: no trust ratio and λ = 0 for that layer)."""
    x = [p.clone() for p in x1]
    m = [torch.zeros_like(p) for p in x1]  # Set m₀ = 0, v₀ = 0
    v = [torch.zeros_like(p) for p in x1]
    history = []
    for t in range(1, T + 1):  # for t = 1 to T
        for i in range(len(x)):
            g = grads[t - 1][i]  # gₜ = (1/|Sₜ|) Σ ∇ℓ(xₜ, sₜ)
            m[i] = beta1 * m[i] + (1 - beta1) * g  # mₜ = β₁ mₜ₋₁ + (1 − β₁) gₜ
            v[i] = beta2 * v[i] + (1 - beta2) * g * g  # vₜ = β₂ vₜ₋₁ + (1 − β₂) gₜ²
            m_hat = m[i] / (1 - beta1**t)  # mₜ = mₜ / (1 − β₁ᵗ)
            v_hat = v[i] / (1 - beta2**t)  # vₜ = vₜ / (1 − β₂ᵗ)
            r = m_hat / (v_hat.sqrt() + eps)  # rₜ = mₜ / (√vₜ + ε)
            decay = lam if adapted[i] else 0.0
            step = r + decay * x[i]
            scale = x[i].norm() / step.norm() if adapted[i] else 1.0  # φ(‖xₜ⁽ⁱ⁾‖) / ‖rₜ⁽ⁱ⁾ + λxₜ⁽ⁱ⁾‖
            x[i] = x[i] - eta * scale * step  # xₜ₊₁⁽ⁱ⁾ = xₜ⁽ⁱ⁾ − ηₜ φ(‖xₜ⁽ⁱ⁾‖)/‖rₜ⁽ⁱ⁾ + λxₜ⁽ⁱ⁾‖ (rₜ⁽ⁱ⁾ + λxₜ⁽ⁱ⁾)
        history.append([p.clone() for p in x])
    return history


# --- the library against them ---


def _groups(params, adapted, weight_decay, **options):
    return [{"params": [p for p, a in zip(params, adapted) if a], "weight_decay": weight_decay,
             "layer_adaptation": True, **options},
            {"params": [p for p, a in zip(params, adapted) if not a], "weight_decay": 0.0,
             "layer_adaptation": False, **options}]


def _drive(optimizer, params, grads, before_step=lambda t: None):
    history = []
    for t in range(T):
        before_step(t)
        for p, g in zip(params, grads[t]):
            p.grad = g.clone()
        optimizer.step()
        history.append([p.detach().clone() for p in params])
    return history


def _assert_trajectories_equal(ours, paper):
    for t, (a, b) in enumerate(zip(ours, paper)):
        for l, (x, y) in enumerate(zip(a, b)):
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-14,
                                       msg=lambda m, t=t, l=l: f"step {t}, layer {l}: {m}")


@pytest.mark.parametrize("m,beta,eta", [(0.9, 5e-4, 0.001), (0.0, 0.0, 0.02), (0.5, 0.01, 0.1)])
@pytest.mark.parametrize("adapted", [(True, True, True, True), (True, False, True, False)],
                         ids=["every-layer", "biases-excluded"])
def test_lars_follows_algorithm_1_step_by_step(m, beta, eta, adapted):
    gamma_0, grads = 2.0, _gradients()
    paper = lars_algorithm_1(_weights(), grads, gamma_0=gamma_0, m=m, beta=beta, eta=eta, adapted=adapted)
    params = [w.requires_grad_() for w in _weights()]
    optimizer = LARS(_groups(params, adapted, beta, trust_coefficient=eta), lr=gamma_0, momentum=m)

    def polynomial_decay(t):
        for group in optimizer.param_groups:
            group["lr"] = gamma_0 * (1 - t / T) ** 2

    _assert_trajectories_equal(_drive(optimizer, params, grads, polynomial_decay), paper)


@pytest.mark.parametrize("beta1,beta2,eps,lam",
                         [(0.9, 0.999, 1e-6, 0.01), (0.5, 0.9, 1e-3, 0.0), (0.0, 0.99, 1e-8, 0.1)])
@pytest.mark.parametrize("adapted", [(True, True, True, True), (True, False, True, False)],
                         ids=["every-layer", "biases-excluded"])
def test_lamb_follows_algorithm_2_step_by_step(beta1, beta2, eps, lam, adapted):
    eta, grads = 0.01, _gradients()
    paper = lamb_algorithm_2(_weights(), grads, eta=eta, beta1=beta1, beta2=beta2, eps=eps, lam=lam, adapted=adapted)
    params = [w.requires_grad_() for w in _weights()]
    optimizer = LAMB(_groups(params, adapted, lam), lr=eta, betas=(beta1, beta2), eps=eps)
    _assert_trajectories_equal(_drive(optimizer, params, grads), paper)


def test_every_adapted_layer_moves_by_the_same_fraction_of_its_norm_on_the_first_step():
    """The point of a trust ratio: ‖Δw‖ / ‖w‖ = γη on LARS's first step (β = 0, no momentum yet), whatever ‖g‖."""
    params = [w.requires_grad_() for w in _weights()]
    before = [p.detach().clone() for p in params]
    optimizer = LARS(params, lr=3.0, momentum=0.9, trust_coefficient=0.01)
    for p, g in zip(params, _gradients()[0]):
        p.grad = g.clone()
    optimizer.step()
    fractions = [((p.detach() - b).norm() / b.norm()).item() for p, b in zip(params, before)]
    assert fractions == pytest.approx([3.0 * 0.01] * len(params), rel=1e-12)
    gradient_norms = [g.norm().item() for g in _gradients()[0]]
    assert max(gradient_norms) / min(gradient_norms) > 100  # ... although the gradients differ 100-fold


def test_trust_ratios_are_kept_in_state_and_read_by_name():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)).double()
    optimizer = LAMB(layer_adaptation_groups(model, 0.01), lr=0.01)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model(torch.randn(5, 4, dtype=torch.float64)).sum().backward()
    optimizer.step()
    ratios = trust_ratios(optimizer, {p: n for n, p in model.named_parameters()})
    assert set(ratios) == {"0.weight", "1.weight"}  # biases are not adapted
    for name, param in model.named_parameters():
        if name in ratios:  # ‖x‖ / ‖r + λx‖ with r = m̂ / (√v̂ + ε), from the weights before the step
            state, x = optimizer.state[param], before[name]
            r = state["exp_avg"] / (1 - 0.9) / ((state["exp_avg_sq"] / (1 - 0.999)).sqrt() + 1e-6)
            assert ratios[name] == pytest.approx((x.norm() / (r + 0.01 * x).norm()).item(), rel=1e-12)
    assert list(trust_ratios(optimizer)) == ["0", "1"]  # without names: positions (the adapted group comes first)


def test_a_zero_layer_still_moves_the_trust_ratio_is_one_there():
    for cls, options in ((LARS, dict(lr=0.5, momentum=0.0)), (LAMB, dict(lr=0.5))):
        zero = torch.zeros(3, requires_grad=True)
        optimizer = cls([zero], **options)
        zero.grad = torch.tensor([1.0, -2.0, 0.5])
        optimizer.step()
        assert zero.detach().abs().sum() > 0, cls.__name__
        assert optimizer.state[zero]["trust_ratio"].item() == 1.0


def test_layer_adaptation_groups_split_matrices_from_biases_and_norms():
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    groups = layer_adaptation_groups(model, 0.01, lr=0.1)
    adapted, plain = groups
    assert [p.ndim for p in adapted["params"]] == [2, 2] and adapted["layer_adaptation"] is True
    assert adapted["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0 and plain["layer_adaptation"] is False
    assert len(plain["params"]) == 4 and all(g["lr"] == 0.1 for g in groups)  # 2 biases, LayerNorm's scale and shift
    with pytest.raises(ValueError, match=r"^weight_decay=-1 is invalid"):
        layer_adaptation_groups(model, -1)


def test_the_plain_functions_equal_the_classes():
    for update, cls, options in ((lars_update, LARS, dict(lr=0.7, momentum=0.9, weight_decay=0.01,
                                                          trust_coefficient=0.01)),
                                 (lamb_update, LAMB, dict(lr=0.01, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.01))):
        by_hand, by_class = _weights()[0], _weights()[0].requires_grad_()
        optimizer, state = cls([by_class], **options), {}
        for grads in _gradients()[:5]:
            update(by_hand, grads[0], state, **options)
            by_class.grad = grads[0].clone()
            optimizer.step()
        torch.testing.assert_close(by_hand, by_class.detach(), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["lars", "lamb"])
def test_a_state_dict_resumes_exactly(name):
    def run(steps, start=None):
        params = [w.requires_grad_() for w in _weights()]
        optimizer = make_optimizer(name, params, lr=0.05)
        if start is not None:
            for p, saved in zip(params, start[0]):
                p.data.copy_(saved)
            optimizer.load_state_dict(start[1])
        first = 0 if start is None else 4
        for t in range(first, first + steps):
            for p, g in zip(params, _gradients()[t]):
                p.grad = g.clone()
            optimizer.step()
        return [p.detach().clone() for p in params], optimizer.state_dict()

    halfway = run(4)
    resumed, uninterrupted = run(4, start=halfway)[0], run(8)[0]
    assert all(torch.equal(a, b) for a, b in zip(resumed, uninterrupted))


def _param():
    return [torch.zeros(2, requires_grad=True)]


@pytest.mark.parametrize("cls,kwargs,name,value", [
    (LARS, dict(lr=-0.1), "lr", -0.1),
    (LARS, dict(lr=math.nan), "lr", math.nan),
    (LARS, dict(momentum=1.0), "momentum", 1.0),
    (LARS, dict(momentum=-0.5), "momentum", -0.5),
    (LARS, dict(weight_decay=-1e-4), "weight_decay", -1e-4),
    (LARS, dict(trust_coefficient=0.0), "trust_coefficient", 0.0),
    (LARS, dict(trust_coefficient=-0.001), "trust_coefficient", -0.001),
    (LARS, dict(layer_adaptation="False"), "layer_adaptation", "False"),
    (LAMB, dict(lr=-1e-3), "lr", -1e-3),
    (LAMB, dict(betas=(1.0, 0.999)), "betas[0]", 1.0),
    (LAMB, dict(betas=(0.9, -0.1)), "betas[1]", -0.1),
    (LAMB, dict(eps=0.0), "eps", 0.0),
    (LAMB, dict(weight_decay=-0.01), "weight_decay", -0.01),
    (LAMB, dict(layer_adaptation=1), "layer_adaptation", 1),
])
def test_every_argument_is_validated(cls, kwargs, name, value):
    with pytest.raises(ValueError, match="^" + re.escape(f"{name}={value!r} is invalid: expected")):
        cls(_param(), **kwargs)


@pytest.mark.parametrize("cls", [LARS, LAMB])
def test_a_param_group_is_validated_too(cls):
    with pytest.raises(ValueError, match=r"layer_adaptation='no' is invalid.*param group 1"):
        cls([{"params": _param()}, {"params": _param(), "layer_adaptation": "no"}])
