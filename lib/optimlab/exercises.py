"""Self-checks for the notebooks' exercises.

An exercise cell defines the learner's function (a stub that raises ``NotImplementedError`` until it
is written) and calls :func:`check_exercise` with the library's reference. The check *reports*; it
never raises, so an unsolved exercise does not fail the notebook under nbval. The worked solution in
``notebooks/solutions/`` asserts the same check, which proves that a correct answer passes.

Both functions get their own deep copy of each case's arguments, and the check compares the return
values *and* the arguments after the call, so in-place updates (``param.add_``, a state dict being
filled) are compared too.

Taught in: every notebook's "Exercises" section.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import torch


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a check; truthy when the learner's function matched the reference on every case."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        """check_exercise already printed the message; a cell ending in the call should not show it twice."""


def check_exercise(
    candidate: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Sequence[tuple | dict],
    *,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    name: str | None = None,
    quiet: bool = False,
) -> CheckResult:
    """Compare ``candidate`` with ``reference`` on every case; print and return a :class:`CheckResult`.

    Each case is a tuple of positional arguments or a dict of keyword arguments.

    Taught in: notebooks/01_four_steps.ipynb.
    """
    label = name or getattr(candidate, "__name__", "your function")
    result = _run_cases(candidate, reference, cases, atol=atol, rtol=rtol, label=label)
    if not quiet:
        print(result.message)
    return result


def check_prediction(
    prediction: Any,
    measured: Any,
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
    name: str = "your prediction",
    quiet: bool = False,
) -> CheckResult:
    """Compare a prediction the learner wrote down *before* running a cell with the value the run measured.

    A predict-then-run exercise sets a variable (``predicted_steps = None``) that the learner fills in,
    runs the experiment, and calls this check. ``None`` means "not predicted yet". Numbers agree when
    ``|prediction - measured| <= atol + rtol * |measured|``; anything else (a name, a bool, a list) must be
    equal. Like :func:`check_exercise`, it prints and returns a :class:`CheckResult` and never raises.

    Taught in: notebooks/00_start_here.ipynb.
    """
    if prediction is None:
        result = CheckResult(False, f"○ {name}: no prediction yet (write it down, then rerun this cell).")
    else:
        numbers = all(isinstance(v, Real) and not isinstance(v, bool) for v in (prediction, measured))
        if numbers:
            tolerance = atol + rtol * abs(measured)
            ok = abs(prediction - measured) <= tolerance
            within = f" (within ±{tolerance:.3g})" if tolerance else ""
        else:
            ok, within = prediction == measured, ""
        mark = "✓" if ok else "✗"
        verdict = "agrees with" if ok else "differs from"
        result = CheckResult(bool(ok), f"{mark} {name} {prediction!r} {verdict} the measured {measured!r}{within}.")
    if not quiet:
        print(result.message)
    return result


def _run_cases(candidate, reference, cases, *, atol, rtol, label) -> CheckResult:
    for number, case in enumerate(cases, start=1):
        args, kwargs = (case, {}) if isinstance(case, tuple) else ((), case)
        expected_args, expected_kwargs = copy.deepcopy((args, kwargs))
        got_args, got_kwargs = copy.deepcopy((args, kwargs))
        expected = reference(*expected_args, **expected_kwargs)
        try:
            got = candidate(*got_args, **got_kwargs)
        except NotImplementedError:
            return CheckResult(False, f"○ {label}: not written yet (it raises NotImplementedError).")
        except Exception as error:  # the learner's bug is reported, not raised
            return CheckResult(False, f"✗ {label} raised {type(error).__name__} on case {number}: {error}")
        for what, want, have in (
            ("return value", expected, got),
            ("arguments after the call", (expected_args, expected_kwargs), (got_args, got_kwargs)),
        ):
            problem = _difference(want, have, atol=atol, rtol=rtol)
            if problem:
                return CheckResult(False, f"✗ {label}: case {number}, {what}: {problem}")
    return CheckResult(True, f"✓ {label} matches the library on all {len(cases)} cases.")


def _difference(want: Any, have: Any, *, atol: float, rtol: float) -> str | None:
    """A readable description of how ``have`` differs from ``want``, or None when they agree."""
    if isinstance(want, torch.Tensor) or isinstance(have, torch.Tensor):
        try:
            torch.testing.assert_close(
                torch.as_tensor(have).to(torch.float64), torch.as_tensor(want).to(torch.float64),
                atol=atol, rtol=rtol,
            )
        except (AssertionError, TypeError, RuntimeError) as error:
            return f"expected {want!r}, got {have!r} ({str(error).splitlines()[0]})"
        return None
    if isinstance(want, dict) and isinstance(have, dict):
        if set(want) != set(have):
            return f"expected keys {sorted(map(str, want))}, got {sorted(map(str, have))}"
        return next((p for k in want if (p := _difference(want[k], have[k], atol=atol, rtol=rtol))), None)
    if isinstance(want, (list, tuple)) and isinstance(have, (list, tuple)):
        if len(want) != len(have):
            return f"expected {len(want)} items, got {len(have)}"
        return next((p for w, h in zip(want, have) if (p := _difference(w, h, atol=atol, rtol=rtol))), None)
    if isinstance(want, float) and isinstance(have, (int, float)):
        return None if abs(want - have) <= atol + rtol * abs(want) else f"expected {want!r}, got {have!r}"
    return None if want == have else f"expected {want!r}, got {have!r}"
