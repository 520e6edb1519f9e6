"""Call patterns torch users type, beyond the values: complex parameters, sparse gradients, tensor learning
rates, torch's implementation keywords, per-group hyperparameters and foreign or old checkpoints."""

from __future__ import annotations

import re

import pytest
import torch
from optim_harness import assert_same_params, make_params, run

from optimlab import optim as ours
from optimlab.param_groups import backbone_head_groups, decay_groups, layerwise_groups

# name -> options exercising the branches that matter for each (moments, amsgrad, centering, decay ...)
TORCH_TWINS = {
    "SGD": dict(lr=0.05, momentum=0.9, weight_decay=0.1, nesterov=True),
    "Adam": dict(lr=0.01, amsgrad=True, weight_decay=0.1),
    "AdamW": dict(lr=0.01, weight_decay=0.1),
    "Adagrad": dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.3, weight_decay=0.1),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1),
    "Adadelta": dict(lr=0.5, weight_decay=0.1),
    "Adamax": dict(lr=0.01, weight_decay=0.1),
    "NAdam": dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    "RAdam": dict(lr=0.01, weight_decay=0.1),  # 10 steps: both of RAdam's branches run
}


def _complex_run(cls, options, dtype, steps=10):
    generator = torch.Generator().manual_seed(0)
    param = torch.randn(4, 3, dtype=dtype, generator=generator).requires_grad_()
    optimizer = cls([param], **options)
    for _ in range(steps):
        optimizer.zero_grad()
        # not holomorphic: real and imaginary parts get different gradients
        (torch.sin(param.real) * param.imag + param.abs() ** 2).sum().backward()
        optimizer.step()
    return param.detach(), optimizer


# --- complex parameters: torch optimizes them as (real, imaginary) pairs ------------------------------------


@pytest.mark.parametrize("name", list(TORCH_TWINS))
@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-12), (torch.complex64, 1e-5)], ids=["c128", "c64"])
def test_complex_parameters_match_torch(name, dtype, tol):
    ours_param, ours_opt = _complex_run(getattr(ours, name), TORCH_TWINS[name], dtype)
    torch_param, torch_opt = _complex_run(getattr(torch.optim, name), TORCH_TWINS[name], dtype)
    torch.testing.assert_close(ours_param, torch_param, atol=tol, rtol=tol)
    ours_state, torch_state = ours_opt.state_dict()["state"][0], torch_opt.state_dict()["state"][0]
    assert ours_state.keys() == torch_state.keys()
    for key, value in ours_state.items():  # complex state, stored as torch stores it
        assert value.dtype == torch_state[key].dtype, key
        torch.testing.assert_close(value, torch_state[key], atol=tol, rtol=tol)


def test_lion_on_complex_parameters_is_lion_on_their_real_and_imaginary_parts():
    options = dict(lr=0.01, weight_decay=0.1)
    complex_param, _ = _complex_run(ours.Lion, options, torch.complex128)
    generator = torch.Generator().manual_seed(0)
    real = torch.view_as_real(torch.randn(4, 3, dtype=torch.complex128, generator=generator)).clone().requires_grad_()
    optimizer = ours.Lion([real], **options)
    for _ in range(10):
        optimizer.zero_grad()
        x, y = real[..., 0], real[..., 1]
        (torch.sin(x) * y + x**2 + y**2).sum().backward()
        optimizer.step()
    torch.testing.assert_close(torch.view_as_real(complex_param), real.detach(), atol=1e-12, rtol=0)


def test_complex_checkpoint_resumes_exactly():
    options = TORCH_TWINS["Adam"]
    expected, _ = _complex_run(ours.Adam, options, torch.complex128, steps=8)
    param, optimizer = _complex_run(ours.Adam, options, torch.complex128, steps=5)
    param = param.clone().requires_grad_()
    resumed = torch.optim.Adam([param], **options)  # torch continues our complex checkpoint
    resumed.load_state_dict(optimizer.state_dict())
    for _ in range(3):
        resumed.zero_grad()
        (torch.sin(param.real) * param.imag + param.abs() ** 2).sum().backward()
        resumed.step()
    torch.testing.assert_close(param.detach(), expected, atol=1e-12, rtol=0)


# --- sparse gradients: SGD and Adagrad take them, as torch's do ----------------------------------------------


def _embedding_run(cls, options, steps=6):
    generator = torch.Generator().manual_seed(0)
    embedding = torch.nn.Embedding(7, 3, sparse=True).double()
    with torch.no_grad():
        embedding.weight.copy_(torch.randn(7, 3, generator=generator, dtype=torch.float64))
    optimizer = cls(embedding.parameters(), **options)
    for step in range(steps):
        optimizer.zero_grad()
        rows = torch.tensor([1, 2, 1, step % 7])  # a repeated index: the gradient is not coalesced
        (torch.sin(embedding(rows)) + embedding(rows) ** 2).sum().backward()
        assert embedding.weight.grad.is_sparse
        optimizer.step()
    return embedding.weight.detach(), optimizer


SPARSE_CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.2)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.2, maximize=True)),
]


@pytest.mark.parametrize("name,options", SPARSE_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SPARSE_CASES)])
def test_sparse_gradients_match_torch(name, options):
    ours_weight, ours_opt = _embedding_run(getattr(ours, name), options)
    torch_weight, torch_opt = _embedding_run(getattr(torch.optim, name), options)
    torch.testing.assert_close(ours_weight, torch_weight, atol=1e-12, rtol=1e-12)
    for key, value in ours_opt.state_dict()["state"].get(0, {}).items():
        other = torch_opt.state_dict()["state"][0][key]
        torch.testing.assert_close(value.to_dense() if value.is_sparse else value,
                                   other.to_dense() if other.is_sparse else other, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "Adagrad"])
def test_sparse_gradients_with_weight_decay_are_refused_clearly(name):
    with pytest.raises(ValueError, match=r"^weight_decay=0.1 is invalid: expected 0 with sparse gradients"):
        _embedding_run(getattr(ours, name), dict(lr=0.1, weight_decay=0.1))


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adadelta", "Adamax", "NAdam", "RAdam", "Lion"])
def test_optimizers_torch_refuses_sparse_gradients_for_refuse_them_too(name):
    with pytest.raises(RuntimeError, match=f"{name} does not support sparse gradients"):
        _embedding_run(getattr(ours, name), dict(lr=0.01))


# --- tensor learning rates -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TORCH_TWINS))
@pytest.mark.parametrize("lr_dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)], ids=["f64-lr", "f32-lr"])
def test_a_tensor_lr_is_kept_and_steps_like_torch(name, lr_dtype, tol):
    # A float32 lr tensor makes torch compute γ / (1 − β₁ᵗ) in float32; ours computes it in float64, so the
    # two agree to float32's precision there, and to float64's with a float64 lr tensor.
    options = dict(TORCH_TWINS[name])
    lr = options.pop("lr")
    first, second = dict(options, lr=torch.tensor(lr, dtype=lr_dtype)), dict(options, lr=torch.tensor([lr / 3]))
    second["lr"] = second["lr"].to(lr_dtype)
    ours_params, ours_opt = run(getattr(ours, name), first, second, steps=12)
    torch_params, _ = run(getattr(torch.optim, name), first, second, steps=12)
    assert_same_params(ours_params, torch_params, tol)
    assert all(isinstance(g["lr"], torch.Tensor) and g["lr"].ndim == 0 for g in ours_opt.param_groups)


def test_a_tensor_lr_changed_in_place_is_read_at_the_next_step():
    """What a compiled step relies on: the group holds the very tensor, and a scheduler may write into it."""
    lr = torch.tensor(0.1, dtype=torch.float64)
    param = torch.ones(2, dtype=torch.float64, requires_grad=True)
    optimizer = ours.SGD([param], lr=lr)
    param.grad = torch.ones(2, dtype=torch.float64)
    optimizer.step()
    lr.fill_(0.5)
    optimizer.step()
    torch.testing.assert_close(param.detach(), torch.full((2,), 1 - 0.1 - 0.5, dtype=torch.float64))


def test_the_update_reads_no_python_number_from_a_tensor(monkeypatch):
    """No Python ``.item()`` (a host sync, and a graph break for torch.compile) in any update. (SGD hands a tensor
    lr to ``add_(alpha=...)``, as torch's SGD does, to keep torch's arithmetic bit for bit.)"""
    def refuse(self):
        raise AssertionError("item() called in an update")
    for name, options in TORCH_TWINS.items():
        params = make_params()
        optimizer = getattr(ours, name)([{"params": params, **options}])
        with monkeypatch.context() as patch:
            patch.setattr(torch.Tensor, "item", refuse)
            for step in range(8):
                optimizer.zero_grad()
                sum(p.pow(2).sum() * (step + 1) for p in params).backward()
                optimizer.step()


@pytest.mark.parametrize("lr", [torch.tensor(-0.1), torch.tensor([0.1, 0.2]), torch.tensor(float("nan"))])
def test_a_bad_tensor_lr_is_refused(lr):
    with pytest.raises(ValueError, match=r"^lr=tensor\(.*is invalid: expected"):
        ours.Adam(make_params(), lr=lr)


# --- torch's implementation keywords -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(n for n in TORCH_TWINS) + ["Lion"])
def test_torchs_default_implementation_keywords_are_accepted(name):
    getattr(ours, name)(make_params(), foreach=None, fused=None, capturable=False, differentiable=False)
    getattr(ours, name)(make_params(), foreach=False, fused=False)


@pytest.mark.parametrize("keyword,says", [("foreach", "one tensor at a time"),  # fused=True: test_optim_compiled.py
                                          ("capturable", "CUDA graph"), ("differentiable", "no_grad")])
def test_other_implementation_keywords_are_refused_saying_what_we_do_instead(keyword, says):
    with pytest.raises(ValueError, match=rf"^{keyword}=True is invalid: expected .*{says}"):
        ours.Adam(make_params(), **{keyword: True})


def test_a_misspelt_keyword_is_still_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'momentun'"):
        ours.SGD(make_params(), momentun=0.9)


# --- booleans and per-group hyperparameters ------------------------------------------------------------------


@pytest.mark.parametrize("cls,keyword", [(ours.SGD, "maximize"), (ours.Adam, "amsgrad"), (ours.RMSprop, "centered"),
                                         (ours.NAdam, "decoupled_weight_decay"), (ours.Lion, "maximize")])
@pytest.mark.parametrize("value", ["False", 0, 1, None])
def test_boolean_options_accept_only_bools(cls, keyword, value):
    with pytest.raises(ValueError, match=rf"^{keyword}={re.escape(repr(value))} is invalid: expected True or False"):
        cls(make_params(), **{keyword: value})


def test_nesterov_given_as_a_string_is_refused():
    with pytest.raises(ValueError, match=r"^nesterov='False' is invalid: expected True or False"):
        ours.SGD(make_params(), momentum=0.9, nesterov="False")


@pytest.mark.parametrize("group,name", [
    (dict(lr=-1.0), "lr"), (dict(momentum=-0.5), "momentum"), (dict(maximize="False"), "maximize"),
    (dict(nesterov=True), "nesterov"),  # the constructor's momentum=0 applies to the group
])
def test_constructor_param_groups_are_checked_like_the_constructor(group, name):
    with pytest.raises(ValueError, match=rf"^{name}=.* is invalid: expected .*\(in param group 1\)$"):
        ours.SGD([{"params": make_params()[:1]}, {"params": make_params()[1:2], **group}], lr=0.1)


@pytest.mark.parametrize("cls,group,name", [
    (ours.SGD, dict(lr=-5), "lr"), (ours.Adam, dict(betas=(0.9, 1.5)), r"betas\[1\]"),
    (ours.RMSprop, dict(alpha=2.0), "alpha"), (ours.Adadelta, dict(rho=-1.0), "rho"),
    (ours.Adagrad, dict(lr_decay=-1.0), "lr_decay"), (ours.NAdam, dict(momentum_decay=-1.0), "momentum_decay"),
    (ours.RAdam, dict(eps=-1.0), "eps"), (ours.Adamax, dict(weight_decay=-1.0), "weight_decay"),
    (ours.Lion, dict(lr=float("inf")), "lr"),
])
def test_add_param_group_is_checked_like_the_constructor(cls, group, name):
    params = make_params()
    optimizer = cls(params[:2])
    with pytest.raises(ValueError, match=rf"^{name}=.* is invalid: expected .*\(in param group 1\)$"):
        optimizer.add_param_group({"params": params[2:], **group})
    assert len(optimizer.param_groups) == 1  # the refused group was not added


def test_lookahead_add_param_group_goes_through_the_inner_optimizers_checks():
    params = make_params()
    optimizer = ours.Lookahead(ours.SGD(params[:2], lr=0.1))
    with pytest.raises(ValueError, match=r"^lr=-5 is invalid"):
        optimizer.add_param_group({"params": params[2:], "lr": -5})
    optimizer.add_param_group({"params": params[2:], "lr": 0.5})
    assert optimizer.param_groups is optimizer.optimizer.param_groups and len(optimizer.param_groups) == 2


@pytest.mark.parametrize("build", [
    lambda net: decay_groups(net, 0.1, lr=-1.0),
    lambda net: layerwise_groups(list(net), 1e-3, 1e-1, lr=-1.0),
    lambda net: layerwise_groups(list(net), 1e-3, 1e-1, momentum=-0.9),
    lambda net: decay_groups(net, 0.1, nesterov="yes"),
])
def test_param_group_helpers_check_the_hyperparameters_they_write(build):
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"^(lr|momentum|nesterov)=.* is invalid: expected"):
        build(net)


def test_backbone_head_groups_check_the_hyperparameters_they_write():
    net = torch.nn.Module()
    net.features, net.classifier = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)
    with pytest.raises(ValueError, match=r"^weight_decay=-1.0 is invalid"):
        backbone_head_groups(net, 1e-3, 1e-2, weight_decay=-1.0)


# --- checkpoints: another algorithm's refused, torch's own (old and new) accepted ---------------------------


def _trained(cls, steps=3, **options):
    return run(cls, dict(lr=0.01, **options), dict(lr=0.02, **options), steps=steps)


@pytest.mark.parametrize("source,target", [
    (torch.optim.Adam, ours.SGD), (ours.Adam, ours.SGD), (ours.SGD, ours.Adam), (ours.Adam, ours.NAdam),
    (ours.RAdam, ours.Adamax), (ours.Adamax, ours.RAdam), (ours.Adam, ours.Lion), (torch.optim.RMSprop, ours.Adadelta),
])
def test_another_algorithms_state_dict_is_refused_naming_both(source, target):
    checkpoint = _trained(source)[1].state_dict()
    optimizer = target(make_params())
    optimizer.add_param_group({"params": [torch.zeros(1, requires_grad=True)]})
    before = [dict(g) for g in optimizer.param_groups]
    with pytest.raises(ValueError, match=rf"expected a {target.__name__} state_dict.*{source.__name__}"):
        optimizer.load_state_dict(checkpoint)
    assert [dict(g) for g in optimizer.param_groups] == before  # nothing was loaded


def test_adamw_refuses_an_adam_checkpoint_that_would_switch_decoupled_decay_off():
    checkpoint = _trained(ours.Adam, weight_decay=0.1)[1].state_dict()
    optimizer = ours.AdamW(make_params())
    optimizer.add_param_group({"params": [torch.zeros(1, requires_grad=True)]})
    with pytest.raises(ValueError, match=r"^decoupled_weight_decay=False is invalid: expected True in AdamW"):
        optimizer.load_state_dict(checkpoint)
    with pytest.raises(ValueError, match=r"^decoupled_weight_decay=False is invalid"):
        ours.AdamW([{"params": make_params(), "decoupled_weight_decay": False}])


def test_a_state_dict_with_bad_values_is_refused():
    checkpoint = _trained(ours.SGD, momentum=0.9)[1].state_dict()
    checkpoint["param_groups"][1]["lr"] = -1.0
    optimizer = ours.SGD(make_params())
    optimizer.add_param_group({"params": [torch.zeros(1, requires_grad=True)]})
    with pytest.raises(ValueError, match=r"^lr=-1.0 is invalid: .*param group 1 of the state_dict"):
        optimizer.load_state_dict(checkpoint)


def _as_old_torch(checkpoint):
    """What torch < 1.12 saved: ``step`` as a Python int, and no maximize/foreach/... keys in the groups."""
    for state in checkpoint["state"].values():
        if "step" in state:
            state["step"] = int(state["step"])
    for group in checkpoint["param_groups"]:
        for key in ("maximize", "foreach", "capturable", "differentiable", "fused", "decoupled_weight_decay"):
            group.pop(key, None)
    return checkpoint


@pytest.mark.parametrize("name", ["Adam", "Adagrad", "RMSprop", "NAdam", "RAdam", "Adamax", "Adadelta", "SGD"])
def test_an_old_torch_checkpoint_loads_and_continues_identically(name):
    options = dict(TORCH_TWINS[name], lr=0.01)
    expected = run(getattr(ours, name), options, options, steps=9)[0]
    params, saved = run(getattr(torch.optim, name), options, options, steps=4)
    checkpoint = _as_old_torch(saved.state_dict())
    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    resumed = getattr(ours, name)([{"params": resumed_params[:2]}, {"params": resumed_params[2:]}], **options)
    resumed.load_state_dict(checkpoint)
    run(None, options, options, steps=5, params=resumed_params, optimizer=resumed, start=4)
    assert_same_params(resumed_params, expected, 1e-12)


@pytest.mark.parametrize("change,name", [(dict(alpha=-3), "alpha"), (dict(k=0), "k"), (dict(k=2.5), "k"),
                                         (dict(fast_steps=-1), "fast_steps")])
def test_lookahead_checks_a_loaded_state_like_its_constructor(change, name):
    params = make_params()
    optimizer = ours.Lookahead(ours.SGD(params, lr=0.1), k=3, alpha=0.5)
    checkpoint = {**optimizer.state_dict(), **change}
    with pytest.raises(ValueError, match=rf"^{name}=.* is invalid"):
        ours.Lookahead(ours.SGD(make_params(), lr=0.1)).load_state_dict(checkpoint)
