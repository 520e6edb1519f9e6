"""Small models for the course's real tasks, seeded without touching global randomness, and their metrics.

- :func:`mlp`: ``Linear → ReLU → ... → Linear`` as an ``nn.Sequential`` whose layers have names
  (``fc1``, ``relu1``, ``fc2``, ..., the last ``Linear`` is ``fc{L}``), so a parameter group can pick a
  layer by name: ``model.fc1.parameters()``, or ``model.named_parameters()`` → ``"fc1.weight"``.
- :func:`small_cnn`: a two-convolution network for 8×8 single-channel digits with a ``features`` part
  (the "backbone" to pretrain and freeze) and a ``classifier`` part (the "head" to replace).
- :func:`accuracy` and :func:`evaluate_classifier` (the latter plugs into ``fit(evaluate=...)``).

Initialisation is PyTorch's default (Kaiming-uniform weights, uniform biases), drawn from the global
generator inside ``torch.random.fork_rng``: the model depends only on ``seed``, and the caller's global
random state is exactly as it was before.

Taught in: notebooks/06_hyperparameters_lr_finder.ipynb (and 07, 10, 11).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from optimlab.validation import check_int, invalid


def _seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """Build a module with its default initialisation drawn from ``seed``; restore the global generator."""
    check_int("seed", seed, low=0)
    with torch.random.fork_rng(devices=[]):  # CPU generator only; modules are built on the CPU
        torch.manual_seed(seed)
        return build()


def mlp(in_features: int, hidden: Sequence[int], out_features: int, *, seed: int) -> nn.Sequential:
    """A multilayer perceptron ``in → hidden[0] → ... → out`` with ReLU between layers (none at the end).

    Layers are named ``fc1, relu1, fc2, relu2, ..., fc{L}`` with ``L = len(hidden) + 1``. The output
    is raw scores (logits): pair it with ``nn.functional.cross_entropy``.
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


class SmallCNN(nn.Module):
    """``features`` (conv-ReLU-pool twice, then flatten) followed by ``classifier`` (one ``Linear``).

    Input: images ``(n, 1, 8, 8)``; flat digits ``(n, 64)`` are reshaped, so the same tensors feed an
    MLP and this network. ``feature_dim`` is the width of what ``features`` returns (the classifier's
    input), for building a new head: ``model.classifier = nn.Linear(model.feature_dim, k)``.
    """

    def __init__(self, num_classes: int, channels: tuple[int, int]) -> None:
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, c1, kernel_size=3, padding=1)),   # 8×8 → 8×8
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),                              # → 4×4
            ("conv2", nn.Conv2d(c1, c2, kernel_size=3, padding=1)),  # 4×4 → 4×4
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),                              # → 2×2
            ("flatten", nn.Flatten()),
        ]))
        self.feature_dim = c2 * 2 * 2
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            x = x.reshape(-1, 1, 8, 8)
        return self.classifier(self.features(x))


def small_cnn(num_classes: int = 10, *, seed: int, channels: Sequence[int] = (16, 32)) -> SmallCNN:
    """A :class:`SmallCNN` for 8×8 single-channel images, initialised from ``seed``."""
    check_int("num_classes", num_classes, low=1)
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence) or len(channels) != 2:
        raise invalid("channels", channels, "two channel counts, e.g. (16, 32)")
    for index, width in enumerate(channels):
        check_int(f"channels[{index}]", width, low=1)
    return _seeded(seed, lambda: SmallCNN(num_classes, (channels[0], channels[1])))


def _model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def accuracy(model: nn.Module, X: Tensor, y: Tensor) -> float:
    """Fraction of ``X`` whose highest score is the label ``y`` (eval mode; the model's mode is restored)."""
    if len(X) != len(y) or len(y) == 0:
        raise invalid("y", tuple(y.shape), f"as many labels as inputs ({len(X)}), and at least one")
    was_training = model.training
    model.eval()
    try:
        device = _model_device(model)
        predicted = model(X.to(device)).argmax(dim=1)
        return (predicted == y.to(device)).double().mean().item()
    finally:
        model.train(was_training)


def evaluate_classifier(
    X: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor] = nn.functional.cross_entropy,
) -> Callable[[nn.Module], dict[str, float]]:
    """A function ``model -> {"loss": ..., "accuracy": ...}`` on ``(X, y)``, for ``fit(evaluate=...)``.

    ``fit`` already calls it in eval mode without gradients; called directly, it does both itself.
    """
    if len(X) != len(y) or len(y) == 0:
        raise invalid("y", tuple(y.shape), f"as many labels as inputs ({len(X)}), and at least one")

    @torch.no_grad()
    def evaluate(model: nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        try:
            device = _model_device(model)
            inputs, targets = X.to(device), y.to(device)
            scores = model(inputs)
            return {
                "loss": loss_fn(scores, targets).item(),
                "accuracy": (scores.argmax(dim=1) == targets).double().mean().item(),
            }
        finally:
            model.train(was_training)

    return evaluate
