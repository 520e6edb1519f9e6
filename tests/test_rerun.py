"""Reruns that run the right thing: misspelt names refused before a kernel starts, every parameter visible to
papermill, a rerun outside the verified range that runs and says which claims it skipped, notebook 12 from any
folder and when every trial fails. Runs write only under tmp_path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import papermill
import pytest

from optimlab.tools.rerun import main, rerun
from optimlab.tools.sweep import read_results

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CORE = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if int(p.name[:2]) <= 12) + [
    "trials/digits_trial.ipynb"]


def _outputs(executed: Path) -> str:
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    return "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []))


@pytest.mark.parametrize("name", CORE)
def test_papermill_sees_every_name_the_parameters_cell_assigns(name):
    # papermill skips a line it cannot parse (an '=' inside a comment): -p NAME would then be refused or ignored
    cells = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))["cells"]
    source = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["source"])
    assigned = [line.split("=")[0].strip() for line in source.splitlines() if re.match(r"^\w+\s*=", line)]
    assert list(papermill.inspect_notebook(str(NOTEBOOKS / name))) == assigned


def test_a_misspelt_name_is_refused_before_anything_runs(tmp_path, capsys):
    output = tmp_path / "out.ipynb"
    with pytest.raises(SystemExit) as refused:
        main([str(NOTEBOOKS / "01_four_steps.ipynb"), str(output), "-p", "epochz", "1"])
    assert refused.value.code == 2 and not output.exists()
    assert "parameters=['epochz'] is invalid: expected names from the notebook's parameters cell (seed, " \
        in capsys.readouterr().err


@pytest.mark.parametrize("output", ["same", "text.txt"])
def test_the_output_may_not_be_the_notebook_itself(output, tmp_path):
    notebook = tmp_path / "copy.ipynb"
    notebook.write_bytes((NOTEBOOKS / "00_start_here.ipynb").read_bytes())
    with pytest.raises(ValueError, match=r"^output=.* is invalid: expected a new \.ipynb path"):
        rerun(notebook, notebook if output == "same" else tmp_path / output, {"seed": 1})


@pytest.mark.notebook
def test_a_rerun_runs_with_its_values_and_a_bad_value_fails_by_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # any working folder; the trial notebook lives in notebooks/trials/
    trial = str(NOTEBOOKS / "trials" / "digits_trial.ipynb")
    assert main([trial, "runs/ok.ipynb", "-p", "seed", "3", "-p", "epochs", "1", "-p", "seeds", "2"]) == 0
    cells = json.loads((tmp_path / "runs/ok.ipynb").read_text())["cells"]
    injected = next(c for c in cells if "injected-parameters" in c["metadata"].get("tags", []))
    assert "seed = 3" in "".join(injected["source"]) and "accuracy_mean" in read_results(tmp_path / "runs/ok.ipynb")
    assert main([trial, "runs/bad.ipynb", "-p", "seed", "4294967296"]) == 1
    assert "ValueError: seed=4294967296 is invalid: expected an integer in [0, 4294967295]" in capsys.readouterr().err


@pytest.mark.notebook
def test_a_rerun_outside_the_verified_range_runs_to_the_end_and_marks_the_claims_it_skipped(tmp_path):
    output = rerun(NOTEBOOKS / "04_sgd_momentum_nesterov.ipynb", tmp_path / "04.ipynb", {"condition_number": 300.0})
    printed = _outputs(output)
    assert "not checked for condition_number=300.0 (verified for 50..200), steps=2400 (verified for 400..1600): " \
           "momentum reaches the quadratic's minimum in fewer steps than plain SGD; here it holds (measured: " \
           in printed
    assert read_results(output)["condition_number"] == 300.0  # it ran to the end


@pytest.mark.notebook
def test_notebook_12_from_another_folder_says_when_no_trial_succeeded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweeps = tmp_path / "sweeps"
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        # the kernel starts in tmp_path, not in notebooks/: the trial notebook is found through optimlab.paths
        papermill.execute_notebook(str(NOTEBOOKS / "12_capstone_sweep.ipynb"), str(tmp_path / "12.ipynb"),
                                   parameters={"optimizers": ["momentum"], "schedules": ["constant"],
                                               "lr_multipliers": [1e5], "seeds": 2, "epochs": 1, "jobs": 1,
                                               "out_dir": str(sweeps)},
                                   kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    assert failure.value.ename == "RuntimeError"
    assert failure.value.evalue.startswith("no trial succeeded: all 1 runs failed (run 1: DivergenceError: ")
    assert len(list(sweeps.glob("capstone-smoke-*/run-001_*.ipynb"))) == 1
