"""compiled=True (and fused=True): the same update under torch.compile equals the uncompiled step and torch's,
compiles once per optimizer class, keeps torch's state_dict, and fails clearly when torch.compile cannot work.

Compiling is slow on a loaded 2-core machine (seconds per class): each class is compiled once per session (the
runs are cached per class), Adam and SGD run by default, the other classes under the ``slow`` marker.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import torch

import optimlab.optim as ours
from optimlab.optim import compiled as compiled_module

slow = pytest.mark.slow
# name -> options (one that exercises a non-default branch where it is cheap)
CASES: dict[str, dict[str, Any]] = {
    "SGD": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "Adam": dict(lr=0.01, weight_decay=0.1),
    "AdamW": dict(lr=0.01, amsgrad=True),
    "Adagrad": dict(lr=0.1, lr_decay=0.01),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True),
    "Adadelta": dict(lr=0.5),
    "Adamax": dict(lr=0.01),
    "NAdam": dict(lr=0.01),
    "RAdam": dict(lr=0.01),
    "Lion": dict(lr=0.001, weight_decay=0.1),
}
FAST = ("Adam",)  # one compile by default (~30 s cold here); the rest under -m slow
NAMES = [name if name in FAST else pytest.param(name, marks=slow) for name in CASES]
# small tensors (updated as one flat batch) and one above BATCH_NUMEL (updated on its own)
SHAPES = [(3, 4), (5,), (compiled_module.BATCH_NUMEL + 7,), (2, 2)]
STEPS = 7


def graphs() -> int:
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def run(cls: type, options: dict[str, Any], *, compiled: bool | None, dtype: torch.dtype = torch.float32
        ) -> tuple[list[torch.Tensor], torch.optim.Optimizer, list[int]]:
    """STEPS steps on fixed gradients, lr a Tensor changed by torch's ExponentialLR after every step; returns the
    parameters, the optimizer and the compiled-graph count after each step."""
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, generator=generator, dtype=dtype).requires_grad_() for shape in SHAPES]
    kwargs = dict(options, lr=torch.tensor(options["lr"], dtype=torch.float64))
    if compiled is not None:
        kwargs["compiled"] = compiled
    optimizer = cls(params, **kwargs)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.8)
    counts = []
    for step in range(STEPS):
        for index, p in enumerate(params):
            p.grad = torch.sin(p.detach() * (step + 1) + index)
        optimizer.step()
        scheduler.step()
        counts.append(graphs() if compiled else 0)
    return [p.detach() for p in params], optimizer, counts


_RUNS: dict[tuple[str, torch.dtype], Any] = {}


def compiled_run(name: str, dtype: torch.dtype = torch.float32) -> Any:
    """The compiled run of ``name``, once per session (compiling is the slow part)."""
    if (name, dtype) not in _RUNS:
        _RUNS[name, dtype] = run(getattr(ours, name), CASES[name], compiled=True, dtype=dtype)
    return _RUNS[name, dtype]


@pytest.mark.parametrize("name", NAMES)
def test_compiled_equals_uncompiled_and_torch(name):
    compiled_params, optimizer, _ = compiled_run(name)
    plain_params, _, _ = run(getattr(ours, name), CASES[name], compiled=False)
    for c, p in zip(compiled_params, plain_params, strict=True):
        torch.testing.assert_close(c, p, rtol=1e-6, atol=1e-6 * p.abs().max().item())
    if hasattr(torch.optim, name):
        torch_params, _, _ = run(getattr(torch.optim, name), CASES[name], compiled=None)
        for c, t in zip(compiled_params, torch_params, strict=True):
            torch.testing.assert_close(c, t, rtol=1e-5, atol=1e-5 * t.abs().max().item())
    assert optimizer.compiled and isinstance(optimizer.param_groups[0]["lr"], torch.Tensor)


@pytest.mark.parametrize("name", NAMES)
def test_nothing_recompiles_after_the_first_compiled_step(name):
    """Step 1 is uncompiled (it creates the state), step 2 compiles at most one graph for every tensor size,
    and the scheduler's new lr at every step compiles nothing."""
    before = graphs()
    _, _, counts = compiled_run(name)
    if counts[0] == before:  # this test ran the class first: one graph at most, in the first compiled step
        assert counts[1] - counts[0] <= 1
    assert counts[1:] == [counts[1]] * (STEPS - 1), counts


def test_compiled_float64_equals_uncompiled():
    compiled_params, _, _ = compiled_run("Adam", torch.float64)
    plain_params, _, _ = run(ours.Adam, CASES["Adam"], compiled=False, dtype=torch.float64)
    for c, p in zip(compiled_params, plain_params, strict=True):
        torch.testing.assert_close(c, p, rtol=1e-12, atol=1e-12)


def test_state_keeps_torchs_keys_and_loads_into_torch_and_back():
    _, optimizer, _ = compiled_run("Adam")
    saved = copy.deepcopy(optimizer.state_dict())
    assert all(set(state) == {"step", "exp_avg", "exp_avg_sq"} for state in saved["state"].values())
    assert [float(s["step"]) for s in saved["state"].values()] == [STEPS] * len(SHAPES)

    def resume(cls: type, **extra: Any) -> list[torch.Tensor]:
        params = [p.detach().clone().requires_grad_() for p in optimizer.param_groups[0]["params"]]
        other = cls(params, **dict(CASES["Adam"], lr=torch.tensor(0.01, dtype=torch.float64)), **extra)
        other.load_state_dict(copy.deepcopy(saved))
        for step in range(3):
            for index, p in enumerate(params):
                p.grad = torch.cos(p.detach() * (step + 1) + index)
            other.step()
        return [p.detach() for p in params]

    theirs = resume(torch.optim.Adam)
    for mine in (resume(ours.Adam, compiled=True), resume(ours.Adam)):
        for a, b in zip(mine, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_deepcopy_keeps_the_compiled_path():
    _, optimizer, _ = compiled_run("Adam")
    assert copy.deepcopy(optimizer).compiled


def test_fused_true_means_compiled_and_foreach_says_what_to_type_instead():
    param = torch.zeros(3, requires_grad=True)
    assert ours.Adam([param], fused=True).compiled
    assert not ours.Adam([param], fused=False).compiled
    with pytest.raises(ValueError, match=r"^foreach=True is invalid: .*compiled=True"):
        ours.Adam([param], foreach=True)


def test_an_optimizer_whose_update_is_not_compilable_refuses_compiled():
    class Plain(ours.Optimizer):
        def update(self, param, grad, state, group):
            param.sub_(group["lr"] * grad)

    with pytest.raises(ValueError, match=r"^compiled=True is invalid: expected False for Plain"):
        Plain([torch.zeros(2, requires_grad=True)], {"lr": 0.1}, compiled=True)
    with pytest.raises(ValueError, match=r"^compiled='yes' is invalid: expected True or False"):
        ours.SGD([torch.zeros(2, requires_grad=True)], compiled="yes")


def test_without_a_cxx_compiler_it_says_so_and_how_to_fall_back(monkeypatch):
    monkeypatch.setattr(compiled_module.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(RuntimeError, match=r"C\+\+ compiler.*compiled=False"):
        ours.Adam([torch.zeros(2, requires_grad=True)], compiled=True)


def test_a_failure_inside_torch_compile_is_reraised_with_the_fallback(monkeypatch):
    from torch._dynamo.exc import TorchDynamoException

    def broken(update):
        def fail(*args, **kwargs):
            raise TorchDynamoException("backend failed: InvalidCxxCompiler")
        return fail

    monkeypatch.setattr(compiled_module, "compiled_update", broken)
    param = torch.zeros(2, requires_grad=True)
    optimizer = ours.Adam([param], compiled=True)
    param.grad = torch.ones(2)
    optimizer.step()  # the first step is uncompiled
    with pytest.raises(RuntimeError, match=r"compiled=True failed in torch.compile .*InvalidCxxCompiler.*=False"):
        optimizer.step()


def test_our_optimizers_start_without_importing_dynamo():
    """torch's first optimizer imports torch._dynamo (seconds); ours do not, through a whole step cycle."""
    code = textwrap.dedent("""
        import sys, torch
        from optimlab.optim import Adam, SGD
        p = torch.nn.Parameter(torch.randn(3))
        for opt in (Adam([p], lr=0.1), SGD([{"params": [p]}], lr=0.1, momentum=0.9)):
            p.grad = torch.ones(3)
            opt.step(); opt.zero_grad(); opt.load_state_dict(opt.state_dict())
        print("torch._dynamo" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", result.stderr


def test_a_parameter_without_a_gradient_keeps_its_step_while_the_others_step():
    """The small tensors share one step counter while batched; one left out of a step must not count it, and one
    that joins late takes its first (uncompiled) step while the others step compiled."""
    params = [torch.ones(3, requires_grad=True), torch.ones(4, requires_grad=True), torch.ones(2, requires_grad=True)]
    optimizer = ours.Adam(params, lr=torch.tensor(0.1, dtype=torch.float64), compiled=True)
    reference = ours.Adam([p.detach().clone().requires_grad_() for p in params], lr=0.1)
    for step in range(6):
        for index, (mine, theirs) in enumerate(zip(params, reference.param_groups[0]["params"], strict=True)):
            absent = (index == 1 and step >= 3) or (index == 2 and step < 2)
            grad = None if absent else torch.full(mine.shape, float(step + 1) * (index + 1))
            mine.grad, theirs.grad = grad, None if grad is None else grad.clone()
        optimizer.step()
        reference.step()
    assert [float(optimizer.state[p]["step"]) for p in params] == [6.0, 3.0, 4.0]
    for mine, theirs in zip(params, reference.param_groups[0]["params"], strict=True):
        torch.testing.assert_close(mine.detach(), theirs.detach(), rtol=1e-6, atol=1e-7)


def test_small_tensors_of_two_dtypes_step_one_by_one_and_equal_the_uncompiled_step():
    def make():
        return [torch.linspace(-1, 1, 3, requires_grad=True), torch.linspace(-1, 1, 4, dtype=torch.float64,
                                                                             requires_grad=True)]
    mine, theirs = make(), make()
    optimizer = ours.Adam(mine, lr=torch.tensor(0.1, dtype=torch.float64), compiled=True)
    reference = ours.Adam(theirs, lr=0.1)
    for step in range(4):
        for a, b in zip(mine, theirs, strict=True):
            a.grad = torch.cos(a.detach() * (step + 1))
            b.grad = a.grad.clone()
        optimizer.step()
        reference.step()
    assert optimizer._compiled_runner[0]["batch"] is None  # two dtypes cannot share one flat tensor
    for a, b in zip(mine, theirs, strict=True):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-6, atol=1e-7)
    assert [float(optimizer.state[p]["step"]) for p in mine] == [4.0, 4.0]
