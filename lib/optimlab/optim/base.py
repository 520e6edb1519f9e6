"""The base class every course optimizer shares (torch's bookkeeping), and the helpers their updates share.

It subclasses ``torch.optim.Optimizer``, so torch's schedulers, ``GradScaler``, checkpoints and any training
framework accept our optimizers. Param groups, ``zero_grad`` and ``state_dict`` are torch's own.

**The contract for a subclass** (all a new optimizer must write)::

    class MyOpt(Optimizer):
        rules = {**Optimizer.rules, "beta": check_fraction}   # optional: hyperparameter -> check(name, value)
        state_keys = frozenset({"step", "exp_avg"})             # optional: keys every state has after a step

        def __init__(self, params, lr=1e-3, beta=0.9, *, maximize=False, **implementation):
            super().__init__(params, dict(lr=lr, beta=beta, maximize=maximize), **implementation)

        def init_state(self, param, group) -> dict: ...        # optional, default {}
        def update(self, param, grad, state, group) -> None: ... # required: one step for one tensor

- ``update(param, grad, state, group)`` changes ``param`` in place. ``grad`` is already negated when
  ``maximize=True``; for a complex parameter, ``param``, ``grad`` and every state tensor arrive as real views
  (``torch.view_as_real``), which is how torch optimizes complex parameters. An empty ``state`` on the first
  call may be filled by ``update`` itself (the course's optimizers do this through their ``*_init`` function,
  so that their plain ``*_update`` function works on ``{}`` too); ``init_state(param, group)`` is the other
  way, for state that must exist before the first update (Adagrad's, as torch's). Keep the state empty and
  no entry is stored (plain SGD, as torch).
- ``rules`` maps a hyperparameter to a check from :mod:`optimlab.validation`. The base applies them to the
  constructor's values, to every param group (given to the constructor, added by ``add_param_group`` or
  loaded by ``load_state_dict``), so ``SGD([{"params": p, "lr": -1}])`` fails like ``SGD(p, lr=-1)``.
  Override :meth:`check_hyperparameters` for rules that tie two values together (Nesterov needs momentum).
  The default rules cover the names whose meaning every optimizer shares (``lr``, ``weight_decay``,
  ``momentum``, ``dampening``, ``betas`` and the boolean flags).
- ``state_keys`` lets ``load_state_dict`` refuse another algorithm's state saved under the same group keys.
- ``supports_sparse_gradients = True`` lets sparse gradients through (SGD and Adagrad, as in torch).
- torch's implementation keywords (``foreach``, ``fused``, ``capturable``, ``differentiable``) are accepted
  with torch's default values and refused otherwise with a message saying what the library does instead;
  ``fused=True`` means ``compiled=True``: the same ``update``, compiled once with ``torch.compile``
  (:mod:`optimlab.optim.compiled`). A subclass whose ``update`` compiles without a graph break sets
  ``compilable = True`` (the course's optimizers do); the others refuse ``compiled=True`` with a clear message.

``step`` walks the groups, skips parameters whose ``.grad`` is ``None`` (as torch does), flips the gradient's
sign when ``maximize=True``, views complex tensors as real ones, and calls ``update``.

torch wraps ``add_param_group``, ``zero_grad``, ``state_dict`` and ``load_state_dict`` in
``torch._disable_dynamo``, whose first call imports ``torch._dynamo`` (2–5 s, paid by every script at its first
``torch.optim`` optimizer). The base calls torch's undecorated methods until something else has imported
``torch._dynamo`` (a compiled step, ``torch.compile``), so our optimizers start without that cost.
``load_state_dict`` takes torch's own state_dicts of the same algorithm (its extra keys, and a ``step`` saved
as a Python number by torch < 1.12) and refuses another algorithm's, naming both.

A subclass written before these options (only ``init_state``/``update``, ``super().__init__(params, defaults)``)
keeps working unchanged: it gets the default rules, no state-key check and no sparse gradients.
Class attribute ``optional_on_load`` names the group keys an older torch checkpoint may lack (``maximize``,
``decoupled_weight_decay``); they are filled from this optimizer's defaults, as torch's ``__setstate__`` does.

The helpers the updates share: :func:`apply_weight_decay` (coupled L2 or decoupled decay, the one copy every
optimizer uses), :func:`new_step_counter` and :func:`count_step` (the step counter, as torch keeps it);
:func:`check_common_hyperparameters` checks groups built before an optimizer exists (``param_groups``).

Taught in: notebooks/03_optimizer_anatomy.ipynb.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from optimlab.validation import check_betas, check_bool, check_learning_rate, check_non_negative, invalid

Rule = Callable[[str, Any], Any]

# torch's implementation keywords: the values torch defaults to, and what the course's optimizers do instead.
IMPLEMENTATION_KEYWORDS: dict[str, tuple[tuple[Any, ...], str]] = {
    "foreach": ((None, False), "the course's optimizers update one tensor at a time, in plain Python; "
                               "compiled=True (or fused=True) compiles that update for speed"),
    "fused": ((None, False, True), "fused=True means compiled=True here: the same update, compiled"),
    "capturable": ((False,), "steps are counted on the CPU, so a step cannot be captured in a CUDA graph"),
    "differentiable": ((False,), "the step runs under torch.no_grad(); no gradient flows through an update"),
}

# The rules every optimizer shares: names whose meaning is the same in all of them.
COMMON_RULES: dict[str, Rule] = {
    "lr": check_learning_rate,
    "weight_decay": check_non_negative,
    "momentum": check_non_negative,
    "dampening": check_non_negative,
    "betas": check_betas,
    "maximize": check_bool,
    "nesterov": check_bool,
    "amsgrad": check_bool,
    "centered": check_bool,
    "decoupled_weight_decay": check_bool,
}


def check_common_hyperparameters(values: Mapping[str, Any]) -> None:
    """Check a param group's values with the rules every optimizer shares (``COMMON_RULES``).

    For code that builds groups before an optimizer exists (the helpers in :mod:`optimlab.param_groups`);
    the optimizer checks its own rules again when it receives the groups.
    """
    for name, value in values.items():
        if name in COMMON_RULES:
            COMMON_RULES[name](name, value)


def new_step_counter() -> Tensor:
    """torch keeps ``state["step"]`` as a float32 scalar tensor on the CPU; so do we, for checkpoint parity."""
    return torch.tensor(0.0, dtype=torch.float32)


def count_step(state: dict[str, Any]) -> Tensor:
    """Advance ``state["step"]`` and return t as a float64 0-dim tensor.

    float64, because bias corrections such as 1 − β₁ᵗ must be as exact as torch's Python floats; a tensor, not
    ``.item()``, so the update never leaves torch (no host sync, nothing for ``torch.compile`` to break on).
    """
    state["step"] += 1  # t ← t + 1
    return state["step"].to(torch.float64)


def closure_loss(closure: Callable[[], Tensor] | None) -> Tensor | None:
    """The loss a ``step(closure)`` returns: the closure re-evaluated with gradients on (steps run under no_grad)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def apply_weight_decay(
    param: Tensor, grad: Tensor, *, lr: float | Tensor, weight_decay: float, decoupled: bool,
) -> Tensor:
    """Weight decay, the one copy every optimizer uses; returns the gradient the update should see.

    Coupled (L2, torch's ``weight_decay`` in SGD, Adam, Adagrad, ...): g ← g + λθ, so the decay goes through
    the moments and an adaptive denominator rescales it too. Decoupled (AdamW, Lion): θ ← θ(1 − γλ), outside
    the moments, so every weight shrinks at the same rate. A sparse gradient takes no coupled decay (torch
    refuses it too: g + λθ would be dense).
    """
    if weight_decay == 0:
        return grad
    if decoupled:
        param.mul_(1 - lr * weight_decay)  # θ ← θ(1 − γλ)
        return grad
    if grad.is_sparse:
        raise invalid("weight_decay", weight_decay, "0 with sparse gradients (g + λθ is dense; torch refuses it too)")
    return grad.add(param, alpha=weight_decay)  # g ← g + λθ


def _real(tensor: Any) -> Any:
    return torch.view_as_real(tensor) if isinstance(tensor, Tensor) and tensor.is_complex() else tensor


def _torch_method(name: str) -> Callable[..., Any]:
    """torch.optim.Optimizer's method ``name``, without its ``_disable_dynamo`` wrapper while ``torch._dynamo`` is
    not imported (the wrapper's first call imports it: seconds). Once it is imported, the wrapped method, so
    that a ``torch.compile``d training loop still skips these methods as torch intends."""
    method = getattr(torch.optim.Optimizer, name)
    return method if "torch._dynamo" in sys.modules else getattr(method, "__wrapped__", method)


class Optimizer(torch.optim.Optimizer):
    """Base class: validates hyperparameters, loops over parameters and delegates each one's update."""

    rules: ClassVar[Mapping[str, Rule]] = COMMON_RULES
    state_keys: ClassVar[frozenset[str]] = frozenset()
    supports_sparse_gradients: ClassVar[bool] = False
    # Keys a checkpoint of an older torch may lack (torch's __setstate__ fills them); filled from our defaults.
    optional_on_load: ClassVar[frozenset[str]] = frozenset({"maximize", "decoupled_weight_decay"})
    # True when ``update`` compiles as one graph (no .item(), no branch on a tensor's value): compiled=True allowed.
    compilable: ClassVar[bool] = False

    def __init__(self, params: Any, defaults: dict[str, Any], *, compiled: bool = False, **implementation: Any) -> None:
        check_bool("compiled", compiled)
        self.compiled = compiled or implementation.pop("fused", None) is True  # torch users type fused=True
        if self.compiled and not self.compilable:
            raise invalid("compiled", True, f"False for {type(self).__name__} (its update is not written to compile "
                                            "as one graph; the uncompiled step is the same algorithm)")
        if self.compiled:
            from optimlab.optim.compiled import check_compile_available

            check_compile_available()
        for name, value in implementation.items():
            if name not in IMPLEMENTATION_KEYWORDS:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {name!r}")
            allowed, instead = IMPLEMENTATION_KEYWORDS[name]
            if not any(value is choice for choice in allowed):
                raise invalid(name, value, " or ".join(map(repr, allowed)) + f" ({instead})")
        defaults = {key: (check_learning_rate(key, value) if key == "lr" else value) for key, value in defaults.items()}
        self.check_hyperparameters(defaults)
        super().__init__(params, defaults)  # calls add_param_group for every group, which checks it

    # --- hyperparameters ------------------------------------------------------------------------------------

    def check_hyperparameters(self, values: Mapping[str, Any]) -> None:
        """Apply ``rules`` to every value present; raise the course's ``ValueError`` for the first bad one."""
        for name, value in values.items():
            if name in self.rules:
                self.rules[name](name, value)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's ``add_param_group``, after checking the group's values with the constructor's rules."""
        index = len(getattr(self, "param_groups", []))
        merged = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}}
        self._check_group(merged, f"param group {index}")
        if isinstance(param_group.get("lr"), Tensor):
            param_group = {**param_group, "lr": param_group["lr"].reshape(())}
        _torch_method("add_param_group")(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """torch's ``zero_grad`` (without importing ``torch._dynamo``, see the module)."""
        _torch_method("zero_grad")(self, set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """torch's ``state_dict`` (without importing ``torch._dynamo``, see the module)."""
        return _torch_method("state_dict")(self)

    def _check_group(self, group: Mapping[str, Any], where: str) -> None:
        try:
            self.check_hyperparameters(group)
        except ValueError as error:
            raise ValueError(f"{error} (in {where})") from None

    # --- the step -------------------------------------------------------------------------------------------

    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """State for ``param`` before its first update; ``{}`` lets ``update`` create it (the default)."""
        return {}

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Change ``param`` in place from ``grad`` (already negated when maximizing) and ``state``."""
        raise NotImplementedError(f"{type(self).__name__} must implement update()")

    def create_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """``init_state`` on the real view of ``param``, its tensors returned in ``param``'s own (complex) dtype."""
        real = _real(param)
        return self._as_param_dtype(param, real, self.init_state(real, group), {})

    @staticmethod
    def _as_param_dtype(param: Tensor, real: Tensor, state: dict[str, Any], seen: dict[str, Any]) -> dict[str, Any]:
        """Turn the real views of a complex parameter's state back into complex tensors (torch stores them so)."""
        if not param.is_complex():
            return state
        back = {}
        for key, value in state.items():
            if key in seen and value is seen[key][1]:
                back[key] = seen[key][0]  # untouched: keep the stored complex tensor itself
            elif isinstance(value, Tensor) and value.is_floating_point() and value.shape == real.shape:
                back[key] = torch.view_as_complex(value)
            else:
                back[key] = value
        return back

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        """One update of every parameter that has a gradient; returns the closure's loss, if any."""
        loss = closure_loss(closure)
        if self.compiled:
            from optimlab.optim.compiled import compiled_step

            compiled_step(self)  # the same update, compiled (see optimlab.optim.compiled)
            return loss
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self.update_parameter(param, group)
        return loss

    def update_parameter(self, param: Tensor, group: dict[str, Any], update: Callable[..., None] | None = None) -> None:
        """One parameter's step: the gradient's sign, real views, lazy state, then ``update`` (or the given
        stand-in with its signature, such as its compiled form)."""
        grad = -param.grad if group.get("maximize", False) else param.grad  # type: ignore[operator]
        self._check_gradient(param, grad)  # type: ignore[arg-type]
        stored = self.state[param] if param in self.state else self.create_state(param, group)
        seen = {key: (value, _real(value)) for key, value in stored.items()}
        state = {key: real for key, (_, real) in seen.items()}
        real_param = _real(param)
        (update or self.update)(real_param, _real(grad), state, group)
        if state:  # like torch, keep no entry for a stateless update (plain SGD)
            self.state[param] = self._as_param_dtype(param, real_param, state, seen)

    def _check_gradient(self, param: Tensor, grad: Tensor) -> None:
        name = type(self).__name__
        if grad.is_sparse and not self.supports_sparse_gradients:
            raise RuntimeError(f"{name} does not support sparse gradients (as torch's {name}); "
                               "SGD and Adagrad take them, and SparseAdam is Adam for them")
        if grad.is_sparse and param.is_complex():
            raise RuntimeError(f"{name} does not support sparse gradients of a complex parameter")

    # --- checkpoints ----------------------------------------------------------------------------------------

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``, after checking that the state_dict is this algorithm's (see the module)."""
        self._check_loadable(state_dict)
        _torch_method("load_state_dict")(self, state_dict)
        for state in self.state.values():
            if "step" in state and not isinstance(state["step"], Tensor):  # torch < 1.12 saved a Python number
                state["step"] = torch.tensor(float(state["step"]), dtype=torch.float32)

    def _check_loadable(self, state_dict: Mapping[str, Any]) -> None:
        ours = type(self).__name__
        names = set(self.defaults) - set(IMPLEMENTATION_KEYWORDS)
        groups = state_dict.get("param_groups") if isinstance(state_dict, Mapping) else None
        if not isinstance(groups, list) or not all(isinstance(g, Mapping) for g in groups):
            raise invalid("state_dict", type(state_dict).__name__, "an optimizer state_dict with 'param_groups'")
        for index, group in enumerate(groups):
            keys = set(group) - {"params"}
            missing = names - keys - self.optional_on_load
            foreign = (keys & known_hyperparameters()) - names - set(IMPLEMENTATION_KEYWORDS)
            if missing or foreign:
                raise ValueError(
                    f"state_dict is invalid: expected a {ours} state_dict, got one saved by {guess_source(keys)} "
                    f"(param group {index} lacks {sorted(missing)} and carries {sorted(foreign)})"
                )
            self._check_group({**self.defaults, **group}, f"param group {index} of the state_dict")
        for saved_id in [i for group in groups for i in group.get("params", [])]:
            state = state_dict.get("state", {}).get(saved_id)
            lacking = self.state_keys - set(state or {})
            if state and lacking:
                source, keeps = guess_source(state, "state"), sorted(self.state_keys)
                raise ValueError(
                    f"state_dict is invalid: expected a {ours} state_dict, got one saved by {source} "
                    f"(the state of parameter {saved_id} has keys {sorted(state)}; a {ours} keeps {keeps})"
                )

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "compiled": self.compiled}  # deepcopy and pickle keep compiled=True

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("compiled", False)  # pickled before compiled= existed
        # An older checkpoint may lack the keys in ``optional_on_load``: fill them (and only keys we check) from
        # this optimizer's defaults. torch's own __setstate__ adds its keys (differentiable, ...) to defaults.
        ours = dict(state.get("defaults") or self.defaults)  # deepcopy passes defaults; load_state_dict does not
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in ours.items():
                if key not in IMPLEMENTATION_KEYWORDS:
                    group.setdefault(key, value)


def _optimizer_classes() -> list[type]:
    """torch.optim's optimizers and every subclass of ours that has been imported."""
    classes: list[type] = [
        cls for cls in vars(torch.optim).values()
        if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer) and cls is not torch.optim.Optimizer
    ]
    pending = list(Optimizer.__subclasses__())
    while pending:
        cls = pending.pop()
        classes.append(cls)
        pending.extend(cls.__subclasses__())
    return classes


def _hyperparameter_names(cls: type) -> set[str]:
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return set()
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in parameters if p.kind in plain} - {"params"} - set(IMPLEMENTATION_KEYWORDS)


def known_hyperparameters() -> set[str]:
    """Every hyperparameter name of torch.optim's optimizers and of ours: a group key among these is an algorithm's."""
    return set().union(*(_hyperparameter_names(cls) for cls in _optimizer_classes()))


def guess_source(keys: Iterable[str], kind: str = "group") -> str:
    """The optimizer class(es) whose hyperparameters (``kind="group"``) or state keys (``"state"``) best match
    a saved group's or parameter state's keys, for error messages."""
    keys = set(keys) & known_hyperparameters() if kind == "group" else set(keys)
    scores: dict[str, int] = {}
    for cls in _optimizer_classes():
        names = _hyperparameter_names(cls) if kind == "group" else set(getattr(cls, "state_keys", ()))
        if names and (kind == "group" or names <= keys):
            score = len(names ^ keys)  # names one has and the other lacks
            scores[cls.__name__] = min(score, scores.get(cls.__name__, score))
    if not scores:
        return "another optimizer"
    best = min(scores.values())
    return " or ".join(sorted(name for name, score in scores.items() if score == best))
