"""Every optimizer rejects bad hyperparameters with a ValueError that names the argument and the value.

One test per rule (the ``RULES`` table), one negative-lr test per registered optimizer (so a new one joins
automatically), and a check that the edges of every allowed range are accepted (so no rule is too strict).
"""

from __future__ import annotations

import math
import re

import pytest
import torch

from optimlab import optim as ours


def _param() -> list[torch.Tensor]:
    return [torch.zeros(2, requires_grad=True)]


def _message(name: str, value) -> str:
    """The start of the course's message, ``lr=-0.1 is invalid: expected ...``, as a regex."""
    return "^" + re.escape(f"{name}={value!r} is invalid: expected")


# (optimizer class, bad keyword arguments, the argument name the message must start with, its value)
RULES = [
    (ours.SGD, dict(momentum=-0.9), "momentum", -0.9),
    (ours.SGD, dict(dampening=-0.1), "dampening", -0.1),
    (ours.SGD, dict(weight_decay=-1e-4), "weight_decay", -1e-4),
    (ours.SGD, dict(nesterov=True), "nesterov", True),  # Nesterov without momentum
    (ours.SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), "nesterov", True),  # Nesterov with dampening
    (ours.Adam, dict(betas=(1.0, 0.999)), "betas[0]", 1.0),
    (ours.Adam, dict(betas=(0.9, -0.5)), "betas[1]", -0.5),
    (ours.Adam, dict(betas=(0.9,)), "betas", (0.9,)),
    (ours.Adam, dict(eps=-1e-8), "eps", -1e-8),
    (ours.Adam, dict(weight_decay=-0.1), "weight_decay", -0.1),
    (ours.AdamW, dict(betas=(-0.1, 0.999)), "betas[0]", -0.1),
    (ours.AdamW, dict(eps=-1e-8), "eps", -1e-8),
    (ours.AdamW, dict(weight_decay=-0.01), "weight_decay", -0.01),
    (ours.Adagrad, dict(lr_decay=-0.1), "lr_decay", -0.1),
    (ours.Adagrad, dict(weight_decay=-0.1), "weight_decay", -0.1),
    (ours.Adagrad, dict(initial_accumulator_value=-1.0), "initial_accumulator_value", -1.0),
    (ours.Adagrad, dict(eps=-1e-10), "eps", -1e-10),
    (ours.RMSprop, dict(alpha=-0.1), "alpha", -0.1),
    (ours.RMSprop, dict(alpha=1.5), "alpha", 1.5),
    (ours.RMSprop, dict(eps=-1e-8), "eps", -1e-8),
    (ours.RMSprop, dict(weight_decay=-0.1), "weight_decay", -0.1),
    (ours.RMSprop, dict(momentum=-0.5), "momentum", -0.5),
    (ours.Adadelta, dict(rho=-0.1), "rho", -0.1),
    (ours.Adadelta, dict(rho=1.1), "rho", 1.1),
    (ours.Adadelta, dict(eps=-1e-6), "eps", -1e-6),
    (ours.Adadelta, dict(weight_decay=-0.1), "weight_decay", -0.1),
    (ours.NAdam, dict(betas=(1.0, 0.999)), "betas[0]", 1.0),
    (ours.NAdam, dict(betas=(0.9, 1.0)), "betas[1]", 1.0),
    (ours.NAdam, dict(eps=-1e-8), "eps", -1e-8),
    (ours.NAdam, dict(weight_decay=-0.1), "weight_decay", -0.1),
    (ours.NAdam, dict(momentum_decay=-4e-3), "momentum_decay", -4e-3),
    (ours.RAdam, dict(betas=(1.5, 0.999)), "betas[0]", 1.5),
    (ours.RAdam, dict(betas=(0.9, 1.0)), "betas[1]", 1.0),
    (ours.RAdam, dict(eps=-1e-8), "eps", -1e-8),
    (ours.RAdam, dict(weight_decay=-0.1), "weight_decay", -0.1),
    (ours.Adamax, dict(betas=(-0.5, 0.999)), "betas[0]", -0.5),
    (ours.Adamax, dict(betas=(0.9, 1.0)), "betas[1]", 1.0),
    (ours.Adamax, dict(eps=-1e-8), "eps", -1e-8),
    (ours.Adamax, dict(weight_decay=-0.1), "weight_decay", -0.1),
    (ours.Lion, dict(betas=(1.0, 0.99)), "betas[0]", 1.0),
    (ours.Lion, dict(betas=(0.9, -0.99)), "betas[1]", -0.99),
    (ours.Lion, dict(weight_decay=-0.1), "weight_decay", -0.1),
]


@pytest.mark.parametrize(
    "cls,kwargs,name,value", RULES, ids=[f"{c.__name__}-{'-'.join(k)}={v}" for c, k, _, v in RULES]
)
def test_bad_hyperparameter_raises_naming_argument_and_value(cls, kwargs, name, value):
    with pytest.raises(ValueError, match=_message(name, value)):
        cls(_param(), **kwargs)


@pytest.mark.parametrize("name", sorted(ours.OPTIMIZERS))
@pytest.mark.parametrize("lr", [-0.1, math.nan])
def test_every_registered_optimizer_rejects_a_bad_lr(name, lr):
    with pytest.raises(ValueError, match=_message("lr", lr)):
        ours.make_optimizer(name, _param(), lr=lr)


def test_nesterov_messages_say_why():
    with pytest.raises(ValueError, match="momentum=0"):
        ours.SGD(_param(), nesterov=True)
    with pytest.raises(ValueError, match="dampening"):
        ours.SGD(_param(), nesterov=True, momentum=0.9, dampening=0.1)


def test_unknown_optimizer_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match=_message("optimizer", "adamm") + ".*'adam'.*'lion'"):
        ours.make_optimizer("adamm", _param())


@pytest.mark.parametrize(
    "kwargs,name,value",
    [
        (dict(k=0), "k", 0),
        (dict(k=2.5), "k", 2.5),
        (dict(alpha=0.0), "alpha", 0.0),
        (dict(alpha=1.5), "alpha", 1.5),
        (dict(alpha=-0.5), "alpha", -0.5),
    ],
)
def test_lookahead_bad_hyperparameter_raises_naming_argument_and_value(kwargs, name, value):
    with pytest.raises(ValueError, match=_message(name, value)):
        ours.Lookahead(ours.SGD(_param(), lr=0.1), **kwargs)


def test_lookahead_needs_an_optimizer():
    with pytest.raises(ValueError, match=r"^optimizer=.* is invalid: expected a torch.optim.Optimizer"):
        ours.Lookahead(_param())


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (ours.SGD, dict(lr=0.0, momentum=0.0, dampening=1.0, nesterov=False)),
        (ours.Adam, dict(betas=(0.0, 0.0), eps=0.0)),
        (ours.Adagrad, dict(lr_decay=0.0, initial_accumulator_value=0.0, eps=0.0)),
        (ours.RMSprop, dict(alpha=0.0, momentum=0.0)),
        (ours.RMSprop, dict(alpha=1.0)),
        (ours.Adadelta, dict(rho=0.0)),
        (ours.Adadelta, dict(rho=1.0)),
        (ours.NAdam, dict(betas=(0.0, 0.0), momentum_decay=0.0)),
        (ours.RAdam, dict(betas=(0.0, 0.0))),
        (ours.Adamax, dict(betas=(0.0, 0.0), eps=0.0)),
        (ours.Lion, dict(betas=(0.0, 0.0), weight_decay=0.0)),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_the_edges_of_every_allowed_range_are_accepted(cls, kwargs):
    cls(_param(), **kwargs)


def test_lookahead_edges_are_accepted():
    ours.Lookahead(ours.SGD(_param(), lr=0.1), k=1, alpha=1.0)
