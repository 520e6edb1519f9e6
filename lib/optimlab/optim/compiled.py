"""``compiled=True``: an optimizer's own ``update``, compiled once with ``torch.compile``; no second copy of the math.

``Adam(params, compiled=True)`` (or ``fused=True``, as torch users type it) runs the very ``update`` method the
uncompiled step runs, through ``torch.compile(type(optimizer).update, fullgraph=True, dynamic=True)``. Three
choices make that one compilation serve every step:

- **Hyperparameters and the step as tensors.** ``state["step"]`` is already a tensor (:func:`count_step`); a
  float ``lr`` is written into a 0-dim float64 tensor kept per group, so a scheduler that changes it every step
  changes a tensor's value, not the compiled code. (A Python float that changes is a new constant to
  ``torch.compile``: it recompiles; notebook 14 counts it.) The other hyperparameters stay Python numbers:
  changing them (rarely) recompiles.
- **Every tensor viewed as 1-D**, with ``dynamic=True``: one compiled graph serves every parameter size.
- **Small tensors updated as one.** A compiled call costs tens of microseconds of Python and guards before any
  arithmetic, so 200 small tensors cost 200 of those. The parameters of a group below ``BATCH_NUMEL`` elements
  (same dtype and device, dense gradient) are updated as one flat tensor: their state entries become views into
  one flat buffer per key (torch's per-parameter state keys and ``state_dict`` are unchanged), the parameters
  and gradients are concatenated, updated in one call and copied back. Large tensors are updated one by one
  in place (the copies would cost more than the call).

A parameter's first step (which creates its state) runs uncompiled: the same code, and the compiled graph
then never sees an empty state. Sparse gradients run uncompiled too.

If ``torch.compile`` cannot work here (no C++ compiler, an unsupported Python), :func:`check_compile_available`
raises at construction and a failure at the first compiled call is re-raised, both saying to fall back to
``compiled=False`` (the same update, uncompiled) rather than run slowly in silence.

Taught in: notebooks/14_fast_steps.ipynb.
"""

from __future__ import annotations

import operator
import os
import shutil
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

BATCH_NUMEL = 1 << 16  # parameters with fewer elements are updated together, as one flat tensor
FALLBACK = "construct the optimizer with compiled=False (the same update, uncompiled) to run without torch.compile"

_COMPILED: dict[Callable[..., None], Callable[..., None]] = {}  # one compiled form per update function
# Inductor inlines a small expression into every loop that reads it: the scalar part of an update (Adam's
# 1 − β₁ᵗ, √(1 − β₂ᵗ): powers in float64) would be recomputed for every 16 elements, and the C compiler may not
# hoist pow() out of the loop (errno). A low threshold makes inductor compute such expressions once, into
# their own buffer: Adam on 5M float32 elements took 43 ms per call without it, 12 ms with it (torch fused: 11).
INDUCTOR_OPTIONS: dict[str, str | int | bool | Callable[..., Any]] = {"realize_opcount_threshold": 8}


def check_compile_available() -> None:
    """Raise ``RuntimeError`` saying why ``torch.compile`` cannot run here and how to fall back, else nothing."""
    import torch._dynamo  # the first import costs seconds; only a compiled optimizer pays it

    if not torch._dynamo.is_dynamo_supported():
        raise RuntimeError(f"compiled=True needs torch.compile, which this Python or platform does not support; "
                           f"{FALLBACK}")
    compilers = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
    if not any(name and shutil.which(name) for name in compilers):
        raise RuntimeError(f"compiled=True needs torch.compile, which needs a C++ compiler (g++ or clang++), and "
                           f"none was found on PATH; install one, or {FALLBACK}")


def compiled_update(update: Callable[..., None]) -> Callable[..., None]:
    """``update`` (an optimizer class's method) compiled once per process and shared by every instance."""
    if update not in _COMPILED:
        _COMPILED[update] = torch.compile(update, fullgraph=True, dynamic=True, options=INDUCTOR_OPTIONS)
    return _COMPILED[update]


def _flat(tensor: Any) -> Any:
    """A 1-D view of a parameter-shaped tensor (complex ones as their real parts), anything else unchanged."""
    if isinstance(tensor, Tensor) and tensor.ndim > 0 and tensor.is_contiguous():
        return (torch.view_as_real(tensor) if tensor.is_complex() else tensor).view(-1)
    return tensor


def compiled_step(optimizer: Any) -> None:
    """One step of ``optimizer`` (an :class:`optimlab.optim.base.Optimizer` built with ``compiled=True``)."""
    update = compiled_update(type(optimizer).update)
    runner = optimizer.__dict__.setdefault("_compiled_runner", {})  # per group: lr tensor and batch (not pickled)
    try:
        for index, group in enumerate(optimizer.param_groups):
            _step_group(optimizer, group, runner.setdefault(index, {}), update)
    except Exception as error:  # torch.compile's failures arrive at the first call, with its own long story
        if type(error).__module__.startswith("torch._"):
            raise RuntimeError(f"compiled=True failed in torch.compile ({type(error).__name__}: "
                               f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}); {FALLBACK}"
                               ) from error
        raise


def _step_group(optimizer: Any, group: dict[str, Any], cache: dict[str, Any], update: Callable[..., None]) -> None:
    hyper = _hyperparameters(group, cache)
    with_grad = [p for p in group["params"] if p.grad is not None]
    plan = cache.get("plan")  # (parameters with a gradient, small ones, large ones) of the last step
    if plan is None or len(plan[0]) != len(with_grad) or not all(map(operator.is_, plan[0], with_grad)):
        plan = _plan(optimizer, group, with_grad, cache)  # also runs the first steps, uncompiled
    _, small, large = plan
    for param in large:
        _one_tensor(optimizer, param, hyper, update)
    if not small:
        return
    batch = cache.get("batch")
    if batch is None or not batch.matches(small, optimizer.state):
        fits = FlatBatch.fits(small, optimizer.state)
        batch = cache["batch"] = FlatBatch.build(small, optimizer.state) if fits else None
    if batch is not None:
        batch.step(optimizer, hyper, update)
    else:  # mixed dtypes or unequal step counts: one call per tensor, each with its own step counter again
        for param in small:
            for key, value in _state_of(optimizer.state, param).items():
                if isinstance(value, Tensor) and value.ndim == 0:
                    optimizer.state[param][key] = value.clone()
            _one_tensor(optimizer, param, hyper, update)


def _plan(optimizer: Any, group: dict[str, Any], with_grad: list[Tensor], cache: dict[str, Any]
          ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """Sort the parameters into small (batched) and large (one call each), once per set of parameters with a
    gradient. A parameter's first step (it creates the state) and a sparse gradient run uncompiled, here."""
    stepped = cache.setdefault("stepped", set())  # ids of the parameters that have had their first step
    small, large, uncompiled = [], [], []
    for param in with_grad:
        if (id(param) not in stepped and param not in optimizer.state) or param.grad.is_sparse:  # type: ignore[union-attr]
            optimizer.update_parameter(param, group)  # the same update, uncompiled
            stepped.add(id(param))
            uncompiled.append(param)
        elif param.numel() < BATCH_NUMEL and param.is_contiguous() and not param.is_complex():
            small.append(param)
        else:
            large.append(param)
    plan = (with_grad, small, large)
    if uncompiled:  # the others still step, compiled; the plan is made again next step
        cache.pop("plan", None)
    else:
        cache["plan"] = plan
    return plan


def _one_tensor(optimizer: Any, param: Tensor, hyper: dict[str, Any], update: Callable[..., None]) -> None:
    """One compiled call, in place, on 1-D views of ``param`` and its state."""
    optimizer.update_parameter(param, hyper, update=lambda p, g, state, h: update(
        optimizer, _flat(p.detach()), _flat(g), _FlatState(state), h))


def _hyperparameters(group: dict[str, Any], cache: dict[str, Any]) -> dict[str, Any]:
    """The group without its params; a Python-number lr becomes a 0-dim float64 tensor kept in ``cache``."""
    hyper = {key: value for key, value in group.items() if key != "params"}
    if not isinstance(hyper["lr"], Tensor):
        lr = cache.get("lr")
        if lr is None:
            lr = cache["lr"] = torch.zeros((), dtype=torch.float64)
        lr.fill_(hyper["lr"])  # a new value, the same tensor: no recompile
        hyper["lr"] = lr
    return hyper


class _FlatState(dict):
    """A parameter's state with its parameter-shaped tensors viewed as 1-D; writes go to the original too."""

    def __init__(self, state: dict[str, Any]) -> None:
        super().__init__({key: _flat(value) for key, value in state.items()})
        self.original = state

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.original[key] = value


def _state_of(state: Any, param: Tensor) -> dict[str, Any]:
    """``optimizer.state[param]`` without adding an empty entry (plain SGD keeps none, as torch)."""
    return state[param] if param in state else {}


class FlatBatch:
    """The small parameters of one group, updated as one flat tensor; their state entries are views into it."""

    def __init__(self, params: list[Tensor], flat_state: dict[str, Tensor], views: list[dict[str, Any] | None]) -> None:
        self.params, self.flat_state = params, flat_state
        self.state_dicts = views  # each parameter's state dict, whose entries ``build`` made views
        self.entries = [(entries, key, value) for entries in views if entries for key, value in entries.items()]
        self.sizes = [p.numel() for p in params]
        # reused every step: a fresh multi-megabyte tensor per step costs page faults (measured 10x slower here)
        self.flat_param = torch.empty(sum(self.sizes), dtype=params[0].dtype, device=params[0].device)
        self.flat_grad = torch.empty_like(self.flat_param)
        # made once: each step then costs a handful of Python calls, not a few per tensor
        self.param_views = [p.detach().view(-1) for p in params]  # 1-D aliases of the parameters
        self.pieces = list(self.flat_param.split(self.sizes))  # each parameter's slice of flat_param
        self.addresses = [p.data_ptr() for p in params]  # a parameter moved (model.to, p.data = ...) rebuilds

    @staticmethod
    def fits(params: list[Tensor], state: Any) -> bool:
        """One dtype and device, the same state keys, and equal 0-dim entries (steps) across the parameters."""
        first, first_state = params[0], _state_of(state, params[0])
        for param in params:
            entries = _state_of(state, param)
            if (param.dtype, param.device) != (first.dtype, first.device) or entries.keys() != first_state.keys():
                return False
            for key, value in entries.items():
                reference = first_state[key]
                if isinstance(value, Tensor) and value.ndim == 0:
                    if not torch.equal(value, reference):
                        return False
                elif not (isinstance(value, Tensor) and value.shape == param.shape and value.dtype == param.dtype):
                    return False
        return True

    @classmethod
    def build(cls, params: list[Tensor], state: Any) -> FlatBatch:
        """Concatenate each state key into one buffer and point every parameter's entry at its slice of it;
        0-dim entries (the step) become one tensor shared by all (they are equal, and stay so)."""
        flat_state: dict[str, Tensor] = {}
        for key, value in _state_of(state, params[0]).items():
            if value.ndim == 0:  # a new tensor: a parameter left out of this batch keeps its own count
                flat_state[key] = value.clone()
            else:
                flat_state[key] = torch.cat([state[p][key].reshape(-1) for p in params])
        offset = 0
        for param in params:
            for key, flat in flat_state.items():
                state[param][key] = flat if flat.ndim == 0 else flat[offset:offset + param.numel()].view_as(param)
            offset += param.numel()
        return cls(params, flat_state, [state.get(p) for p in params])

    def matches(self, params: list[Tensor], state: Any) -> bool:
        """Still valid: the same parameters at the same addresses, and their state entries still the views made
        by ``build`` (``load_state_dict`` or a user may have replaced them)."""
        if len(params) != len(self.params) or not all(map(operator.is_, params, self.params)):
            return False
        if not all(map(operator.is_, map(state.get, params), self.state_dicts)):
            return False
        if [p.data_ptr() for p in params] != self.addresses:
            return False
        return all(entries.get(key) is value for entries, key, value in self.entries)

    def step(self, optimizer: Any, hyper: dict[str, Any], update: Callable[..., None]) -> None:
        """Concatenate parameters and gradients, one compiled update, copy the parameters back."""
        flat_param = torch.cat(self.param_views, out=self.flat_param)
        flat_grad = torch.cat([p.grad.view(-1) for p in self.params], out=self.flat_grad)  # type: ignore[union-attr]
        if hyper.get("maximize", False):
            flat_grad.neg_()
        # .view(-1): views, as the large tensors' arguments are, so that both share one compiled graph
        update(optimizer, flat_param.view(-1), flat_grad.view(-1), _FlatState(self.flat_state), hyper)
        torch._foreach_copy_(self.param_views, self.pieces)
