"""Every notebook under its ``profile="full"`` parameters: the claims that only the full runs check.

Slow (minutes in all), so it runs only under ``make test-full`` (which sets ``OPTIMLAB_FULL=1``); ``make test``
runs every notebook with its fast defaults instead. The same target runs each worked-answer notebook whose
parameters cell defines ``run_long`` with ``run_long=True``: those answers quote numbers from longer runs, and this
is where the asserts behind the quotes run.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((NOTEBOOKS / "solutions").glob("*.ipynb"))

pytestmark = [
    pytest.mark.notebook,
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("OPTIMLAB_FULL"), reason="the full profiles take minutes: make test-full"),
]


def defines_run_long(path: Path) -> bool:
    """Whether the notebook's parameters cell has a ``run_long = ...`` line."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return any(line.split("=")[0].strip() == "run_long" for c in cells for line in c.source.splitlines())


LONG_ANSWERS = [path for path in SOLUTIONS if defines_run_long(path)]


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_full_profile_runs_and_every_claim_holds(path, tmp_path):
    papermill.execute_notebook(str(path), str(tmp_path / path.name), parameters={"profile": "full"},
                               kernel_name="python3", cwd=str(path.parent), progress_bar=False)


@pytest.mark.parametrize("path", LONG_ANSWERS, ids=lambda p: p.name)
def test_worked_answers_from_long_runs_hold(path, tmp_path):
    papermill.execute_notebook(str(path), str(tmp_path / path.name), parameters={"run_long": True},
                               kernel_name="python3", cwd=str(path.parent), progress_bar=False)
