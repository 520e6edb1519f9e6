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
from optimlab.optim.adafactor import Adafactor, adafactor_update
from optimlab.optim.adagrad import Adagrad, adagrad_update
from optimlab.optim.adamax import Adamax, adamax_update
from optimlab.optim.asgd import ASGD, asgd_update
from optimlab.optim.lamb import LAMB, lamb_update
from optimlab.optim.lars import LARS, lars_trust_ratio, lars_update, layer_adaptation_groups, trust_ratios
from optimlab.optim.lbfgs import LBFGS
from optimlab.optim.lion import Lion, lion_update
from optimlab.optim.lookahead import Lookahead
from optimlab.optim.muon import Muon, muon_update, newton_schulz
from optimlab.optim.muon_groups import MuonWithAdamW, muon_adamw_groups, split_muon_adamw
from optimlab.optim.nadam import NAdam, nadam_update
from optimlab.optim.radam import RAdam, radam_update
from optimlab.optim.rmsprop import RMSprop, rmsprop_update
from optimlab.optim.rprop import Rprop, rprop_update
from optimlab.optim.schedule_free import AdamWScheduleFree, SGDScheduleFree  # need optimizer.train() / .eval()
from optimlab.optim.sparse_adam import SparseAdam, sparse_adam_update

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
    "asgd": ASGD,
    "rprop": Rprop,
    "sparse_adam": SparseAdam,  # needs sparse gradients (nn.Embedding(sparse=True))
    "lbfgs": LBFGS,  # step(closure) re-evaluates the loss
    "adafactor": Adafactor,
    "muon": Muon,  # 2-D parameters only
    "lars": LARS,
    "lamb": LAMB,
    "sgd_schedule_free": SGDScheduleFree,  # call optimizer.train() before stepping, .eval() before evaluating
    "adamw_schedule_free": AdamWScheduleFree,
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
    "ASGD", "Adafactor", "LBFGS", "Muon", "Rprop", "SparseAdam", "adafactor_update", "asgd_update", "muon_update",
    "newton_schulz", "rprop_update", "sparse_adam_update",
    "LAMB", "LARS", "lamb_update", "lars_trust_ratio", "lars_update", "layer_adaptation_groups", "trust_ratios",
    "AdamWScheduleFree", "MuonWithAdamW", "SGDScheduleFree", "muon_adamw_groups", "split_muon_adamw",
]
