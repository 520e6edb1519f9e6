"""optimlab.notebook's rerun guards: budgets that refuse by name, claims checked only where verified; and every
notebook's validation cell using them (issue 18's list of values that hung or exhausted memory)."""

import json
import os
import re
import time
from pathlib import Path

import pytest
import torch

from optimlab.notebook import (
    MEMORY_LIMIT,
    STEP_OVERHEAD,
    Claims,
    check_budget,
    check_memory,
    check_run_budget,
    check_work,
    setup_notebook,
)


def test_budget_accepts_a_value_within_the_limit_and_returns_it():
    assert check_budget("steps", 100, cost=lambda s: 10 * s, limit=1000) == 100


def test_budget_refusal_names_the_parameter_its_value_and_the_largest_value_that_fits():
    with pytest.raises(ValueError, match=r"^steps=1000000000 is invalid: expected an integer <= 100 with the other "
                                         r"parameters as given \(it would need 1e\+10 steps, over the limit of 1e\+03"):
        check_budget("steps", 10**9, cost=lambda s: 10 * s, limit=1000, unit="steps")


@pytest.mark.parametrize("limit", [999, 1000, 1001, 12_345])
def test_the_largest_value_named_is_exactly_the_largest_that_fits(limit):
    cost = lambda n: n * n + 3  # noqa: E731
    with pytest.raises(ValueError) as refused:
        check_budget("n", 10**6, cost=cost, limit=limit)
    largest = int(str(refused.value).split("<= ")[1].split()[0])
    assert cost(largest) <= limit < cost(largest + 1)


def test_float_budget_names_a_largest_value_that_fits():
    with pytest.raises(ValueError, match=r"^scale=1e\+300 is invalid: expected a number <= 2.5 "):
        check_budget("scale", 1e300, cost=lambda x: 4 * x, limit=10.0)


def test_budget_says_when_no_value_fits_because_of_the_other_parameters():
    with pytest.raises(ValueError, match=r"^epochs=5 .*none does: even epochs=1 is too much"):
        check_budget("epochs", 5, cost=lambda e: 10**9 * e, limit=10, low=1)


@pytest.mark.parametrize("bad", ["10", None, float("inf"), True])
def test_budget_refuses_values_that_are_not_finite_numbers(bad):
    with pytest.raises(ValueError, match=r"is invalid: expected a finite number"):
        check_budget("epochs", bad, cost=lambda e: 0, limit=1)


def test_memory_budget_is_one_gigabyte_and_prints_sizes_in_gigabytes():
    assert check_memory("hidden", 1000, nbytes=lambda h: 4 * 1000 * h) == 1000
    with pytest.raises(ValueError, match=r"^hidden=2000000 .*<= 268435 .*it would need 7.45 GB, over the limit of "
                                         r"1 GB"):
        check_memory("hidden", 2_000_000, nbytes=lambda h: 4 * 1000 * h)
    assert MEMORY_LIMIT == 2**30


def test_work_budget_is_a_multiple_of_the_full_profile():
    assert check_work("epochs", 20 * 300, cost=lambda e: 7 * e, full=7 * 300) == 6000
    with pytest.raises(ValueError, match=r"^epochs=6001 is invalid: expected an integer <= 6000 .*20x the 'full'"):
        check_work("epochs", 6001, cost=lambda e: 7 * e, full=7 * 300)


@pytest.mark.parametrize("seed", [2**32, -1, 1.5])
def test_setup_notebook_refuses_seeds_numpy_cannot_take_with_the_course_message(seed):
    with pytest.raises(ValueError, match=r"^seed=.* is invalid: expected an integer in \[0, 4294967295\]"):
        setup_notebook(seed=seed)


def test_claims_assert_inside_the_verified_range(capsys):
    claims = Claims({"condition_number": (100.0, 50, 200), "labels": (4, [3, 4, 5])})
    assert claims.check("momentum needs fewer steps", True) is True
    with pytest.raises(AssertionError, match=r"claim failed: momentum needs fewer steps \(measured: 9 vs 5\)"):
        claims.check("momentum needs fewer steps", False, measured="9 vs 5")
    assert capsys.readouterr().out == ""


def test_claims_outside_the_verified_range_run_on_and_say_so(capsys):
    claims = Claims({"condition_number": (300.0, 50, 200), "momentum": (0.9, 0.8, 0.95)})
    assert claims.check("momentum needs fewer steps", False, measured="9 vs 5") is False
    out = capsys.readouterr().out
    assert out == ("not checked for condition_number=300.0 (verified for 50..200): momentum needs fewer steps; "
                   "here it does NOT hold (measured: 9 vs 5)\n")
    assert claims.skipped == ["momentum needs fewer steps"] and claims.checked == []


def test_claims_on_a_subset_ignore_parameters_the_claim_does_not_depend_on(capsys):
    claims = Claims({"condition_number": (300.0, 50, 200), "momentum": (0.9, 0.8, 0.95)})
    assert claims.check("a claim about momentum", True, on=["momentum"]) is True
    with pytest.raises(AssertionError):
        claims.check("a claim about momentum", False, on=["momentum"])
    with pytest.raises(ValueError, match=r"^on='beta' is invalid"):
        claims.check("typo", True, on=["beta"])


def test_claims_with_allowed_values_and_full_only_claims(capsys):
    claims = Claims({"labels_per_class": (7, [3, 4, 5])}, profile="smoke")
    assert claims.check("few labels: differential wins", True) is False
    assert "not checked for labels_per_class=7 (verified for 3, 4, 5): few labels" in capsys.readouterr().out
    smoke = Claims({"labels_per_class": (4, [3, 4, 5])}, profile="smoke")
    assert smoke.check("five seeds agree", False, full_only=True) is False
    assert "not checked for profile='smoke' (checked under 'full'): five seeds agree; here it does NOT hold" \
        in capsys.readouterr().out
    full = Claims({"labels_per_class": (4, [3, 4, 5])}, profile="full")
    with pytest.raises(AssertionError):
        full.check("five seeds agree", False, full_only=True)


def test_claims_refuse_a_malformed_range():
    with pytest.raises(ValueError, match=r"^verified\['k'\]=\(1, 2\) is invalid"):
        Claims({"k": (1, 2)})


def _work(steps, n_samples):
    return steps * (STEP_OVERHEAD + 4 * n_samples)


def _nbytes(steps, n_samples):
    return 32 * n_samples


def test_run_budget_accepts_the_full_profile_and_twenty_times_its_work():
    full = _work(200, 128)
    check_run_budget({"steps": (200, 20), "n_samples": (128, 8)}, work=_work, full_work=full, nbytes=_nbytes)
    check_run_budget({"steps": (4000, 20), "n_samples": (128, 8)}, work=_work, full_work=full, nbytes=_nbytes)


def test_run_budget_blames_the_parameter_a_smaller_value_would_fix():
    full = _work(200, 128)
    with pytest.raises(ValueError, match=r"^steps=1000000000 is invalid: expected an integer <= 4000 "):
        check_run_budget({"steps": (10**9, 20), "n_samples": (128, 8)}, work=_work, full_work=full, nbytes=_nbytes)
    # no steps >= 20 can fix n_samples=10**8: n_samples is blamed, with the tighter of the two limits (work here)
    with pytest.raises(ValueError, match=r"^n_samples=100000000 is invalid: expected an integer <= 2487800 .*multiply"):
        check_run_budget({"steps": (40, 20), "n_samples": (10**8, 8)}, work=_work, full_work=full, nbytes=_nbytes)
    # ... and with memory when memory is the tighter: 1000 bytes a sample allows 1073741 samples
    with pytest.raises(ValueError, match=r"^n_samples=100000000 is invalid: expected an integer <= 1073741 .*GB"):
        check_run_budget({"steps": (40, 20), "n_samples": (10**8, 8)}, work=_work, full_work=full,
                         nbytes=lambda steps, n_samples: 1000 * n_samples)


def test_run_budget_names_every_parameter_when_none_alone_can_fix_it():
    with pytest.raises(ValueError, match=r"^steps=1000000000, n_samples=100000000 are invalid together: .*make them"):
        check_run_budget({"steps": (10**9, 20), "n_samples": (10**8, 8)}, work=_work, full_work=_work(200, 128))


def test_claims_given_as_functions_are_measured_only_when_possible(capsys):
    runs = {3: 0.1}  # the smoke profile made no 50-label run
    smoke = Claims({"k": (3, 1, 5)}, profile="smoke")
    assert smoke.check("at 50 labels scratch wins", lambda: runs[50] > 0, full_only=True) is False
    assert "not checked for profile='smoke' (checked under 'full'): at 50 labels scratch wins; not measurable here " \
           "(KeyError: 50)" in capsys.readouterr().out
    full = Claims({"k": (3, 1, 5)}, profile="full")
    with pytest.raises(KeyError):  # where the claim must be checked, a missing run is an error, not a skip
        full.check("at 50 labels scratch wins", lambda: runs[50] > 0, full_only=True)
    assert full.check("at 3 labels", lambda: runs[3] > 0, measured=lambda: runs[3]) is True


# --- Every notebook's validation cell: runs its parameters cell, the overrides (as papermill injects them) and the
# validation cell, in this process (no kernel: a refusal must come before any work, so this is the same code path).

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if int(p.name[:2]) <= 12) + [
    "trials/digits_trial.ipynb"]  # the core course; the advanced track (13-15) guards its own parameters


def validate(name: str, **overrides) -> dict:
    """Execute the notebook's parameters cell, ``overrides`` and its validation cell; return the namespace."""
    path = NOTEBOOKS / name
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    index = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    injected = "".join(f"{key} = {value!r}\n" for key, value in overrides.items())
    source = "".join(cells[index]["source"]) + "\n" + injected + "".join(cells[index + 1]["source"])
    namespace: dict = {}
    here = os.getcwd()
    os.chdir(path.parent)  # where papermill, nbval and JupyterLab run it
    try:
        exec(compile(source, str(path), "exec"), namespace)
    finally:
        os.chdir(here)
        torch.set_num_threads(THREADS)
    return namespace


THREADS = torch.get_num_threads()


@pytest.mark.parametrize("profile", ["smoke", "full"])
@pytest.mark.parametrize("name", ALL)
def test_every_notebook_accepts_its_own_profiles(name, profile):
    validate(name, profile=profile)


# issue 18's list, and the same kind of value for every notebook's other size parameters
REFUSED = [
    ("01_four_steps.ipynb", {"steps": 10**9}, r"steps=1000000000 .*<= \d+ "),
    ("01_four_steps.ipynb", {"n_samples": 10**8}, r"n_samples=100000000 .*<= \d+ "),
    ("01_four_steps.ipynb", {"n_features": 10**5}, r"n_features=100000 .*<= \d+ "),
    ("02_parameters.ipynb", {"epochs": 10**9}, r"epochs=1000000000 .*<= \d+ "),
    ("02_parameters.ipynb", {"hidden": 10**8}, r"hidden=100000000 .*<= \d+ "),
    ("03_optimizer_anatomy.ipynb", {"steps": 10**9}, r"steps=1000000000 .*<= \d+ "),
    ("04_sgd_momentum_nesterov.ipynb", {"steps": 10**9}, r"steps=1000000000 .*<= \d+ "),
    ("04_sgd_momentum_nesterov.ipynb", {"condition_number": 1e9}, r"condition_number=1000000000.0 .*<= [\d.e+]+ "),
    ("05_adaptive_methods.ipynb", {"steps": 10**9}, r"steps=1000000000 .*<= \d+ "),
    ("05_adaptive_methods.ipynb", {"gallery_steps": 10**9}, r"gallery_steps=1000000000 .*<= \d+ "),
    ("06_hyperparameters_lr_finder.ipynb", {"epochs": 10**9}, r"epochs=1000000000 .*<= \d+ "),
    ("06_hyperparameters_lr_finder.ipynb", {"range_steps": 10**9}, r"range_steps=1000000000 .*<= \d+ "),
    ("06_hyperparameters_lr_finder.ipynb", {"hidden": 2_000_000}, r"hidden=2000000 .*<= \d+ "),
    ("06_hyperparameters_lr_finder.ipynb", {"batch_size": 100000}, r"batch_size=100000 .*in \[1, 898\]"),
    ("06_hyperparameters_lr_finder.ipynb", {"range_end_lr": 1e308}, r"range_end_lr=1e\+308 .*1000000.0\]"),
    ("06_hyperparameters_lr_finder.ipynb", {"seed": 2**32}, r"seed=4294967296 .*\[0, 4294967295\]"),
    ("08_two_optimizers_gan.ipynb", {"steps": 10**9}, r"steps=1000000000 .*<= \d+ "),
    ("08_two_optimizers_gan.ipynb", {"batch_size": 10**7}, r"batch_size=10000000 .*<= \d+ .*GB"),
    ("10_schedulers_in_training.ipynb", {"epochs": 10**9}, r"epochs=1000000000 .*<= \d+ "),
    ("11_transfer_learning.ipynb", {"steps": 10**9}, r"steps=1000000000 .*<= \d+ "),
    ("11_transfer_learning.ipynb", {"labels_per_class": 88}, r"labels_per_class=88 .*\[1, 87\]"),
    ("12_capstone_sweep.ipynb", {"epochs": 10**9}, r"epochs=1000000000 .*<= \d+ "),
    ("12_capstone_sweep.ipynb", {"seeds": 10**6}, r"seeds=1000000 .*<= \d+ "),
    ("12_capstone_sweep.ipynb", {"lr_multipliers": [1.0] * 10**4}, r"lr_multipliers='\[10000 values\]' .*fewer"),
    ("trials/digits_trial.ipynb", {"seeds": 10**6}, r"seeds=1000000 .*<= \d+ "),
    ("trials/digits_trial.ipynb", {"hidden": 2_000_000}, r"hidden=2000000 .*<= \d+ "),
    ("trials/digits_trial.ipynb", {"seed": 2**32 - 2}, r"seed=4294967294 .*\[0, 4294967293\]"),
]


@pytest.mark.parametrize("name,overrides,message", REFUSED, ids=[f"{n[:2]}-{next(iter(o))}" for n, o, _ in REFUSED])
def test_a_value_that_cannot_run_is_refused_fast_by_name(name, overrides, message):
    started = time.perf_counter()
    with pytest.raises(ValueError, match="^" + message):
        validate(name, **overrides)
    assert time.perf_counter() - started < 10  # refused before any work (imports and a data file at most)


@pytest.mark.parametrize("name,parameter,value", [
    ("01_four_steps.ipynb", "steps", 10**9), ("06_hyperparameters_lr_finder.ipynb", "hidden", 2_000_000),
    ("12_capstone_sweep.ipynb", "seeds", 10**6)])
def test_the_largest_value_a_refusal_names_is_accepted(name, parameter, value):
    with pytest.raises(ValueError) as refused:
        validate(name, **{parameter: value})
    largest = int(re.search(r"<= (\d+) ", str(refused.value)).group(1))
    validate(name, **{parameter: largest})
    with pytest.raises(ValueError, match=f"^{parameter}={largest + 1} "):
        validate(name, **{parameter: largest + 1})


@pytest.mark.parametrize("name,overrides,outside", [
    ("04_sgd_momentum_nesterov.ipynb", {"condition_number": 300.0}, "condition_number=300.0 (verified for 50..200)"),
    ("11_transfer_learning.ipynb", {"labels_per_class": 10}, "labels_per_class=10 (verified for 3..5)"),
    ("10_schedulers_in_training.ipynb", {"peak_lr": 0.3}, "peak_lr=0.3 (verified for 0.7..1)"),
    ("08_two_optimizers_gan.ipynb", {"d_lr": 1e-3}, "d_lr=0.001 (verified for 0.002..0.01)"),
])
def test_a_value_outside_the_verified_range_runs_with_its_claims_marked(name, overrides, outside):
    claims = validate(name, **overrides)["claims"]
    assert outside in claims.outside()


def test_run_budget_blames_the_parameter_furthest_above_its_reference():
    # hidden just over its largest: lowering epochs would also fit, but hidden is what the rerun inflated
    def work(epochs, hidden):
        return epochs * hidden

    with pytest.raises(ValueError, match=r"^hidden=101 is invalid: expected an integer <= 100 "):
        check_run_budget({"epochs": (8, 1), "hidden": (101, 1)}, work=lambda epochs, hidden: work(epochs, hidden),
                         full_work=8 * 100 / 20, reference={"epochs": 8, "hidden": 32})
    with pytest.raises(ValueError, match=r"^epochs=8 is invalid: expected an integer <= 7 "):  # without: dict order
        check_run_budget({"epochs": (8, 1), "hidden": (101, 1)}, work=work, full_work=8 * 100 / 20)
