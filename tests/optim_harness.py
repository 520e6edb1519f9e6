"""Shared machinery for the optimizer tests: a small problem whose gradients depend on the parameters,
two param groups with different hyperparameters, and a parameter whose ``.grad`` is None on some steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

OptimizerFactory = Callable[[list[dict[str, Any]]], torch.optim.Optimizer]


def make_params(dtype: torch.dtype = torch.float64, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (3,), (2, 2)]
    return [torch.randn(shape, generator=generator, dtype=dtype).requires_grad_() for shape in shapes]


def loss_at(params: list[torch.Tensor], step: int) -> torch.Tensor:
    """Non-quadratic, so gradients change with the parameters; the third tensor only counts on even
    steps, so on odd steps its ``.grad`` is None (zero_grad sets it to None)."""
    w, b, z = params
    x = torch.linspace(-1, 1, 3, dtype=w.dtype)
    loss = torch.tanh(w @ x + 0.3).pow(2).sum() + (b - 0.5).pow(2).sum() + 0.1 * torch.sin(w).sum()
    if step % 2 == 0:
        loss = loss + (z @ z.T).trace() + z.abs().sum()
    return loss


def groups_for(params: list[torch.Tensor], first: dict[str, Any], second: dict[str, Any]) -> list[dict]:
    """Two param groups: the first two tensors with ``first``'s options, the third with ``second``'s."""
    return [{"params": params[:2], **first}, {"params": params[2:], **second}]


def run(make_optimizer: OptimizerFactory, first: dict, second: dict, *, steps: int,
        dtype: torch.dtype = torch.float64, params: list[torch.Tensor] | None = None,
        optimizer: torch.optim.Optimizer | None = None, start: int = 0):
    """Run ``steps`` steps; return (params, optimizer) so a test can continue or inspect them."""
    params = params if params is not None else make_params(dtype)
    optimizer = optimizer or make_optimizer(groups_for(params, first, second))
    for step in range(start, start + steps):
        optimizer.zero_grad(set_to_none=True)
        loss_at(params, step).backward()
        optimizer.step()
    return params, optimizer


def assert_same_params(ours: list[torch.Tensor], theirs: list[torch.Tensor], tol: float) -> None:
    for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol, msg=lambda m, i=index: f"tensor {i}: {m}")


def assert_same_state(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer, tol: float) -> None:
    """Same state keys per parameter and equal values (torch's names are part of the contract)."""
    our_state, their_state = ours.state_dict()["state"], theirs.state_dict()["state"]
    assert our_state.keys() == their_state.keys()
    for index in our_state:
        assert our_state[index].keys() == their_state[index].keys(), index
        for key, value in our_state[index].items():
            other = their_state[index][key]
            if isinstance(value, torch.Tensor):
                torch.testing.assert_close(value.double(), other.double(), atol=tol, rtol=tol)
            else:
                assert value == other, (index, key)
