"""Argument checks that raise a ``ValueError`` naming the argument, its value and what is allowed.

Optimizers, schedulers and notebook parameter cells all use these, so every message has one shape::

    lr=-0.1 is invalid: expected a number >= 0

Taught in: notebooks/00_start_here.ipynb (parameter cells) and every optimizer's constructor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Real
from typing import Any

import torch


def invalid(name: str, value: Any, allowed: str) -> ValueError:
    """Build the course's standard error for argument ``name``."""
    return ValueError(f"{name}={value!r} is invalid: expected {allowed}")


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check that ``value`` is a finite real number in the given interval and return it."""
    interval = _describe_interval(low, high, low_inclusive, high_inclusive)
    if not _is_real(value) or not math.isfinite(value):
        raise invalid(name, value, f"a finite number {interval}".rstrip())
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        raise invalid(name, value, f"a number {interval}")
    return value


def check_non_negative(name: str, value: Any) -> float:
    return check_number(name, value, low=0.0)


def check_positive(name: str, value: Any) -> float:
    return check_number(name, value, low=0.0, low_inclusive=False)


def check_fraction(name: str, value: Any) -> float:
    """A decay rate or beta: 0 <= value < 1."""
    return check_number(name, value, low=0.0, high=1.0, high_inclusive=False)


def check_bool(name: str, value: Any) -> bool:
    """Check that ``value`` is ``True`` or ``False`` (not a string, not a number) and return it.

    ``maximize="False"`` would read as true in an ``if``; refusing it is the only safe answer.
    """
    if not isinstance(value, bool):
        raise invalid(name, value, "True or False (a bool)")
    return value


def check_learning_rate(name: str, value: Any) -> float | torch.Tensor:
    """A learning rate: a finite number >= 0, or a one-element tensor holding one (as torch accepts).

    A tensor is returned as a 0-dim tensor (torch's ``_to_scalar``), so a compiled step reads a new value
    without recompiling; it stays a tensor in the param group.
    """
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex() or not value.is_floating_point():
            raise invalid(name, value, "a number >= 0 or a one-element floating-point tensor holding one")
        number = float(value.detach())
        if not math.isfinite(number) or number < 0:
            raise invalid(name, value, "a number >= 0 (a tensor is allowed: it must hold a finite number >= 0)")
        return value.reshape(())
    return check_non_negative(name, value)


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Check that ``value`` is an integer (not a bool) within [low, high] and return it."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(name, value, f"an integer {_describe_interval(low, high, True, True)}".rstrip())
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(name, value, f"an integer {_describe_interval(low, high, True, True)}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``choices``; the error lists them all."""
    choices = list(choices)
    if value not in choices:
        raise invalid(name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def check_choices(name: str, values: Any, choices: Iterable[Any]) -> list[Any]:
    """Check that ``values`` is a non-empty list whose items all lie in ``choices``."""
    choices = list(choices)
    if isinstance(values, str) or not isinstance(values, (list, tuple)) or not values:
        raise invalid(name, values, "a non-empty list drawn from " + ", ".join(repr(c) for c in choices))
    for item in values:
        if item not in choices:
            raise invalid(name, values, f"items drawn from {', '.join(repr(c) for c in choices)} ({item!r} is not)")
    return list(values)


def check_betas(name: str, betas: Any, *, tensors: bool = False) -> tuple[Any, Any]:
    """Two decay rates, each in [0, 1); with ``tensors=True`` both may be one-element tensors (as Adam's may)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise invalid(name, betas, "a pair (beta1, beta2), each in [0, 1)")
    if tensors and any(isinstance(beta, torch.Tensor) for beta in betas):
        if not all(isinstance(beta, torch.Tensor) and beta.numel() == 1 for beta in betas):
            raise invalid(name, betas, "two numbers or two one-element tensors (not a mix), each in [0, 1)")
        values = [float(beta.detach()) for beta in betas]
    else:
        values = list(betas)
    for index, beta in enumerate(values):
        if not _is_real(beta) or not 0.0 <= beta < 1.0:
            raise invalid(f"{name}[{index}]", betas[index], "a number in [0, 1)")
    return tuple(betas)


def _describe_interval(low: float | None, high: float | None, low_inclusive: bool, high_inclusive: bool) -> str:
    if low is not None and high is not None:
        left, right = ("[" if low_inclusive else "("), ("]" if high_inclusive else ")")
        return f"in {left}{low}, {high}{right}"
    if low is not None:
        return f"{'>=' if low_inclusive else '>'} {low}"
    if high is not None:
        return f"{'<=' if high_inclusive else '<'} {high}"
    return ""
