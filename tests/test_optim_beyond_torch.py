"""Lion and Lookahead, which torch.optim lacks, checked against literal transcriptions of their papers' pseudo-code.

The transcriptions below use neither ``lion_update`` nor the ``Lookahead`` class; they follow the papers line by
line (the paper's line in the comment), so a mistake in the library cannot be copied into its reference.
"""

from __future__ import annotations

import copy
import io
import itertools
import warnings

import pytest
import torch
from optim_harness import assert_same_params, groups_for, make_params, run

from optimlab import optim as ours

# --- a small problem with a non-linear gradient ---------------------------------------------------------------


def gradient_of_f(theta: torch.Tensor) -> torch.Tensor:
    """∇f for f(θ) = Σ θ²/2 + sin(3θ)/3 + θ/2: not quadratic, so the gradient depends on where θ is."""
    return theta + torch.cos(3 * theta) + 0.5


def theta_0() -> torch.Tensor:
    return torch.tensor([1.5, -0.7, 0.2, -2.0, 0.9], dtype=torch.float64)


def run_class(optimizer_factory, steps: int) -> torch.Tensor:
    """Run one of our optimizers on f for ``steps`` steps from θ₀; return the parameters."""
    theta = theta_0().requires_grad_()
    optimizer = optimizer_factory([theta])
    for _ in range(steps):
        theta.grad = gradient_of_f(theta.detach())
        optimizer.step()
    return theta.detach()


# --- Lion: Chen et al. (2023), "Symbolic Discovery of Optimization Algorithms", Algorithm 2 --------------------


def lion_algorithm_2(theta0, gradient, *, eta, beta1, beta2, lam, steps):
    """Algorithm 2 (Lion), transcribed."""
    theta = theta0.clone()  # initialize θ₀
    m = torch.zeros_like(theta)  # initialize m₀ ← 0
    for _t in range(steps):  # while θₜ not converged do   (t ← t + 1)
        g = gradient(theta)  # gₜ ← ∇θ f(θₜ₋₁)
        c = beta1 * m + (1 - beta1) * g  # update model parameters: cₜ ← β₁ mₜ₋₁ + (1 − β₁) gₜ
        theta = theta - eta * (torch.sign(c) + lam * theta)  # θₜ ← θₜ₋₁ − ηₜ (sign(cₜ) + λ θₜ₋₁)
        m = beta2 * m + (1 - beta2) * g  # update EMA of gₜ: mₜ ← β₂ mₜ₋₁ + (1 − β₂) gₜ
    return theta  # return θₜ


@pytest.mark.parametrize(
    "options",
    [dict(lr=0.01), dict(lr=0.02, betas=(0.95, 0.98), weight_decay=0.5), dict(lr=0.05, betas=(0.0, 0.9))],
    ids=["defaults", "decay", "beta1=0"],
)
def test_lion_matches_the_papers_algorithm_2(options):
    beta1, beta2 = options.get("betas", (0.9, 0.99))
    expected = lion_algorithm_2(
        theta_0(), gradient_of_f, eta=options["lr"], beta1=beta1, beta2=beta2, lam=options.get("weight_decay", 0.0),
        steps=40,
    )
    torch.testing.assert_close(run_class(lambda p: ours.Lion(p, **options), 40), expected, atol=1e-12, rtol=0)


def test_lion_moves_every_coordinate_by_exactly_lr():
    # The point of the sign: the step's size ignores the gradient's scale (no weight decay here).
    theta = theta_0()
    state = {}
    for scale in [1e-6, 1.0, 1e6]:
        before = theta.clone()
        ours.lion_update(theta, scale * gradient_of_f(theta), state, lr=0.01)
        torch.testing.assert_close((theta - before).abs(), torch.full_like(theta, 0.01), atol=1e-15, rtol=0)


def test_lion_maximize_ascends_what_minimize_descends():
    # Maximizing −f takes the same steps as minimizing f.
    minimized = run_class(lambda p: ours.Lion(p, lr=0.01, weight_decay=0.1), 20)
    theta = theta_0().requires_grad_()
    optimizer = ours.Lion([theta], lr=0.01, weight_decay=0.1, maximize=True)
    for _ in range(20):
        theta.grad = -gradient_of_f(theta.detach())
        optimizer.step()
    torch.testing.assert_close(theta.detach(), minimized, atol=1e-12, rtol=0)


def test_lion_keeps_only_exp_avg():
    _, optimizer = run(lambda g: ours.Lion(g, lr=0.01), {}, {}, steps=2)
    assert all(set(state) == {"exp_avg"} for state in optimizer.state.values())


def _resume(factory, options, *, before=7, after=11, through_bytes=True):
    """``before`` steps, checkpoint (through torch.save/torch.load), a fresh optimizer over cloned params loads
    it, ``after`` more steps; returns the resumed params."""
    params, saved = run(factory, options, options, steps=before)
    checkpoint = saved.state_dict()
    if through_bytes:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        buffer.seek(0)
        checkpoint = torch.load(buffer, weights_only=True)
    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    resumed = factory(groups_for(resumed_params, options, options))
    resumed.load_state_dict(checkpoint)
    run(None, options, options, steps=after, params=resumed_params, optimizer=resumed, start=before)
    return resumed_params


def test_lion_resumes_exactly_from_a_checkpoint():
    factory, options = (lambda g: ours.Lion(g)), dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.95))
    expected = run(factory, options, options, steps=18)[0]
    assert_same_params(_resume(factory, options), expected, 1e-12)


# --- Lookahead: Zhang, Lucas, Hinton & Ba (2019), "Lookahead Optimizer: k steps forward, 1 step back" ----------


def lookahead_algorithm_1(phi0, gradient, inner_step, *, k, alpha, steps):
    """Algorithm 1, transcribed; returns the model's (fast) weights after ``steps`` calls of the inner optimizer
    A. ``inner_step(theta, d)`` is A(L, θ, d), the change the inner optimizer makes (it may keep state)."""
    phi = phi0.clone()  # Require: initial parameters φ₀
    done = 0
    for _t in itertools.count(1):  # for t = 1, 2, ... do
        theta = phi.clone()  # Synchronize parameters θₜ,₀ ← φₜ₋₁
        for _i in range(1, k + 1):  # for i = 1, 2, ..., k do
            if done == steps:
                return theta
            d = gradient(theta)  # sample minibatch of data d ∼ D  (here: the full gradient)
            theta = theta + inner_step(theta, d)  # θₜ,ᵢ ← θₜ,ᵢ₋₁ + A(L, θₜ,ᵢ₋₁, d)
            done += 1
        phi = phi + alpha * (theta - phi)  # Perform outer update φₜ ← φₜ₋₁ + α (θₜ,ₖ − φₜ₋₁)


def heavy_ball(lr, momentum):
    """A = SGD with momentum as torch computes it: b₁ = g₁, bₜ = μ bₜ₋₁ + gₜ, change −γ bₜ. Its buffer is
    kept across synchronisations."""
    buffer = None

    def step(theta, g):
        nonlocal buffer
        buffer = g.clone() if buffer is None else momentum * buffer + g
        return -lr * buffer

    return step


def adam(lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """A = Adam (Kingma & Ba, 2015, Algorithm 1, with ε added after the bias correction, as torch does)."""
    m, v, t = 0.0, 0.0, 0

    def step(theta, g):
        nonlocal m, v, t
        t += 1
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        return -lr * m_hat / (torch.sqrt(v_hat) + eps)

    return step


@pytest.mark.parametrize("steps", [4, 5, 23, 25])  # before, at, between and at a synchronisation
@pytest.mark.parametrize("k,alpha", [(5, 0.5), (3, 0.8), (1, 0.3)])
def test_lookahead_around_torch_sgd_matches_the_papers_algorithm_1(k, alpha, steps):
    expected = lookahead_algorithm_1(theta_0(), gradient_of_f, heavy_ball(0.05, 0.9), k=k, alpha=alpha, steps=steps)
    actual = run_class(lambda p: ours.Lookahead(torch.optim.SGD(p, lr=0.05, momentum=0.9), k=k, alpha=alpha), steps)
    torch.testing.assert_close(actual, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("steps", [5, 23])
def test_lookahead_around_our_adam_matches_the_papers_algorithm_1(steps):
    expected = lookahead_algorithm_1(theta_0(), gradient_of_f, adam(0.05), k=5, alpha=0.5, steps=steps)
    actual = run_class(lambda p: ours.Lookahead(ours.Adam(p, lr=0.05), k=5, alpha=0.5), steps)
    torch.testing.assert_close(actual, expected, atol=1e-12, rtol=0)


def test_lookahead_changes_the_trajectory():
    """Guards the transcription tests against a vacuous pass: Lookahead is not its inner optimizer."""
    inner = run_class(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), 23)
    wrapped = run_class(lambda p: ours.Lookahead(torch.optim.SGD(p, lr=0.05, momentum=0.9)), 23)
    assert not torch.allclose(inner, wrapped, atol=1e-6)


def test_lookahead_with_alpha_one_is_the_inner_optimizer():
    inner = run_class(lambda p: ours.Adam(p, lr=0.05), 23)
    wrapped = run_class(lambda p: ours.Lookahead(ours.Adam(p, lr=0.05), k=5, alpha=1.0), 23)
    torch.testing.assert_close(wrapped, inner, atol=1e-12, rtol=0)


def test_lookahead_shares_param_groups_so_step_lr_drives_the_inner_lr():
    theta = theta_0().requires_grad_()
    inner = torch.optim.SGD([theta], lr=0.1, momentum=0.9)
    lookahead = ours.Lookahead(inner, k=5, alpha=0.5)
    assert lookahead.param_groups is inner.param_groups
    scheduler = torch.optim.lr_scheduler.StepLR(lookahead, step_size=3, gamma=0.5)
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "lr_scheduler.step() before optimizer.step()" would fail here
        for _ in range(9):
            seen.append(inner.param_groups[0]["lr"])
            theta.grad = gradient_of_f(theta.detach())
            lookahead.step()
            scheduler.step()
    assert seen == [0.1] * 3 + [0.05] * 3 + [0.025] * 3


def test_lookahead_with_a_schedule_matches_algorithm_1_with_the_same_schedule():
    rates = iter([0.1] * 3 + [0.05] * 3 + [0.025] * 3 + [0.0125])
    buffer = None

    def scheduled_heavy_ball(theta, g):
        nonlocal buffer
        buffer = g.clone() if buffer is None else 0.9 * buffer + g
        return -next(rates) * buffer

    expected = lookahead_algorithm_1(theta_0(), gradient_of_f, scheduled_heavy_ball, k=4, alpha=0.5, steps=10)
    theta = theta_0().requires_grad_()
    lookahead = ours.Lookahead(torch.optim.SGD([theta], lr=0.1, momentum=0.9), k=4, alpha=0.5)
    scheduler = torch.optim.lr_scheduler.StepLR(lookahead, step_size=3, gamma=0.5)
    for _ in range(10):
        theta.grad = gradient_of_f(theta.detach())
        lookahead.step()
        scheduler.step()
    torch.testing.assert_close(theta.detach(), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "make_inner",
    [lambda g: torch.optim.SGD(g, momentum=0.9), lambda g: ours.Adam(g), lambda g: ours.Lion(g)],
    ids=["torch-sgd", "our-adam", "our-lion"],
)
def test_lookahead_resumes_exactly_from_a_checkpoint(make_inner):
    # 7 steps with k = 5 stops mid-window: the slow weights and the counter must both come back.
    factory, options = (lambda g: ours.Lookahead(make_inner(g), k=5, alpha=0.5)), dict(lr=0.02)
    expected = run(factory, options, options, steps=18)[0]
    assert_same_params(_resume(factory, options), expected, 1e-12)


def test_lookahead_resume_needs_the_slow_weights():
    """The resume test can fail: restoring only the inner optimizer changes the trajectory."""
    factory, options = (lambda g: ours.Lookahead(torch.optim.SGD(g, momentum=0.9), k=5)), dict(lr=0.02)
    params, saved = run(factory, options, options, steps=7)
    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    resumed = factory(groups_for(resumed_params, options, options))
    resumed.optimizer.load_state_dict(saved.state_dict()["inner"])
    run(None, options, options, steps=11, params=resumed_params, optimizer=resumed, start=7)
    expected = run(factory, options, options, steps=18)[0]
    assert any(not torch.allclose(a, b, atol=1e-9) for a, b in zip(resumed_params, expected))


def test_lookahead_load_state_dict_restores_settings_and_keeps_sharing_groups():
    _, saved = run(lambda g: ours.Lookahead(ours.Adam(g), k=3, alpha=0.7), dict(lr=0.01), dict(lr=0.01), steps=4)
    fresh = ours.Lookahead(ours.Adam(groups_for(make_params(), {}, {})), k=5, alpha=0.5)
    fresh.load_state_dict(saved.state_dict())
    assert (fresh.k, fresh.alpha, fresh.fast_steps) == (3, 0.7, 4)
    assert fresh.param_groups is fresh.optimizer.param_groups


def test_lookahead_zero_grad_and_add_param_group_reach_the_inner_optimizer():
    first, second = make_params()[:2], make_params(seed=1)[:1]
    inner = torch.optim.SGD(first, lr=0.1)
    lookahead = ours.Lookahead(inner)
    for p in first:
        p.grad = torch.ones_like(p)
    lookahead.zero_grad(set_to_none=False)
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in first)
    lookahead.zero_grad()
    assert all(p.grad is None for p in first)
    lookahead.add_param_group({"params": second, "lr": 0.5})
    assert inner.param_groups[-1]["params"] == second and inner.param_groups[-1]["lr"] == 0.5


def test_lookahead_step_returns_the_closures_loss():
    theta = theta_0().requires_grad_()
    lookahead = ours.Lookahead(ours.SGD([theta], lr=0.1))

    def closure():
        lookahead.zero_grad()
        loss = (theta**2).sum()
        loss.backward()
        return loss

    assert lookahead.step(closure).item() == pytest.approx((theta_0() ** 2).sum().item())


def test_lookahead_survives_deepcopy():
    params, lookahead = run(lambda g: ours.Lookahead(ours.Adam(g), k=3), dict(lr=0.01), dict(lr=0.01), steps=4)
    twin = copy.deepcopy(lookahead)
    assert twin.param_groups is twin.optimizer.param_groups
    assert (twin.k, twin.alpha, twin.fast_steps) == (3, 0.5, 4)
    assert "Lookahead(k=3, alpha=0.5" in repr(twin)
