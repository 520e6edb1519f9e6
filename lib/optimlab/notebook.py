"""What every course notebook does at the top and at the bottom.

- :func:`setup_notebook` validates the common papermill parameters (seed, device, profile, threads),
  applies the course's figure style, seeds, and returns the device.
- :func:`show_results` displays the notebook's headline numbers as JSON in the cell tagged
  ``results``, where sweeps (``python -m optimlab.tools.sweep``) read them back.
- :func:`check_run_budget` (built on :func:`check_budget`, :func:`check_memory`, :func:`check_work`)
  refuses, in the validation cell, a papermill value that would need more than ~1 GB or run far beyond the ``full``
  profile, naming the largest value that fits with the other parameters.
- :class:`Claims` asserts a claim when the parameters lie where it was verified, and otherwise runs on
  and prints that the claim was not checked for these values (a rerun explores; nothing is silent).

Taught in: notebooks/00_start_here.ipynb.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Iterable
from numbers import Real
from typing import Any, TypeVar

import torch

from optimlab.runtime import pick_device, seed_everything
from optimlab.style import use_course_style
from optimlab.validation import check_choice, check_int, invalid

PROFILES = ("smoke", "full")
SEED_LIMIT = 2**32 - 1  # NumPy's generator takes seeds in [0, 2**32 - 1]
MEMORY_LIMIT = 2**30  # bytes a rerun may allocate (1 GiB): a laptop keeps working
FULL_MULTIPLE = 20  # a rerun may do this many times the work of the notebook's ``full`` profile
STEP_OVERHEAD = 100_000  # one optimizer step's fixed cost (Python, torch dispatch, ~100 us), in multiply-adds

Number = TypeVar("Number", int, float)


def setup_notebook(*, seed: int, device: str = "auto", profile: str = "smoke", threads: int | None = 1) -> torch.device:
    """Validate the shared parameters, style figures, seed every generator; return the device.

    ``threads=1`` is the default because small models train several times faster on one thread of a
    busy 2-core machine than on two; ``None`` leaves torch's choice alone.
    """
    check_int("seed", seed, low=0, high=SEED_LIMIT)
    check_choice("profile", profile, PROFILES)
    if threads is not None:
        torch.set_num_threads(check_int("threads", threads, low=1))
    chosen = pick_device(device)
    seed_everything(seed)
    use_course_style()
    return chosen


def show_results(results: dict[str, Any]) -> None:
    """Display ``results`` (a flat, JSON-serialisable dict) as the notebook's machine-readable output.

    Returns nothing, so a cell that ends with the call shows the table once.
    """
    if not isinstance(results, dict):
        raise invalid("results", results, "a dict of headline numbers")
    try:
        text = json.dumps(results, indent=1, sort_keys=True)
    except TypeError as error:
        raise invalid("results", results, f"JSON-serialisable values (floats, ints, strings, lists): {error}") from None
    from IPython.display import display  # the library imports IPython only when a notebook asks

    display({"application/json": results, "text/plain": text}, raw=True)


def check_budget(name: str, value: Number, *, cost: Callable[[Number], float], limit: float,
                 unit: str = "units of work", low: Number | None = None, why: str = "") -> Number:
    """Refuse ``value`` of parameter ``name`` when ``cost(value)`` exceeds ``limit``; return it otherwise.

    ``cost`` maps a value of this one parameter to the run's cost with every other parameter as given
    (a closure over them), and must not decrease as the value grows: steps × batch × model size, bytes
    allocated, ... The error names the largest value that fits (found by bisection from ``low``, default 0),
    so a learner knows what to ask for instead::

        epochs=1000000000 is invalid: expected an integer <= 1234 with the other parameters as given
        (it would need 8.1e+14 multiply-adds, over the limit of 1e+12 multiply-adds)

    Check the type and sign first (``optimlab.validation.check_int``); this function checks only the size.
    ``unit="bytes"`` prints amounts in MB/GB. ``why`` adds a reason to the message.

    Taught in: notebooks/00_start_here.ipynb (rerunning with papermill).
    """
    integer = isinstance(value, int) and not isinstance(value, bool)
    if not (integer or isinstance(value, Real)) or isinstance(value, bool) or not math.isfinite(value):
        raise invalid(name, value, "a finite number")
    needed = float(cost(value))
    if needed <= limit:
        return value
    kind = "an integer" if integer else "a number"
    amount = _bytes if unit == "bytes" else (lambda x: f"{x:.3g} {unit}")
    reason = f"it would need {amount(needed)}, over the limit of {amount(limit)}{', ' + why if why else ''}"
    floor = type(value)(0) if low is None else low
    if float(cost(floor)) > limit:
        raise invalid(name, value, f"{kind} that fits the budget, and none does: even {name}={floor!r} is too much "
                                   f"with the other parameters as given; make them smaller ({reason})")
    largest = _largest_within(cost, limit, floor, value, integer)
    shown = f"{largest}" if integer else f"{largest:.3g}"
    raise invalid(name, value, f"{kind} <= {shown} with the other parameters as given ({reason})")


def _largest_within(cost: Callable[[Any], float], limit: float, fits: Any, too_big: Any, integer: bool) -> Any:
    """Bisection for the largest value whose cost is within ``limit`` (cost(fits) fits, cost(too_big) does not)."""
    for _ in range(2000):
        if (too_big - fits <= 1) if integer else (too_big - fits <= 1e-6 * abs(too_big)):
            break
        middle = (fits + too_big) // 2 if integer else (fits + too_big) / 2
        if float(cost(middle)) <= limit:
            fits = middle
        else:
            too_big = middle
    return fits


def _bytes(amount: float) -> str:
    for size, name in ((2**30, "GB"), (2**20, "MB"), (2**10, "kB")):
        if amount >= size:
            return f"{amount / size:.3g} {name}"
    return f"{amount:.0f} bytes"


def check_memory(name: str, value: Number, *, nbytes: Callable[[Number], float], limit: float = MEMORY_LIMIT,
                 low: Number | None = None) -> Number:
    """:func:`check_budget` for memory: refuse ``value`` when ``nbytes(value)`` exceeds ``limit`` (1 GiB).

    ``nbytes`` estimates the largest allocation the run holds at once: for float32 tensors, 4 × elements.

    Taught in: notebooks/00_start_here.ipynb (rerunning with papermill).
    """
    return check_budget(name, value, cost=nbytes, limit=limit, unit="bytes", low=low)


def check_work(name: str, value: Number, *, cost: Callable[[Number], float], full: float,
               multiple: float = FULL_MULTIPLE, unit: str = "units of work", low: Number | None = None) -> Number:
    """:func:`check_budget` for time: refuse a run costing more than ``multiple`` × ``full``.

    ``full`` is ``cost``'s formula evaluated at the ``full`` profile's values, so the limit is machine-free:
    "at most 20 times the work of the full profile".

    Taught in: notebooks/00_start_here.ipynb (rerunning with papermill).
    """
    return check_budget(name, value, cost=cost, limit=multiple * full, unit=unit, low=low,
                        why=f"{multiple:g}x the 'full' profile's")


def check_run_budget(parameters: dict[str, Any], *, work: Callable[..., float] | None = None,
                     full_work: float | None = None, nbytes: Callable[..., float] | None = None,
                     multiple: float = FULL_MULTIPLE, unit: str = "multiply-adds",
                     reference: dict[str, float] | None = None) -> None:
    """Refuse a run whose parameters together need more than ~1 GB or ``multiple`` × the full profile's work.

    ``parameters`` maps each size parameter to its value or to ``(value, smallest legal value)``; ``work``
    and ``nbytes`` take them as keyword arguments and estimate the run's multiply-adds (count
    :data:`STEP_OVERHEAD` per optimizer step) and its peak bytes; ``full_work`` is ``work`` at the ``full``
    profile's values. The error blames a parameter that a smaller value would fix (the one furthest above its
    ``reference`` value, e.g. the full profile's, if given; else the first) and names the largest value that
    fits with the others as given; if none alone can, it names them all::

        check_run_budget({"steps": (steps, 20), "n_samples": (n_samples, 8)},
                         work=lambda steps, n_samples: steps * (STEP_OVERHEAD + 4 * n_samples),
                         full_work=200 * (STEP_OVERHEAD + 4 * 128), nbytes=lambda steps, n_samples: 32 * n_samples)

    Taught in: notebooks/00_start_here.ipynb (rerunning with papermill).
    """
    values = {k: (v[0] if isinstance(v, tuple) else v) for k, v in parameters.items()}
    lows = {k: (v[1] if isinstance(v, tuple) else None) for k, v in parameters.items()}
    checks: list[tuple[Callable[..., float], float, str, str]] = []
    if nbytes is not None:
        checks.append((nbytes, MEMORY_LIMIT, "bytes", ""))
    if work is not None:
        if full_work is None or not full_work > 0:
            raise invalid("full_work", full_work, "the work of the 'full' profile, a number > 0")
        checks.append((work, multiple * full_work, unit, f"{multiple:g}x the 'full' profile's"))
    failing = [check for check in checks if float(check[0](**values)) > check[1]]
    if not failing:
        return
    order = list(values)
    if reference:  # the parameter the rerun inflated most is the likeliest culprit
        order.sort(key=lambda k: -values[k] / reference[k] if reference.get(k) else 0.0)
    for name in order:  # the first parameter that alone can fix every failing check is blamed
        value = values[name]
        low = lows[name] if lows[name] is not None else type(value)(0)
        fixes = []
        for cost, limit, kind, why in failing:
            def alone(v: Any, name: str = name, cost: Callable[..., float] = cost) -> float:
                return float(cost(**{**values, name: v}))
            if alone(low) > limit:
                break
            fixes.append((_largest_within(alone, limit, low, value, isinstance(value, int)), alone, limit, kind, why))
        else:  # the tightest limit names the largest value
            _, alone, limit, kind, why = min(fixes, key=lambda fix: fix[0])
            check_budget(name, value, cost=alone, limit=limit, unit=kind, low=low, why=why)
    cost, limit, kind, why = failing[0]
    amount = _bytes if kind == "bytes" else (lambda x: f"{x:.3g} {kind}")
    shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
    raise ValueError(f"{shown} are invalid together: they would need {amount(float(cost(**values)))}, over the limit "
                     f"of {amount(limit)}{', ' + why if why else ''}; make them smaller")


class Claims:
    """Claims that were verified only for some parameter values: asserted there, reported elsewhere.

    ``verified`` maps each parameter to ``(value, low, high)`` (verified for low <= value <= high) or to
    ``(value, allowed)`` (a collection of verified values). When every parameter a claim depends on lies
    in its verified range, :meth:`check` asserts the claim; otherwise it prints, never silently::

        not checked for condition_number=300 (verified for 50..200): momentum needs fewer steps; here it holds
        (measured: 120 vs 300 steps)

    and the notebook runs on, so a rerun can explore values nobody verified. A claim checked only under
    the ``full`` profile (``full_only=True``) is reported the same way under ``profile="smoke"``.

    Taught in: notebooks/00_start_here.ipynb (rerunning with papermill).
    """

    def __init__(self, verified: dict[str, tuple], *, profile: str | None = None) -> None:
        if not isinstance(verified, dict):
            raise invalid("verified", verified, "a dict {parameter: (value, low, high) or (value, allowed values)}")
        self.verified: dict[str, tuple[Any, str, bool]] = {}
        for parameter, spec in verified.items():
            self.verified[parameter] = self._inside(parameter, spec)
        if profile is not None:
            check_choice("profile", profile, PROFILES)
        self.profile = profile
        self.checked: list[str] = []
        self.skipped: list[str] = []

    @staticmethod
    def _inside(parameter: str, spec: Any) -> tuple[Any, str, bool]:
        """(value, description of the verified range, whether the value lies in it)."""
        if isinstance(spec, tuple) and len(spec) == 3:
            value, low, high = spec
            inside = isinstance(value, Real) and not isinstance(value, bool) and low <= value <= high
            return value, f"{low:g}..{high:g}", bool(inside)
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Collection) \
                and not isinstance(spec[1], str):
            value, allowed = spec
            return value, ", ".join(repr(a) for a in allowed), value in allowed
        raise invalid(f"verified[{parameter!r}]", spec, "(value, low, high) or (value, [allowed values])")

    def outside(self, on: Iterable[str] | None = None) -> list[str]:
        """``name=value (verified for ...)`` for each parameter (of ``on``, default all) outside its range."""
        names = list(self.verified) if on is None else list(on)
        for parameter in names:
            if parameter not in self.verified:
                raise invalid("on", parameter, "names given to Claims: " + ", ".join(self.verified))
        return [f"{p}={self.verified[p][0]!r} (verified for {self.verified[p][1]})"
                for p in names if not self.verified[p][2]]

    def check(self, claim: str, holds: Any, *, measured: Any = None, on: Iterable[str] | None = None,
              full_only: bool = False) -> bool:
        """Assert ``holds`` if the parameters (of ``on``) lie in their verified ranges; else print a note.

        Returns True when the claim was checked (and held), False when it was reported as not checked.
        ``measured`` (the numbers behind the claim) goes into the note and into the assertion's message.
        ``holds`` and ``measured`` may be functions of no arguments, for claims about runs that only some
        values make (the ``full`` profile's 50-label run): where the claim is not checked and they cannot be
        evaluated, the note says so instead of the verdict.
        """
        if not isinstance(claim, str) or not claim:
            raise invalid("claim", claim, "a sentence saying what is claimed")
        reasons = self.outside(on)
        if full_only and self.profile != "full":
            reasons.append(f"profile={self.profile!r} (checked under 'full')")
        try:  # a claim about runs that only some values make is given as functions, measured only when possible
            holds = bool(holds() if callable(holds) else holds)
            measured = measured() if callable(measured) else measured
        except Exception as error:
            if not reasons:
                raise
            print(f"not checked for {', '.join(reasons)}: {claim}; not measurable here ({type(error).__name__}: "
                  f"{error})")
            self.skipped.append(claim)
            return False
        numbers = "" if measured is None else f" (measured: {measured})"
        if reasons:
            verdict = "holds" if holds else "does NOT hold"
            print(f"not checked for {', '.join(reasons)}: {claim}; here it {verdict}{numbers}")
            self.skipped.append(claim)
            return False
        assert holds, f"claim failed: {claim}{numbers}"
        self.checked.append(claim)
        return True
