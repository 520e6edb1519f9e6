"""Optimizers written from scratch, each equal step for step to its ``torch.optim`` namesake.

Every class subclasses ``torch.optim.Optimizer`` through :class:`optimlab.optim.base.Optimizer`, uses
torch's hyperparameter names, defaults and state keys, and has a plain-function form
(``sgd_update``, ``adam_update``, ...) that updates one tensor, for experiments without a model.

``OPTIMIZERS`` is the registry: adding an optimizer there enrols it in every generic test
(convergence, validation, state_dict round trips) and makes it available by name to notebooks.
"""

from __future__ import annotations

from typing import Any

import torch

from optimlab.optim.adam import Adam, AdamW, adam_update
from optimlab.optim.base import Optimizer
from optimlab.optim.sgd import SGD, sgd_update
from optimlab.validation import check_choice

# isort: split
# --- more algorithms: imports (keep one line per module) ---
from optimlab.optim.adadelta import Adadelta, adadelta_update
from optimlab.optim.adagrad import Adagrad, adagrad_update
from optimlab.optim.adamax import Adamax, adamax_update
from optimlab.optim.lion import Lion, lion_update
from optimlab.optim.lookahead import Lookahead
from optimlab.optim.nadam import NAdam, nadam_update
from optimlab.optim.radam import RAdam, radam_update
from optimlab.optim.rmsprop import RMSprop, rmsprop_update

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    # --- more algorithms: registry entries ---
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adadelta": Adadelta,
    "nadam": NAdam,
    "radam": RAdam,
    "adamax": Adamax,
    "lion": Lion,
    # Lookahead wraps another optimizer, so it is exported but not built by name.
}


def make_optimizer(name: str, params: Any, **hyperparameters: Any) -> torch.optim.Optimizer:
    """Build a registered optimizer by name, e.g. ``make_optimizer("adam", model.parameters(), lr=1e-3)``.

    An unknown name raises ``ValueError`` listing the registered ones.
    """
    check_choice("optimizer", name, OPTIMIZERS)
    return OPTIMIZERS[name](params, **hyperparameters)


__all__ = [
    "OPTIMIZERS", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Lion", "Lookahead", "NAdam", "Optimizer",
    "RAdam", "RMSprop", "SGD", "adadelta_update", "adagrad_update", "adam_update", "adamax_update", "lion_update",
    "make_optimizer", "nadam_update", "radam_update", "rmsprop_update", "sgd_update",
]
