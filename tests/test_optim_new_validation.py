"""ASGD, Rprop, SparseAdam, LBFGS, Adafactor and Muon refuse bad hyperparameters with the course's ValueError
(``name=value is invalid: expected ...``), for every argument they add; the edges of each range are accepted.

Where torch checks an argument, our rule is torch's; where torch does not (ASGD's lambd, Rprop's step_sizes,
LBFGS's counts, Muon's momentum < 1), the rule refuses only values that cannot work (see each optimizer's docstring).
"""

from __future__ import annotations

import math
import re

import pytest
import torch

from optimlab import optim as ours


def _param(shape=(2,)):
    return [torch.zeros(shape, requires_grad=True)]


def _message(name, value):
    return "^" + re.escape(f"{name}={value!r} is invalid: expected")


MATRIX = (2, 3)  # Muon takes 2-D parameters only

# (class, bad keyword arguments, the argument the message names, its value)
RULES = [
    (ours.ASGD, dict(lambd=-1e-4), "lambd", -1e-4),
    (ours.ASGD, dict(alpha=-0.75), "alpha", -0.75),
    (ours.ASGD, dict(t0=-1.0), "t0", -1.0),
    (ours.ASGD, dict(t0=math.inf), "t0", math.inf),
    (ours.ASGD, dict(weight_decay=-0.1), "weight_decay", -0.1),
    (ours.Rprop, dict(etas=(1.2, 0.5)), "etas", (1.2, 0.5)),
    (ours.Rprop, dict(etas=(0.0, 1.2)), "etas", (0.0, 1.2)),
    (ours.Rprop, dict(etas=(0.5, 1.0)), "etas", (0.5, 1.0)),
    (ours.Rprop, dict(etas=(0.5,)), "etas", (0.5,)),
    (ours.Rprop, dict(step_sizes=(1.0, 1e-6)), "step_sizes", (1.0, 1e-6)),
    (ours.Rprop, dict(step_sizes=(-1e-6, 50)), "step_sizes", (-1e-6, 50)),
    (ours.SparseAdam, dict(lr=0.0), "lr", 0.0),
    (ours.SparseAdam, dict(eps=0.0), "eps", 0.0),
    (ours.SparseAdam, dict(betas=(1.0, 0.999)), "betas[0]", 1.0),
    (ours.SparseAdam, dict(betas=(0.9, -0.1)), "betas[1]", -0.1),
    (ours.LBFGS, dict(max_iter=0), "max_iter", 0),
    (ours.LBFGS, dict(max_iter=2.5), "max_iter", 2.5),
    (ours.LBFGS, dict(max_eval=0), "max_eval", 0),
    (ours.LBFGS, dict(tolerance_grad=-1e-7), "tolerance_grad", -1e-7),
    (ours.LBFGS, dict(tolerance_change=-1e-9), "tolerance_change", -1e-9),
    (ours.LBFGS, dict(history_size=0), "history_size", 0),
    (ours.LBFGS, dict(line_search_fn="wolfe"), "line_search_fn", "wolfe"),
    (ours.Adafactor, dict(beta2_decay=0.5), "beta2_decay", 0.5),  # torch: must be <= 0
    (ours.Adafactor, dict(eps=(-1e-30, 1e-3)), "eps[0]", -1e-30),
    (ours.Adafactor, dict(eps=(None, -1e-3)), "eps[1]", -1e-3),
    (ours.Adafactor, dict(eps=1e-3), "eps", 1e-3),
    (ours.Adafactor, dict(d=0.5), "d", 0.5),
    (ours.Adafactor, dict(weight_decay=-0.1), "weight_decay", -0.1),
    (ours.Muon, dict(momentum=-0.1), "momentum", -0.1),
    (ours.Muon, dict(momentum=1.0), "momentum", 1.0),
    (ours.Muon, dict(weight_decay=-0.1), "weight_decay", -0.1),
    (ours.Muon, dict(nesterov="yes"), "nesterov", "yes"),
    (ours.Muon, dict(ns_coefficients=(1.0, 2.0)), "ns_coefficients", (1.0, 2.0)),
    (ours.Muon, dict(ns_coefficients=(1.0, 2.0, math.nan)), "ns_coefficients", (1.0, 2.0, math.nan)),
    (ours.Muon, dict(eps=0.0), "eps", 0.0),
    (ours.Muon, dict(ns_steps=100), "ns_steps", 100),  # torch: must be < 100
    (ours.Muon, dict(ns_steps=-1), "ns_steps", -1),
    (ours.Muon, dict(adjust_lr_fn="rms"), "adjust_lr_fn", "rms"),
]


@pytest.mark.parametrize("cls,kwargs,name,value", RULES,
                         ids=[f"{c.__name__}-{'-'.join(k)}={v}" for c, k, _, v in RULES])
def test_bad_hyperparameter_raises_naming_argument_and_value(cls, kwargs, name, value):
    shape = MATRIX if cls is ours.Muon else (2,)
    with pytest.raises(ValueError, match=_message(name, value)):
        cls(_param(shape), **kwargs)


FIRST_RULE_OF_EACH = [next(rule for rule in RULES if rule[0] is cls) for cls in dict.fromkeys(r[0] for r in RULES)]


@pytest.mark.parametrize("cls,kwargs,name,value", FIRST_RULE_OF_EACH,
                         ids=[f"{c.__name__}-{'-'.join(k)}" for c, k, _, _ in FIRST_RULE_OF_EACH])
def test_a_bad_value_in_a_param_group_is_refused_too(cls, kwargs, name, value):
    shape = MATRIX if cls is ours.Muon else (2,)
    with pytest.raises(ValueError, match=_message(name, value)):
        cls([{"params": _param(shape), **kwargs}])


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (ours.ASGD, dict(lr=0.0, lambd=0.0, alpha=0.0, t0=0.0, weight_decay=0.0)),
        (ours.Rprop, dict(lr=0.0, etas=(1e-9, 1.0 + 1e-9), step_sizes=(0.0, 0.0))),
        (ours.SparseAdam, dict(lr=1e-12, betas=(0.0, 0.0), eps=1e-30)),
        (ours.LBFGS, dict(lr=0.0, max_iter=1, max_eval=1, tolerance_grad=0.0, tolerance_change=0.0, history_size=1,
                          line_search_fn="strong_wolfe")),
        (ours.Adafactor, dict(lr=0.0, beta2_decay=0.0, eps=(0.0, 0.0), d=1.0, weight_decay=0.0)),
        (ours.Muon, dict(lr=0.0, momentum=0.0, weight_decay=0.0, ns_steps=0, adjust_lr_fn="original")),
        (ours.Muon, dict(momentum=0.999, ns_steps=99, adjust_lr_fn="match_rms_adamw", nesterov=False)),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_the_edges_of_every_allowed_range_are_accepted(cls, kwargs):
    cls(_param(MATRIX if cls is ours.Muon else (2,)), **kwargs)


@pytest.mark.parametrize("cls,kwargs", [(torch.optim.Adafactor, dict(beta2_decay=0.5)),
                                        (torch.optim.Rprop, dict(etas=(1.2, 0.5))),
                                        (torch.optim.SparseAdam, dict(lr=0.0)),
                                        (torch.optim.Muon, dict(adjust_lr_fn="rms"))])
def test_torch_refuses_the_same_values(cls, kwargs):
    """Our rules are torch's where torch has one (torch's messages differ: theirs do not follow our shape)."""
    with pytest.raises(ValueError):
        cls(_param(MATRIX if cls is torch.optim.Muon else (2,)), **kwargs)
