"""Notebooks rerun under papermill with other parameters, from another folder; a bad parameter names itself."""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# (notebook, non-default parameters). Notebooks join this list as they are written.
RERUNS = [
    ("00_start_here.ipynb", {"seed": 3, "profile": "full"}),
]
BAD = [
    ("00_start_here.ipynb", {"profile": "fast"}, "profile='fast'"),
]


def _results(executed: Path) -> dict:
    nb = json.loads(executed.read_text())
    cell = next(c for c in nb["cells"] if "results" in c["metadata"].get("tags", []))
    return next(o["data"]["application/json"] for o in cell["outputs"] if "application/json" in o.get("data", {}))


@pytest.mark.parametrize("name,parameters", RERUNS, ids=[r[0] for r in RERUNS])
def test_rerun_with_other_parameters_from_another_folder(name, parameters, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # papermill started far from the repository
    output = tmp_path / name
    papermill.execute_notebook(str(NOTEBOOKS / name), str(output), parameters=parameters,
                               kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    assert isinstance(_results(output), dict)


@pytest.mark.parametrize("name,parameters,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_parameter_fails_with_its_name(name, parameters, expected, tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(str(NOTEBOOKS / name), str(tmp_path / name), parameters=parameters,
                                   kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    assert failure.value.ename == "ValueError"
    assert expected in failure.value.evalue
