"""The course's pretrained backbone: a small CNN trained on synthetic letters, reused on the handwritten digits.

:class:`LetterNet` is split explicitly into ``features`` (the backbone: four 3×3 convolutions with
BatchNorm and ReLU, two max-pools, then a flat 256-wide feature vector) and ``classifier`` (the head:
one ``Linear``). The shipped weights (``data/letters_cnn.pt``) solve the 52-letter source task of
:mod:`optimlab.data.letters`; see ``data/README.md`` for how they were made.

- :func:`load_pretrained` checks the file's sha256 against ``data/letters_cnn.json`` and loads it with
  ``torch.load(weights_only=True)`` (tensors only, no pickled code); a missing or corrupt file raises
  :class:`PretrainedWeightsError` (a ``ValueError``; :class:`PretrainedWeightsMissing` is also a
  ``FileNotFoundError``), whose message says to run ``make pretrain``.
- :func:`new_head` gives a copy with a fresh classifier (10 digits) and the backbone untouched.
- :func:`backbone_head_groups` builds torch's param groups from the split, one line in a notebook.
- :func:`source_accuracy` and :func:`relative_weight_change` measure what fine-tuning did to the backbone.

Taught in: notebooks/11_transfer_learning.ipynb.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from optimlab.data.letters import NUM_CLASSES as NUM_LETTERS
from optimlab.data.letters import letters_test_set
from optimlab.validation import check_int, check_non_negative, invalid

DATA_DIR = Path(__file__).resolve().parents[2] / "data"  # the repository's data/ (editable install)
DEFAULT_WEIGHTS = DATA_DIR / "letters_cnn.pt"
REGENERATE = "Regenerate it with `make pretrain` (python -m optimlab.tools.pretrain --seed 0), about two minutes on a CPU."


class PretrainedWeightsError(ValueError):
    """The weights file is corrupt, has no readable checksum record, or does not fit :class:`LetterNet`."""


class PretrainedWeightsMissing(PretrainedWeightsError, FileNotFoundError):
    """The weights file does not exist (catchable as ``FileNotFoundError`` too)."""


class LetterNet(nn.Module):
    """``features`` (conv-BN-ReLU ×2, pool, conv-BN-ReLU ×2, pool, flatten) then ``classifier`` (one ``Linear``).

    Input: images ``(n, 1, 8, 8)`` or flat ``(n, 64)`` (reshaped). Convolutions have no bias: the
    BatchNorm after each one has its own shift. ``feature_dim`` (256 = 64 channels × 2 × 2) is the
    head's input width. With ``channels=(32, 32, 64, 64)`` the backbone has 65,184 parameters.
    """

    def __init__(self, num_classes: int = NUM_LETTERS, channels: tuple[int, int, int, int] = (32, 32, 64, 64)) -> None:
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
        if x.dim() == 2:
            x = x.reshape(-1, 1, 8, 8)
        return self.classifier(self.features(x))


def letter_net(num_classes: int = NUM_LETTERS, *, seed: int) -> LetterNet:
    """A :class:`LetterNet` with PyTorch's default initialisation drawn from ``seed`` (global generator untouched)."""
    check_int("num_classes", num_classes, low=1)
    check_int("seed", seed, low=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LetterNet(num_classes)


def new_head(model: LetterNet, num_classes: int, *, seed: int) -> LetterNet:
    """A copy of ``model`` with the same backbone and a fresh ``Linear`` head for ``num_classes`` (from ``seed``).

    ``model`` itself is left unchanged, so it can still be compared with (or measured against) the copy.
    """
    check_int("num_classes", num_classes, low=1)
    check_int("seed", seed, low=0)
    copied = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        copied.classifier = nn.Linear(model.feature_dim, num_classes)
    return copied


def backbone_head_groups(model: nn.Module, backbone_lr: float, head_lr: float, **extra: Any) -> list[dict[str, Any]]:
    """Two param groups in torch's format: ``model.features`` at ``backbone_lr``, ``model.classifier`` at ``head_lr``.

    ``extra`` (momentum, weight_decay, ...) goes into both groups. Every parameter of the model lands
    in exactly one group, frozen ones included (a parameter without a gradient is skipped by the step);
    a model with parameters outside ``features`` and ``classifier`` is refused rather than half-trained.
    """
    check_non_negative("backbone_lr", backbone_lr)
    check_non_negative("head_lr", head_lr)
    groups = [
        {"params": list(model.features.parameters()), "lr": backbone_lr, "name": "backbone", **extra},
        {"params": list(model.classifier.parameters()), "lr": head_lr, "name": "head", **extra},
    ]
    grouped = {id(p) for group in groups for p in group["params"]}
    if len(grouped) != sum(len(group["params"]) for group in groups) or grouped != {id(p) for p in model.parameters()}:
        raise invalid("model", type(model).__name__, "a model whose parameters all sit in .features or .classifier")
    return groups


def sha256(path: Path | str) -> str:
    """Hex sha256 of a file's bytes (what ``sha256sum`` prints)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weights_sha256(state_dict: dict[str, Tensor]) -> str:
    """Hex sha256 of a state dict's content: each entry's name, dtype, shape and bytes, in name order.

    Two saves of identical weights differ as files (``torch.save`` writes a random serialization id
    and names the archive after the file), so reproducibility is checked on this content hash instead.
    """
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}:".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def provenance_path(weights: Path | str) -> Path:
    """The provenance record beside a weights file: ``letters_cnn.pt`` → ``letters_cnn.json``."""
    return Path(weights).with_suffix(".json")


def load_pretrained(path: Path | str = DEFAULT_WEIGHTS, *, verify: bool = True) -> LetterNet:
    """The pretrained :class:`LetterNet` with its 52-letter head, in eval mode.

    With ``verify`` the file's sha256 must equal the ``sha256`` recorded in the provenance JSON beside
    it. Loading uses ``torch.load(weights_only=True)``. Any failure raises :class:`PretrainedWeightsError`
    naming the file and saying how to regenerate it.
    """
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsMissing(f"pretrained weights {path} not found. {REGENERATE}")
    if verify:
        expected = _recorded_sha256(path)
        actual = sha256(path)
        if actual != expected:
            raise PretrainedWeightsError(
                f"pretrained weights {path} are corrupt: sha256 {actual} differs from the recorded {expected} "
                f"(in {provenance_path(path)}). {REGENERATE}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = LetterNet()
        model.load_state_dict(state)
    except Exception as error:  # unreadable zip, unpickling refused, wrong keys or shapes
        raise PretrainedWeightsError(f"pretrained weights {path} cannot be loaded ({error}). {REGENERATE}") from error
    return model.eval()


def _recorded_sha256(path: Path) -> str:
    record = provenance_path(path)
    try:
        return json.loads(record.read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PretrainedWeightsError(
            f"cannot read the checksum of {path} from {record} ({error!r}). {REGENERATE}") from error


@torch.no_grad()
def source_accuracy(model: LetterNet, letter_head: nn.Module | None = None) -> float:
    """Accuracy on the held-out letters of ``model.features`` followed by a 52-letter head.

    ``letter_head`` defaults to ``model.classifier`` when it has 52 outputs, otherwise to the shipped
    model's head, so a backbone fine-tuned on digits is measured with the letter head it was trained
    with. BatchNorm runs in eval mode (its running statistics, as fine-tuning left them).
    """
    if letter_head is None:
        has_letter_head = getattr(model.classifier, "out_features", None) == NUM_LETTERS
        letter_head = model.classifier if has_letter_head else load_pretrained().classifier
    X, y = letters_test_set()
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        scores = letter_head.to(device)(model.features(X.reshape(-1, 1, 8, 8).to(device)))
        return (scores.argmax(1) == y.to(device)).double().mean().item()
    finally:
        model.train(was_training)


@torch.no_grad()
def relative_weight_change(before: nn.Module, after: nn.Module) -> float:
    """‖θ_after − θ_before‖ / ‖θ_before‖ over the backbone (``.features``) parameters, all flattened into one vector."""
    old = [p.detach().flatten() for p in before.features.parameters()]
    new = [p.detach().flatten() for p in after.features.parameters()]
    if [p.shape for p in old] != [p.shape for p in new]:
        raise invalid("after", type(after).__name__, "a model whose backbone has the same shapes as before's")
    old_vector, new_vector = torch.cat(old), torch.cat(new).to(torch.cat(old).device)
    return (torch.linalg.vector_norm(new_vector - old_vector) / torch.linalg.vector_norm(old_vector)).item()
