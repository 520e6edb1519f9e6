"""PyTorch and Keras side by side: real Keras 3 on the torch backend, fed the same gradients as torch's optimizers.

- :func:`use_keras` imports Keras on the torch backend (setting ``KERAS_BACKEND=torch`` when nothing chose a backend
  yet), or says exactly how to fix a missing install or another backend.
- :func:`schedule_values` evaluates a Keras ``LearningRateSchedule`` over steps (compare with
  :func:`optimlab.schedules.keras_names.from_keras`).
- :func:`same_gradients` runs a torch-style optimizer and a Keras optimizer on one parameter vector with an identical,
  given gradient sequence, and returns both trajectories, so a convention difference is measured, not described.
- :func:`keras_copy` builds the Keras twin of a torch MLP (same weights); :func:`custom_loop` trains it with one
  Keras optimizer per list of variables: Keras's way to differential learning rates, since it has no param groups.
- :func:`conventions` lists where the two frameworks compute "the same" optimizer differently, each row with the
  runs that show the difference and the runs that remove it; :func:`measure_conventions` measures every row.

Keras is imported only by the code that calls :func:`use_keras`, so nothing else in the course pays its start-up.

Taught in: notebooks/05_adaptive_methods.ipynb (conventions), notebooks/07_parameter_groups.ipynb (differential
learning rates), notebooks/09_schedulers.ipynb (schedules).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

KERAS_PIN = "keras==3.15.1"
BACKEND = "torch"

def use_keras() -> ModuleType:
    """Import Keras 3 on the torch backend and return the module.

    Sets ``KERAS_BACKEND=torch`` if no backend was chosen, so a notebook opened in JupyterLab needs no exported
    variable. Raises ``ImportError`` (Keras missing, with the pip command) or ``RuntimeError`` (Keras already imported
    on another backend, or ``KERAS_BACKEND`` set to another one, with the fix).
    """
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen is not None and chosen != BACKEND:
        raise RuntimeError(f"KERAS_BACKEND={chosen!r}: the course runs Keras on the torch backend; "
                           f"unset it or set KERAS_BACKEND={BACKEND} before Python starts (then restart the kernel)")
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = BACKEND
    try:
        import keras
    except ImportError as error:
        raise ImportError(f"Keras is not installed: pip install {KERAS_PIN} (it runs on the torch already here)") \
            from error
    if keras.backend.backend() != BACKEND:
        raise RuntimeError(f"Keras was imported on the {keras.backend.backend()!r} backend before use_keras(); "
                           f"restart the kernel and call use_keras() (or set KERAS_BACKEND={BACKEND}) first")
    return keras


def schedule_values(schedule: Any, steps: int) -> np.ndarray:
    """The Keras schedule's learning rate at steps 0 … steps−1, as float64."""
    return np.array([float(schedule(step)) for step in range(steps)])


def same_gradients(
    make_torch_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
    keras_optimizer: Any,
    start: Sequence[float] | np.ndarray,
    gradients: Sequence[Sequence[float]] | np.ndarray,
    *,
    learning_rates: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Trajectories ``(torch, keras)`` of one parameter vector under the same gradient at every step (float64).

    ``make_torch_optimizer`` builds a torch-style optimizer (torch's or optimlab's) over ``[parameter]``;
    ``keras_optimizer`` is a fresh Keras optimizer. ``learning_rates`` (one per step) overrides both optimizers'
    learning rate before each step, as a schedule would. Row 0 of each result is ``start``.
    """
    keras = use_keras()
    gradients = np.asarray(gradients, dtype=np.float64)
    if gradients.ndim != 2 or gradients.shape[1] != len(start):
        raise ValueError(f"gradients of shape {gradients.shape} is invalid: expected (steps, {len(start)})")
    parameter = torch.nn.Parameter(torch.tensor(np.asarray(start), dtype=torch.float64))
    torch_optimizer = make_torch_optimizer([parameter])
    variable = keras.Variable(np.asarray(start, dtype=np.float64), dtype="float64")
    keras_optimizer.build([variable])
    torch_path, keras_path = [parameter.detach().clone()], [variable.value.detach().clone()]
    for step, gradient in enumerate(gradients):
        grad = torch.tensor(gradient, dtype=torch.float64)
        if learning_rates is not None:
            for group in torch_optimizer.param_groups:
                group["lr"] = float(learning_rates[step])
            keras_optimizer.learning_rate = float(learning_rates[step])
        parameter.grad = grad.clone()
        torch_optimizer.step()
        keras_optimizer.apply_gradients([(grad.clone(), variable)])
        torch_path.append(parameter.detach().clone())
        keras_path.append(variable.value.detach().clone())
    return torch.stack(torch_path).numpy(), torch.stack(keras_path).numpy()


def max_relative_gap(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − b| over every entry, divided by the largest |entry| of either trajectory: how far two runs are
    apart relative to their size (an entry passing near zero does not inflate it)."""
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), 1e-12)
    return float(np.max(np.abs(a - b))) / scale


def keras_copy(model: nn.Module) -> Any:
    """A Keras ``Sequential`` of ``Dense`` layers with the weights of ``model``, a torch MLP (Linear and ReLU only).

    Layers keep torch's names (``fc1``, ``fc2`` ...) and dtype (float64 stays float64); Keras stores a kernel as
    (in, out), the transpose of torch's weight.
    """
    keras = use_keras()
    modules = [m for m in model.modules() if m is not model]
    unsupported = sorted({type(m).__name__ for m in modules} - {"Linear", "ReLU"})
    if unsupported:
        raise ValueError(f"model={type(model).__name__} is invalid: expected Linear and ReLU layers only "
                         f"(found {', '.join(unsupported)})")
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    dtype = "float64" if linears[0].weight.dtype == torch.float64 else "float32"
    layers = [keras.Input(shape=(linears[0].in_features,), dtype=dtype)]
    for index, (name, linear) in enumerate(zip(names, linears)):
        activation = "relu" if index < len(linears) - 1 else None
        layers.append(keras.layers.Dense(linear.out_features, activation=activation, dtype=dtype, name=name))
    twin = keras.Sequential(layers)
    for layer, linear in zip(twin.layers, linears):
        layer.set_weights([linear.weight.detach().T.cpu().numpy(), linear.bias.detach().cpu().numpy()])
    return twin


def custom_loop(model: Any, optimizers: Sequence[tuple[Any, Sequence[Any]]], batches: Any,
                loss_fn: Callable[[Any, Any], torch.Tensor]) -> list[float]:
    """Train a Keras model with one optimizer per list of its variables; return the losses.

    The four steps, as Keras on the torch backend writes them in a custom training step: the variables' ``.value``
    are torch parameters, so the backward pass is torch's autograd; each optimizer then updates only its variables,
    with its own learning rate.
    """
    losses = []
    for inputs, targets in batches:
        for variable in model.trainable_variables:
            variable.value.grad = None  # zero_grad
        loss = loss_fn(targets, model(inputs))  # forward, loss
        loss.backward()  # backward
        with torch.no_grad():
            for optimizer, variables in optimizers:  # update: each optimizer owns its variables and its rate
                optimizer.apply([v.value.grad for v in variables], variables)
        losses.append(float(loss.detach()))
    return losses


def torch_weights_of(twin: Any) -> dict[str, np.ndarray]:
    """``{"fc1.weight": ..., "fc1.bias": ...}`` of a :func:`keras_copy` model, in torch's layout."""
    weights = {}
    for layer in twin.layers:
        kernel, bias = layer.get_weights()
        weights[f"{layer.name}.weight"], weights[f"{layer.name}.bias"] = kernel.T, bias
    return weights


TorchFactory = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]


@dataclass(frozen=True)
class Convention:
    """One place where Keras and torch compute "the same" optimizer differently.

    ``differs`` and ``agrees`` are ``(torch factory, Keras factory, options)`` pairs of runs: the first shows the
    difference, the second the mapping (or regime) that removes it. ``options``: ``gradient_scale`` multiplies
    the shared gradients; ``lr_drop=(before, after)`` sets the learning rate, dropping it halfway through the run.
    """

    optimizer: str
    difference: str
    mapping: str
    differs: tuple[TorchFactory, Callable[[], Any], dict[str, Any]]
    agrees: tuple[TorchFactory, Callable[[], Any], dict[str, Any]]


def conventions() -> list[Convention]:
    """The convention differences the course measures (Keras 3.15 on the torch backend vs torch / optimlab)."""
    from optimlab import optim as ours

    keras = use_keras()
    k = keras.optimizers
    step_drop = {"lr_drop": (0.05, 0.005)}  # a step schedule: the lr drops tenfold halfway through the run
    return [
        Convention("Adam", "ε is added to √v before the bias correction enters the step (and defaults to 1e-7, "
                   "not 1e-8)", "no exact mapping (the two ε differ by √(1 − β₂ᵗ)); negligible ε agrees",
                   (lambda p: torch.optim.Adam(p, lr=0.01, eps=0.1), lambda: k.Adam(0.01, epsilon=0.1),
                    {"gradient_scale": 0.1}),
                   (lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-12), lambda: k.Adam(0.01, epsilon=1e-12), {})),
        Convention("Adam", "weight_decay is decoupled in Keras (AdamW's rule), coupled L2 in torch's Adam",
                   "torch AdamW(weight_decay=λ) equals Keras Adam(weight_decay=λ)",
                   (lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-12, weight_decay=0.1),
                    lambda: k.Adam(0.01, epsilon=1e-12, weight_decay=0.1), {}),
                   (lambda p: torch.optim.AdamW(p, lr=0.01, eps=1e-12, weight_decay=0.1),
                    lambda: k.Adam(0.01, epsilon=1e-12, weight_decay=0.1), {})),
        Convention("AdamW", "default weight_decay 0.004 in Keras, 0.01 in torch", "pass weight_decay explicitly",
                   (lambda p: ours.AdamW(p, lr=0.01, eps=1e-12), lambda: k.AdamW(0.01, epsilon=1e-12), {}),
                   (lambda p: ours.AdamW(p, lr=0.01, eps=1e-12, weight_decay=0.004),
                    lambda: k.AdamW(0.01, epsilon=1e-12), {})),
        Convention("RMSprop", "ε inside the root, √(v + ε), where torch adds it outside, √v + ε; defaults rho=0.9, "
                   "lr=1e-3 vs alpha=0.99, lr=1e-2", "no exact mapping; negligible ε and rho = alpha agree",
                   (lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.1), lambda: k.RMSprop(0.01, epsilon=0.1),
                    {"gradient_scale": 0.1}),
                   (lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-14),
                    lambda: k.RMSprop(0.01, rho=0.9, epsilon=1e-28), {})),
        Convention("RMSprop, centered", "as RMSprop: ε inside the root of v − (mean g)²", "as RMSprop",
                   (lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.1, centered=True),
                    lambda: k.RMSprop(0.01, epsilon=0.1, centered=True), {"gradient_scale": 0.1}),
                   (lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-14, centered=True),
                    lambda: k.RMSprop(0.01, rho=0.9, epsilon=1e-28, centered=True), {})),
        Convention("SGD momentum", "Keras folds the learning rate into the velocity (v ← μv − γg); torch keeps it "
                   "out (b ← μb + g, θ ← θ − γb)", "equal while γ is constant; they part when a schedule changes γ",
                   (lambda p: ours.SGD(p, lr=0.05, momentum=0.9), lambda: k.SGD(0.05, momentum=0.9),
                    step_drop),
                   (lambda p: ours.SGD(p, lr=0.05, momentum=0.9), lambda: k.SGD(0.05, momentum=0.9), {})),
        Convention("SGD Nesterov", "as SGD momentum, with the look-ahead", "as SGD momentum",
                   (lambda p: ours.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
                    lambda: k.SGD(0.05, momentum=0.9, nesterov=True), step_drop),
                   (lambda p: ours.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
                    lambda: k.SGD(0.05, momentum=0.9, nesterov=True), {})),
    ]


def measure_conventions(steps: int = 30, seed: int = 0) -> list[dict[str, Any]]:
    """Run every :func:`conventions` row on one random gradient sequence; the largest relative gap of each run.

    Returns one dict per row: ``optimizer``, ``difference``, ``mapping``, ``gap_differs``, ``gap_agrees``.
    """
    rows = []
    start = np.array([1.0, -2.0, 0.5, 3.0])
    gradients = np.random.default_rng(seed).normal(size=(steps, start.size))
    for convention in conventions():
        gaps = []
        for make_torch, make_keras, options in (convention.differs, convention.agrees):
            options = dict(options)
            scale = options.pop("gradient_scale", 1.0)
            rates = None
            if "lr_drop" in options:
                before, after = options.pop("lr_drop")
                rates = [before] * (steps // 2) + [after] * (steps - steps // 2)
            gaps.append(max_relative_gap(*same_gradients(make_torch, make_keras(), start, gradients * scale,
                                                         learning_rates=rates)))
        rows.append({"optimizer": convention.optimizer, "difference": convention.difference,
                     "mapping": convention.mapping, "gap_differs": gaps[0], "gap_agrees": gaps[1]})
    return rows


def _tiny_model(learning_rate: float) -> Any:
    """A one-layer Keras model compiled with SGD: something for a callback to drive."""
    keras = use_keras()
    model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def keras_epoch_rates(schedule: Callable[[int, float], float], epochs: int, learning_rate: float) -> list[float]:
    """The learning rate of each epoch when Keras's ``LearningRateScheduler(schedule)`` drives ``model.fit``.

    Keras calls ``schedule(epoch, lr)`` at the start of every epoch, like a torch scheduler stepped once per epoch.
    """
    keras = use_keras()
    model = _tiny_model(learning_rate)
    inputs, targets = np.zeros((4, 1), dtype="float32"), np.zeros((4, 1), dtype="float32")
    history = model.fit(inputs, targets, epochs=epochs, batch_size=4, verbose=0,
                        callbacks=[keras.callbacks.LearningRateScheduler(schedule)])
    return [float(rate) for rate in history.history["learning_rate"]]


def keras_plateau_rates(metrics: Sequence[float], *, learning_rate: float, factor: float = 0.1, patience: int = 10,
                        min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0) -> list[float]:
    """The learning rate after each epoch when Keras's ``ReduceLROnPlateau`` watches ``metrics`` (lower is better).

    Keras counts a plateau once ``patience`` epochs in a row fail to improve by ``min_delta``; torch's
    ``ReduceLROnPlateau(patience=p)`` waits for ``p + 1`` such epochs, so Keras's ``patience=p`` is torch's ``p − 1``.
    """
    keras = use_keras()
    model = _tiny_model(learning_rate)
    callback = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", mode="min", factor=factor, patience=patience,
                                                 min_delta=min_delta, cooldown=cooldown, min_lr=min_lr)
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, metric in enumerate(metrics):
        callback.on_epoch_end(epoch, {"val_loss": float(metric)})
        rates.append(float(np.asarray(model.optimizer.learning_rate)))
    return rates
