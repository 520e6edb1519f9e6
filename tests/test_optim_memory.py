"""Optimizer state measured in bytes per parameter, for the course's optimizers and torch's alike."""

from __future__ import annotations

import pytest
import torch

from optimlab import optim as ours
from optimlab.optim.memory import parameter_count, state_bytes, state_bytes_per_parameter


def _stepped(factory, dtype=torch.float32, shapes=((64, 32), (32,))):
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, dtype=dtype, generator=generator).requires_grad_() for shape in shapes]
    optimizer = factory(params)
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    return optimizer


@pytest.mark.parametrize("library", [ours, torch.optim], ids=["ours", "torch"])
@pytest.mark.parametrize("name,options,expected", [
    ("SGD", dict(lr=0.1), 0.0),
    ("SGD", dict(lr=0.1, momentum=0.9), 4.0),
    ("Adam", dict(), 8.0),
    ("Adam", dict(amsgrad=True), 12.0),
    ("AdamW", dict(), 8.0),
    ("Adagrad", dict(), 4.0),
    ("RMSprop", dict(momentum=0.9, centered=True), 12.0),
    ("Adadelta", dict(), 8.0),
    ("NAdam", dict(), 8.0),
])
def test_float32_state_bytes_per_parameter(library, name, options, expected):
    optimizer = _stepped(lambda p: getattr(library, name)(p, **options))
    assert state_bytes_per_parameter(optimizer) == expected


def test_scalars_count_only_when_asked():
    optimizer = _stepped(lambda p: ours.Adam(p))  # 2 tensors: 2 float32 step counters = 8 bytes
    count = parameter_count(optimizer)
    assert count == 64 * 32 + 32
    assert state_bytes(optimizer, count_scalars=True) == state_bytes(optimizer) + 2 * 4
    assert state_bytes_per_parameter(optimizer, count_scalars=True) == pytest.approx(8.0 + 8 / count)


def test_float64_and_lion_and_lookahead():
    assert state_bytes_per_parameter(_stepped(lambda p: ours.Adam(p), torch.float64)) == 16.0
    assert state_bytes_per_parameter(_stepped(lambda p: ours.Lion(p))) == 4.0
    # Lookahead keeps the slow weights (4 bytes) beside its inner Adam's two moments (8 bytes).
    assert state_bytes_per_parameter(_stepped(lambda p: ours.Lookahead(ours.Adam(p)))) == 12.0


def test_views_of_one_buffer_count_once():
    optimizer = _stepped(lambda p: ours.SGD(p, lr=0.1, momentum=0.9))
    buffer = next(iter(optimizer.state.values()))["momentum_buffer"]
    next(iter(optimizer.state.values()))["alias"] = buffer.view(-1)
    assert state_bytes_per_parameter(optimizer) == 4.0


def test_an_optimizer_without_parameters_is_refused():
    optimizer = ours.SGD([torch.zeros(0, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="at least one parameter"):
        state_bytes_per_parameter(optimizer)
