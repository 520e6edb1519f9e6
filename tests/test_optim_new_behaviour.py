"""What ASGD, Rprop and Adafactor do, beyond equalling torch (their parity and state_dict cases are in
``tests/optim_harness.py``): ASGD's average, Rprop's bounded sign steps, Adafactor's factored second moment; and
complex parameters, which torch optimizes as real pairs (ASGD, Rprop, LBFGS) or refuses (Adafactor, Muon, SparseAdam).
"""

from __future__ import annotations

import pytest
import torch

from optimlab import optim as ours
from optimlab.optim.adafactor import adafactor_init, second_moment_estimate


def _quadratic_grads(param, steps, optimizer):
    """Take ``steps`` steps on ½‖θ − 1‖² with a per-step perturbation; return the iterates after each step."""
    iterates = []
    for step in range(steps):
        optimizer.zero_grad()
        noise = torch.sin(torch.arange(param.numel(), dtype=param.dtype) + step).reshape(param.shape)
        (0.5 * (param - 1).pow(2).sum() + (noise * param).sum()).backward()
        optimizer.step()
        iterates.append(param.detach().clone())
    return iterates


def test_asgd_ax_is_the_mean_of_the_iterates_once_averaging_starts():
    """With t0 = 3, steps 1-5 use μ = 1 (ā is the iterate; μₜ₊₁ = 1/max(1, t − t₀) is set after step t), then
    μ = 1/2, 1/3, ...: ā after step 12 is the mean of θ₅ … θ₁₂."""
    param = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = ours.ASGD([param], lr=0.1, t0=3.0)
    iterates = _quadratic_grads(param, 12, optimizer)
    average = optimizer.state[param]["ax"]
    torch.testing.assert_close(average, torch.stack(iterates[4:]).mean(dim=0), atol=1e-7, rtol=1e-7)  # float32 μ
    assert not torch.allclose(average, iterates[-1], atol=1e-3)  # and it is not simply the last iterate


def test_asgd_step_size_decays_as_lr_over_one_plus_lambd_lr_t_to_the_alpha():
    param = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    optimizer = ours.ASGD([param], lr=0.5, lambd=0.2, alpha=0.75)
    _quadratic_grads(param, 5, optimizer)
    expected = 0.5 / (1 + 0.2 * 0.5 * 5) ** 0.75
    assert optimizer.state[param]["eta"].item() == pytest.approx(expected, rel=1e-7)  # η is float32, as torch's


def test_rprop_moves_each_coordinate_by_its_step_size_within_the_bounds():
    param = torch.tensor([3.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    optimizer = ours.Rprop([param], lr=0.1, etas=(0.5, 1.2), step_sizes=(0.01, 0.3))
    previous = param.detach().clone()
    for _ in range(30):
        _quadratic_grads(param, 1, optimizer)
        step_size = optimizer.state[param]["step_size"]
        assert ((step_size >= 0.01) & (step_size <= 0.3)).all()
        moved = (param.detach() - previous).abs()
        assert torch.all((moved == 0) | torch.isclose(moved, step_size))  # a sign step of Δ, or none after a flip
        previous = param.detach().clone()
    assert (optimizer.state[param]["step_size"] < 0.3).any()  # oscillation near the optimum shrank some steps


def test_adafactor_keeps_row_and_column_statistics_for_matrices():
    state = adafactor_init(torch.zeros(5, 7))
    assert state["row_var"].shape == (5, 1) and state["col_var"].shape == (1, 7) and "variance" not in state
    state = adafactor_init(torch.zeros(2, 5, 7))  # leading dimensions are a batch of matrices
    assert state["row_var"].shape == (2, 5, 1) and state["col_var"].shape == (2, 1, 7)
    assert set(adafactor_init(torch.zeros(7))) == {"step", "variance"}


def test_adafactor_factored_estimate_is_exact_for_a_rank_one_squared_gradient():
    """If g² = a bᵀ (rank 1), the row and column means determine it: V̂ = R C / mean(R) equals g² exactly."""
    a = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    b = torch.tensor([3.0, 0.1, 1.0, 2.0], dtype=torch.float64)
    grad = torch.outer(a, b).sqrt()
    state = adafactor_init(grad)
    estimate = second_moment_estimate(grad, state, one_minus_beta2=1.0, eps1=1e-30)
    torch.testing.assert_close(estimate, grad**2)
    other = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)  # rank 2: the estimate is only an average
    assert not torch.allclose(second_moment_estimate(other, adafactor_init(other), one_minus_beta2=1.0,
                                                     eps1=1e-30), other**2)


def test_adafactor_state_is_much_smaller_than_adams():
    weight = torch.zeros(256, 128, requires_grad=True)
    weight.grad = torch.ones_like(weight)
    optimizer = ours.Adafactor([weight])
    optimizer.step()
    numbers = sum(t.numel() for t in optimizer.state[weight].values() if isinstance(t, torch.Tensor) and t.dim())
    assert numbers == 256 + 128  # Adam would keep 2 × 256 × 128


def _complex_run(cls, options, steps=12):
    generator = torch.Generator().manual_seed(0)
    param = torch.randn(3, 2, dtype=torch.complex128, generator=generator).requires_grad_()
    target = torch.randn(3, 2, dtype=torch.complex128, generator=generator)
    optimizer = cls([param], **options)

    def closure():
        optimizer.zero_grad()
        loss = (param - target).abs().pow(2).sum() + 0.1 * (param.real * param.imag).sum()
        loss.backward()
        return loss
    for _ in range(steps):
        optimizer.step(closure)
    return param, optimizer


@pytest.mark.parametrize("name,options", [
    ("ASGD", dict(lr=0.05, t0=3.0, weight_decay=0.1)),
    ("Rprop", dict(lr=0.05)),
    ("LBFGS", dict(line_search_fn="strong_wolfe", history_size=3, max_iter=4)),
    ("LBFGS", dict(lr=0.2, max_iter=3)),
])
def test_complex_parameters_are_optimized_as_real_pairs_as_torch_does(name, options):
    ours_param, ours_opt = _complex_run(getattr(ours, name), options)
    theirs_param, theirs_opt = _complex_run(getattr(torch.optim, name), options)
    torch.testing.assert_close(ours_param, theirs_param, atol=1e-12, rtol=1e-12)
    start = torch.randn(3, 2, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    assert (ours_param - start).abs().max() > 1e-2  # it moved
    for key, value in theirs_opt.state[theirs_param].items():
        if isinstance(value, torch.Tensor):
            assert ours_opt.state[ours_param][key].dtype == value.dtype, key  # complex state stays complex


@pytest.mark.parametrize("cls", [ours.Adafactor, ours.Muon, ours.SparseAdam])
def test_optimizers_torch_refuses_complex_parameters_for_refuse_them_clearly(cls):
    with pytest.raises(ValueError, match=r"^params=.*complex.* is invalid: expected real parameters"):
        cls([torch.zeros(2, 2, dtype=torch.complex64, requires_grad=True)])


def _tiny_gradient_run(cls, eps, dtype, scale):
    """Gradients so small that g² falls below ε₁²: the floor max(√V̂, ε₁) decides the update."""
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(4, 3, generator=generator, dtype=dtype).requires_grad_(),
              torch.randn(5, generator=generator, dtype=dtype).requires_grad_()]
    optimizer = cls(params, lr=0.05, eps=eps)
    for _ in range(6):
        optimizer.zero_grad()
        (scale * sum(torch.sin(p).sum() for p in params)).backward()
        optimizer.step()
    return params


@pytest.mark.parametrize("dtype,scale", [(torch.float64, 1e-18), (torch.float32, 1e-9)], ids=["f64", "f32"])
@pytest.mark.parametrize("eps", [(None, 1e-3), (1e-12, 1e-3)], ids=["machine-eps", "given"])
def test_adafactor_eps1_floor_matches_torch_when_gradients_are_tiny(eps, dtype, scale):
    ours_params = _tiny_gradient_run(ours.Adafactor, eps, dtype, scale)
    theirs_params = _tiny_gradient_run(torch.optim.Adafactor, eps, dtype, scale)
    for a, b in zip(ours_params, theirs_params, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12 if dtype == torch.float64 else 1e-6, rtol=1e-6)
    # the floor is active here: a negligible ε₁ would give different (sign-like, full-size) steps
    unfloored = _tiny_gradient_run(ours.Adafactor, (1e-300 if dtype == torch.float64 else 1e-38, 1e-3), dtype, scale)
    assert any((a - b).abs().max() > 1e-4 for a, b in zip(ours_params, unfloored))


def test_rprop_plain_function_gives_both_parts_of_a_complex_number_the_initial_step():
    """Called directly (without the class, which passes real views), rprop_update sees the complex tensor itself."""
    from optimlab.optim.rprop import rprop_update

    param = torch.tensor([1.0 + 2.0j, -1.0 - 1.0j], dtype=torch.complex128)
    state: dict = {}
    rprop_update(param, torch.tensor([1.0 + 1.0j, -1.0 + 1.0j], dtype=torch.complex128), state, lr=0.1)
    assert torch.equal(state["step_size"], torch.full((2,), 0.1 + 0.1j, dtype=torch.complex128))
    assert torch.allclose(param, torch.tensor([0.9 + 1.9j, -0.9 - 1.1j], dtype=torch.complex128))


def _tensor_lr_pair(name):
    """(our final params, torch's) after a short run with a 0-dim tensor lr, on each optimizer's own problem."""
    import test_optim_new_lbfgs as lbfgs_tests
    import test_optim_new_muon as muon_tests
    import test_optim_new_sparse_adam as sparse_tests
    from optim_harness import run

    ours_cls, torch_cls = getattr(ours, name), getattr(torch.optim, name)
    lr = {"lr": torch.tensor(0.05)}
    if name == "Muon":
        return muon_tests.run(ours_cls, lr, steps=6)[0], muon_tests.run(torch_cls, lr, steps=6)[0]
    if name == "SparseAdam":
        return sparse_tests.run(ours_cls, lr, steps=6)[0], sparse_tests.run(torch_cls, lr, steps=6)[0]
    if name == "LBFGS":
        options = dict(lr=torch.tensor(0.5), line_search_fn="strong_wolfe")
        return (lbfgs_tests.run(ours_cls, "rosenbrock", options)[0],
                lbfgs_tests.run(torch_cls, "rosenbrock", options)[0])
    second = {"lr": torch.tensor(0.02)}
    return (run(lambda g: ours_cls(g), lr, second, steps=8, dtype=torch.float32)[0],
            run(lambda g: torch_cls(g), lr, second, steps=8, dtype=torch.float32)[0])


@pytest.mark.parametrize("name", ["ASGD", "Rprop", "Adafactor", "Muon", "SparseAdam", "LBFGS"])
def test_a_tensor_lr_gives_torchs_result(name):
    """torch keeps a tensor lr a tensor (float32 arithmetic where it meets other numbers); so do we."""
    for a, b in zip(*_tensor_lr_pair(name), strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
