"""Small models for the course's real tasks, seeded without touching global randomness, and their metrics.

- :func:`mlp`: ``Linear → ReLU → ... → Linear`` as an ``nn.Sequential`` whose layers have names
  (``fc1``, ``relu1``, ``fc2``, ..., the last ``Linear`` is ``fc{L}``), so a parameter group can pick a
  layer by name: ``model.fc1.parameters()``, or ``model.named_parameters()`` → ``"fc1.weight"``.
- :class:`LetterNet` (built by :func:`letter_net`): four convolutions with BatchNorm for 8×8 single-channel
  images, split into ``features`` (the "backbone" to pretrain and freeze) and ``classifier`` (the "head"
  to replace: :func:`new_head`). The shipped weights live in :mod:`optimlab.pretrained`.
- :func:`accuracy` and :func:`evaluate_classifier` (the latter plugs into ``fit(evaluate=...)``), both
  inside :func:`optimlab.train.evaluation_mode`.

Initialisation is PyTorch's default (Kaiming-uniform weights, uniform biases), drawn from the global
generator inside ``torch.random.fork_rng``: the model depends only on ``seed``, and the caller's global
random state is exactly as it was before.

Taught in: notebooks/06_hyperparameters_lr_finder.ipynb (and 07, 10, 11).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from torch import Tensor, nn

from optimlab.train import evaluation_mode
from optimlab.validation import check_int, invalid

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def _seeded(seed: int, build: Callable[[], ModuleT]) -> ModuleT:
    """Build a module with its default initialisation drawn from ``seed``; restore the global generator."""
    check_int("seed", seed, low=0)
    with torch.random.fork_rng(devices=[]):  # CPU generator only; modules are built on the CPU
        torch.manual_seed(seed)
        return build()


def mlp(in_features: int, hidden: Sequence[int], out_features: int, *, seed: int) -> nn.Sequential:
    """A multilayer perceptron ``in → hidden[0] → ... → out`` with ReLU between layers (none at the end).

    Layers are named ``fc1, relu1, fc2, relu2, ..., fc{L}`` with ``L = len(hidden) + 1``. The output
    is raw scores (logits): pair it with ``nn.functional.cross_entropy``.

    Taught in: notebooks/02_parameters.ipynb.
    """
    check_int("in_features", in_features, low=1)
    check_int("out_features", out_features, low=1)
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise invalid("hidden", hidden, "a sequence of layer widths, e.g. (32,) or [64, 32]")
    for index, width in enumerate(hidden):
        check_int(f"hidden[{index}]", width, low=1)
    widths = [in_features, *hidden, out_features]

    def build() -> nn.Sequential:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for number, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
            layers[f"fc{number}"] = nn.Linear(fan_in, fan_out)
            if number < len(widths) - 1:
                layers[f"relu{number}"] = nn.ReLU()
        return nn.Sequential(layers)

    return _seeded(seed, build)


class LetterNet(nn.Module):
    """``features`` (conv-BN-ReLU ×2, pool, conv-BN-ReLU ×2, pool, flatten) then ``classifier`` (one ``Linear``).

    Input: images ``(n, 1, 8, 8)`` or flat ``(n, 64)`` (reshaped). Convolutions have no bias: the
    BatchNorm after each one has its own shift. ``feature_dim`` (256 = 64 channels × 2 × 2) is the
    head's input width. With ``channels=(32, 32, 64, 64)`` the backbone has 65,184 parameters. The
    shipped weights (:func:`optimlab.pretrained.load_pretrained`) solve the 52 letters of
    :mod:`optimlab.data.letters`.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """

    def __init__(self, num_classes: int, channels: tuple[int, int, int, int] = (32, 32, 64, 64)) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        widths = (1, *channels)
        for number in range(1, 5):
            layers[f"conv{number}"] = nn.Conv2d(widths[number - 1], widths[number], 3, padding=1, bias=False)
            layers[f"bn{number}"] = nn.BatchNorm2d(widths[number])
            layers[f"relu{number}"] = nn.ReLU()
            if number % 2 == 0:
                layers[f"pool{number // 2}"] = nn.MaxPool2d(2)   # 8×8 → 4×4 → 2×2
        layers["flatten"] = nn.Flatten()
        self.features = nn.Sequential(layers)
        self.feature_dim = channels[-1] * 2 * 2
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Scores ``(n, num_classes)`` for images ``(n, 1, 8, 8)`` or flat ``(n, 64)``."""
        if x.dim() == 2:
            x = x.reshape(-1, 1, 8, 8)
        return self.classifier(self.features(x))


def letter_net(num_classes: int, *, seed: int) -> LetterNet:
    """A :class:`LetterNet` with PyTorch's default initialisation drawn from ``seed`` (global generator untouched).

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    check_int("num_classes", num_classes, low=1)
    return _seeded(seed, lambda: LetterNet(num_classes))


def new_head(model: LetterNet, num_classes: int, *, seed: int) -> LetterNet:
    """A copy of ``model`` with the same backbone and a fresh ``Linear`` head for ``num_classes`` (from ``seed``).

    ``model`` itself is left unchanged, so it can still be compared with (or measured against) the copy.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    check_int("num_classes", num_classes, low=1)
    copied = copy.deepcopy(model)
    copied.classifier = _seeded(seed, lambda: nn.Linear(model.feature_dim, num_classes))
    return copied


def _model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def accuracy(model: nn.Module, X: Tensor, y: Tensor) -> float:
    """Fraction of ``X`` whose highest score is the label ``y`` (in :func:`evaluation_mode`; modes restored).

    Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
    """
    if len(X) != len(y) or len(y) == 0:
        raise invalid("y", tuple(y.shape), f"as many labels as inputs ({len(X)}), and at least one")
    with evaluation_mode(model):
        device = _model_device(model)
        predicted = model(X.to(device)).argmax(dim=1)
        return (predicted == y.to(device)).double().mean().item()


def evaluate_classifier(
    X: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor] = nn.functional.cross_entropy,
) -> Callable[[nn.Module], dict[str, float]]:
    """A function ``model -> {"loss": ..., "accuracy": ...}`` on ``(X, y)``, for ``fit(evaluate=...)``.

    ``fit`` already calls it in eval mode without gradients; called directly, it does both itself.

    Taught in: notebooks/10_schedulers_in_training.ipynb.
    """
    if len(X) != len(y) or len(y) == 0:
        raise invalid("y", tuple(y.shape), f"as many labels as inputs ({len(X)}), and at least one")

    def evaluate(model: nn.Module) -> dict[str, float]:
        with evaluation_mode(model):
            device = _model_device(model)
            inputs, targets = X.to(device), y.to(device)
            scores = model(inputs)
            return {
                "loss": loss_fn(scores, targets).item(),
                "accuracy": (scores.argmax(dim=1) == targets).double().mean().item(),
            }

    return evaluate
