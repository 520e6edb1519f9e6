"""Every notebook under its ``profile="full"`` parameters: the claims that only the full runs check.

Slow (minutes in all), so it runs only under ``make test-full`` (which sets ``OPTIMLAB_FULL=1``); ``make test``
runs every notebook with its fast defaults instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import papermill
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

pytestmark = [
    pytest.mark.notebook,
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("OPTIMLAB_FULL"), reason="the full profiles take minutes: make test-full"),
]


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_full_profile_runs_and_every_claim_holds(path, tmp_path):
    papermill.execute_notebook(str(path), str(tmp_path / path.name), parameters={"profile": "full"},
                               kernel_name="python3", cwd=str(path.parent), progress_bar=False)
