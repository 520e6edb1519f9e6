"""What every course notebook does at the top and at the bottom.

- :func:`setup_notebook` validates the common papermill parameters (seed, device, profile, threads),
  applies the course's figure style, seeds, and returns the device.
- :func:`show_results` displays the notebook's headline numbers as JSON in the cell tagged
  ``results``, where sweeps (``python -m optimlab.tools.sweep``) read them back.

Taught in: notebooks/00_start_here.ipynb.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from optimlab.runtime import pick_device, seed_everything
from optimlab.style import use_course_style
from optimlab.validation import check_choice, check_int, invalid

PROFILES = ("smoke", "full")


def setup_notebook(*, seed: int, device: str = "auto", profile: str = "smoke", threads: int | None = 1) -> torch.device:
    """Validate the shared parameters, style figures, seed every generator; return the device.

    ``threads=1`` is the default because small models train several times faster on one thread of a
    busy 2-core machine than on two; ``None`` leaves torch's choice alone.
    """
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
