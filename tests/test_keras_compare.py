"""Keras 3 (torch backend) beside the library: schedules equal value for value, optimizer conventions measured.

Each convention row of ``optimlab.keras_compare.CONVENTIONS`` is checked twice: the difference exists where it is
claimed, and it vanishes under the mapping (or in the regime) the row names.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from optimlab import optim as ours
from optimlab.keras_compare import max_relative_gap, measure_conventions, same_gradients, schedule_values, use_keras
from optimlab.schedules.keras_names import from_keras

keras = use_keras()
S = keras.optimizers.schedules
STEPS = 1200  # >= 1,000 steps per schedule, past every decay and several restarts

SCHEDULES = {
    "exponential": S.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5),
    "exponential_staircase": S.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5, staircase=True),
    "piecewise": S.PiecewiseConstantDecay([300, 600, 900], [0.1, 0.05, 0.01, 0.001]),
    "polynomial": S.PolynomialDecay(0.1, decay_steps=800, end_learning_rate=0.001, power=2.0),
    "polynomial_linear": S.PolynomialDecay(0.1, decay_steps=500),
    "inverse_time": S.InverseTimeDecay(0.1, decay_steps=50, decay_rate=0.5),
    "inverse_time_staircase": S.InverseTimeDecay(0.1, decay_steps=50, decay_rate=0.5, staircase=True),
    "cosine": S.CosineDecay(0.1, decay_steps=1000, alpha=0.05),
    "cosine_warmup": S.CosineDecay(0.01, decay_steps=900, alpha=0.1, warmup_target=0.2, warmup_steps=100),
    "cosine_restarts": S.CosineDecayRestarts(0.1, first_decay_steps=100, t_mul=2.0, m_mul=0.7, alpha=0.01),
    "cosine_restarts_fixed": S.CosineDecayRestarts(0.1, first_decay_steps=150, t_mul=1.0, m_mul=1.0),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_every_keras_schedule_equals_the_library_equivalent(name):
    initial, multiplier = from_keras(SCHEDULES[name])
    ours_values = np.array([initial * multiplier(t) for t in range(STEPS)])
    theirs = schedule_values(SCHEDULES[name], STEPS)
    # Keras computes in float32: relative 2e-6, and float32's resolution of the initial rate near zero
    np.testing.assert_allclose(ours_values, theirs, rtol=2e-6, atol=1e-7 * initial)


def test_piecewise_constant_switches_after_the_boundary_not_at_it():
    initial, multiplier = from_keras(SCHEDULES["piecewise"])
    assert initial * multiplier(300) == pytest.approx(0.1) and initial * multiplier(301) == pytest.approx(0.05)


def test_a_schedule_without_an_equivalent_is_named():
    with pytest.raises(ValueError, match="cycle"):
        from_keras(S.PolynomialDecay(0.1, decay_steps=10, cycle=True))


def _gradients(steps=30, size=4, seed=0):
    return np.random.default_rng(seed).normal(size=(steps, size))


START = np.array([1.0, -2.0, 0.5, 3.0])
# Keras keeps the learning rate (and weight decay) in float32 variables even for a float64 parameter, so "equal"
# means equal to float32's resolution of the hyperparameters; "differs" is three orders of magnitude above that.
AGREE, DIFFER = 1e-6, 1e-3


ROWS = measure_conventions(steps=30, seed=0)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row["optimizer"])
def test_each_convention_difference_exists_and_vanishes_under_its_mapping(row):
    assert row["gap_differs"] > DIFFER, row
    assert row["gap_agrees"] < AGREE, row


def test_every_row_is_measured_on_at_least_twenty_steps_and_another_seed_agrees():
    again = measure_conventions(steps=20, seed=1)
    assert [r["optimizer"] for r in again] == [r["optimizer"] for r in ROWS]
    assert all(r["gap_differs"] > DIFFER and r["gap_agrees"] < AGREE for r in again)


def test_adamw_defaults_differ_in_weight_decay():
    assert keras.optimizers.AdamW().weight_decay == pytest.approx(0.004)
    assert torch.optim.AdamW([torch.zeros(1, requires_grad=True)]).defaults["weight_decay"] == 0.01


def test_lion_is_the_same_update():
    same = same_gradients(lambda p: ours.Lion(p, lr=0.01, weight_decay=0.0), keras.optimizers.Lion(0.01),
                          START, _gradients())
    assert max_relative_gap(*same) < AGREE


def test_another_backend_is_refused_with_the_fix():
    code = "import os; os.environ['KERAS_BACKEND']='jax'; from optimlab.keras_compare import use_keras; use_keras()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "KERAS_BACKEND" in result.stderr and "torch" in result.stderr


def _data(seed=0, n=64):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=generator, dtype=torch.float64), torch.randint(0, 3, (n,), generator=generator)


def test_two_keras_optimizers_in_a_custom_loop_equal_torch_param_groups():
    from optimlab.keras_compare import custom_loop, keras_copy, torch_weights_of
    from optimlab.models import mlp

    model = mlp(8, [6], 3, seed=0).double()
    twin = keras_copy(model)
    batches = [_data(seed) for seed in range(5)]
    groups = torch.optim.Adam([{"params": model.fc1.parameters(), "lr": 1e-3},
                               {"params": model.fc2.parameters(), "lr": 3e-2}], eps=1e-12)
    for inputs, targets in batches:
        groups.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), targets).backward()
        groups.step()
    early, late = twin.layers[0].trainable_variables, twin.layers[1].trainable_variables
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    custom_loop(twin, [(keras.optimizers.Adam(1e-3, epsilon=1e-12), early),
                       (keras.optimizers.Adam(3e-2, epsilon=1e-12), late)], batches, loss)
    theirs = torch_weights_of(twin)
    for name, tensor in model.state_dict().items():
        np.testing.assert_allclose(tensor.numpy(), theirs[name], rtol=1e-6, atol=1e-9)


def test_keras_copy_refuses_what_it_cannot_copy():
    from optimlab.keras_compare import keras_copy

    with pytest.raises(ValueError, match="Linear and ReLU"):
        keras_copy(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh()))


def test_keras_learning_rate_scheduler_is_a_per_epoch_torch_scheduler():
    from optimlab.keras_compare import keras_epoch_rates

    keras_rates = keras_epoch_rates(lambda epoch, lr: 0.1 * 0.5**epoch, epochs=6, learning_rate=0.1)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 0.5**epoch)
    torch_rates = []
    for _ in range(6):
        torch_rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(keras_rates, torch_rates, rtol=1e-6)


def test_keras_plateau_patience_p_is_torch_patience_p_minus_one():
    from optimlab.keras_compare import keras_plateau_rates
    from optimlab.schedules import ReduceLROnPlateau

    metrics = [1.0, 0.9, 0.9, 0.9, 0.85, 0.85, 0.85, 0.85, 0.5, 0.5, 0.5, 0.5, 0.5]
    keras_rates = keras_plateau_rates(metrics, learning_rate=0.1, factor=0.5, patience=2, min_delta=1e-4)

    def torch_rates(patience):
        optimizer = ours.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        plateau = ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=patience, threshold=1e-4,
                                    threshold_mode="abs")
        rates = []
        for metric in metrics:
            optimizer.step()
            plateau.step(metric)
            rates.append(optimizer.param_groups[0]["lr"])
        return rates

    np.testing.assert_allclose(keras_rates, torch_rates(patience=1), rtol=1e-6)
    assert not np.allclose(keras_rates, torch_rates(patience=2))
