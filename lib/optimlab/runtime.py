"""Where the course runs (device) and how it makes randomness repeatable (seeds).

Taught in: notebooks/01_four_steps.ipynb.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from optimlab.validation import check_choice, check_int, invalid

DEVICES = ("auto", "cpu", "cuda")


def pick_device(preference: str = "auto") -> torch.device:
    """Return the device to train on: ``"auto"`` takes CUDA where one exists, else the CPU.

    Asking for ``"cuda"`` on a machine without one is an error, not a silent fall-back to the CPU.

    Taught in: notebooks/01_four_steps.ipynb.
    """
    check_choice("device", preference, DEVICES)
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise invalid("device", preference, "'cpu' or 'auto' on this machine: torch sees no CUDA device")
    return torch.device(preference)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and torch's global generators; return a fresh ``torch.Generator``.

    Library code never reads global randomness: pass the returned generator (or a seed) to whatever
    shuffles or initialises. Seeding the globals only keeps a notebook's own ad-hoc cells repeatable.

    Taught in: notebooks/01_four_steps.ipynb.
    """
    check_int("seed", seed, low=0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
