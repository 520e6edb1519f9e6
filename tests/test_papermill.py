"""Notebooks rerun under papermill with other parameters, from another folder; a bad parameter names itself."""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest

pytestmark = pytest.mark.notebook  # every test here starts a kernel and runs (part of) a notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# (notebook, non-default parameters). Notebooks join this list as they are written.
RERUNS = [
    ("00_start_here.ipynb", {"seed": 3, "profile": "full"}),
    ("08_two_optimizers_gan.ipynb", {"seed": 3, "steps": 700, "compare_beta1": 0.95, "compare_seeds": 3}),
    ("01_four_steps.ipynb", {"seed": 2, "lr": 0.3, "n_features": 5, "huge_lr": 4.0}),
    ("02_parameters.ipynb", {"seed": 1, "hidden": 8, "n_centers": 12, "lr": 0.02}),
    ("03_optimizer_anatomy.ipynb", {"seed": 4, "momentum": 0.5, "weight_decay": 0.0, "steps": 30}),
    ("04_sgd_momentum_nesterov.ipynb", {"seed": 3, "condition_number": 60.0, "momentum": 0.85, "tol": 1e-4}),
    # far outside the verified ranges (κ 50..200, β 0.8..0.95): runs, and marks the claims it cannot vouch for
    ("04_sgd_momentum_nesterov.ipynb", {"condition_number": 3.0, "momentum": 0.99, "tol": 1e-8}),
    ("05_adaptive_methods.ipynb", {"seed": 2, "microscope_optimizers": ["adagrad", "nadam", "radam"],
                                   "weight_decay": 0.05, "steps": 120}),
    ("06_hyperparameters_lr_finder.ipynb", {"seed": 2, "range_steps": 120}),
    ("07_parameter_groups.ipynb", {"seed": 3, "weight_decay": 0.5, "highest_lr": 0.2, "lowest_lr": 0.005,
                                   "early_multiplier": 0.05}),
    ("10_schedulers_in_training.ipynb", {"seed": 1, "peak_lr": 1.0}),
    ("09_schedulers.ipynb", {"seed": 3, "profile": "full", "base_lr": 0.5, "min_lr": 0.01, "epochs": 12,
                             "batches_per_epoch": 5, "resume_step": 7}),
    ("12_capstone_sweep.ipynb", {"seed": 1, "optimizers": ["momentum"], "lr_multipliers": [1.0, 10.0]}),
    ("11_transfer_learning.ipynb", {"seed": 3, "labels_per_class": 4, "backbone_lr": 5e-5, "head_lr": 8e-3}),
    ("trials/digits_trial.ipynb", {"seed": 2, "optimizer": "adam", "schedule": "onecycle", "seeds": 2, "epochs": 2}),
]
BAD = [
    ("00_start_here.ipynb", {"profile": "fast"}, "profile='fast'"),
    ("08_two_optimizers_gan.ipynb", {"d_lr": -1e-3}, "d_lr=-0.001"),
    ("01_four_steps.ipynb", {"lr": 5.0}, "lr=5.0"),
    ("02_parameters.ipynb", {"hidden": 0}, "hidden=0"),
    ("03_optimizer_anatomy.ipynb", {"momentum": 1.5}, "momentum=1.5"),
    ("04_sgd_momentum_nesterov.ipynb", {"momentum": 1.2}, "momentum=1.2"),
    ("04_sgd_momentum_nesterov.ipynb", {"momentum": 0.0}, "momentum=0.0"),   # Nesterov needs β > 0
    ("05_adaptive_methods.ipynb", {"microscope_optimizers": ["adam", "lion"]},
     "microscope_optimizers=['adam', 'lion']"),
    ("06_hyperparameters_lr_finder.ipynb", {"range_end_lr": 1e-5}, "range_end_lr=1e-05"),
    ("07_parameter_groups.ipynb", {"lowest_lr": 0.5}, "lowest_lr=0.5"),
    ("10_schedulers_in_training.ipynb", {"peak_lr": 0.0}, "peak_lr=0.0"),
    ("09_schedulers.ipynb", {"min_lr": 0.5}, "min_lr=0.5"),
    ("12_capstone_sweep.ipynb", {"schedules": ["constant", "linear"]}, "schedules=['constant', 'linear']"),
    ("11_transfer_learning.ipynb", {"labels_per_class": 0}, "labels_per_class=0"),
    ("trials/digits_trial.ipynb", {"batch_size": 899}, "batch_size=899"),
]
# Values outside a notebook's verified range (08's d_lr=1e-3, 10's peak_lr=0.3, 11's backbone_lr=1e-3) now run and
# mark the claims they skip: tests/test_rerun.py and tests/test_notebook_budgets.py check that.


def _results(executed: Path) -> dict:
    nb = json.loads(executed.read_text())
    cell = next(c for c in nb["cells"] if "results" in c["metadata"].get("tags", []))
    return next(o["data"]["application/json"] for o in cell["outputs"] if "application/json" in o.get("data", {}))


@pytest.mark.parametrize("name,parameters", RERUNS, ids=[r[0] for r in RERUNS])
def test_rerun_with_other_parameters_from_another_folder(name, parameters, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # papermill started far from the repository
    output = tmp_path / Path(name).name  # trials/digits_trial.ipynb: no trials/ folder under tmp_path
    papermill.execute_notebook(str(NOTEBOOKS / name), str(output), parameters=parameters,
                               kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    assert isinstance(_results(output), dict)


@pytest.mark.parametrize("name,parameters,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_parameter_fails_with_its_name(name, parameters, expected, tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(str(NOTEBOOKS / name), str(tmp_path / Path(name).name), parameters=parameters,
                                   kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    assert failure.value.ename == "ValueError"
    assert expected in failure.value.evalue
