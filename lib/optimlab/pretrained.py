"""The course's shipped pretrained weights: where they are, their checksums, and loading them safely.

``data/letters_cnn.pt`` holds the ``state_dict`` of a :class:`~optimlab.models.LetterNet` trained on the
52 synthetic letters of :mod:`optimlab.data.letters` (``make pretrain``, :mod:`optimlab.tools.pretrain`);
``data/letters_cnn.json`` beside it records how it was made and its ``sha256``. ``data/README.md`` says more.

- :func:`default_weights` finds the shipped file through :func:`optimlab.paths.data_dir`, when called
  (importing this module never looks for the repository).
- :func:`load_pretrained` checks the file's sha256 against the JSON and loads it with
  ``torch.load(weights_only=True)`` (tensors only, no pickled code); a missing or corrupt file raises
  :class:`PretrainedWeightsError` (a ``ValueError``; :class:`PretrainedWeightsMissing` is also a
  ``FileNotFoundError``), whose message says to run ``make pretrain``.
- :func:`sha256` hashes a file, :func:`weights_sha256` a state dict's tensors (what reproducibility checks).

Taught in: notebooks/11_transfer_learning.ipynb.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import Tensor

from optimlab.data.letters import NUM_CLASSES as NUM_LETTERS
from optimlab.models import LetterNet
from optimlab.paths import data_dir

WEIGHTS_FILE = "letters_cnn.pt"
REGENERATE = ("Regenerate it with `make pretrain` (python -m optimlab.tools.pretrain --seed 0), "
              "about two minutes on a CPU.")


class PretrainedWeightsError(ValueError):
    """The weights file is corrupt, has no readable checksum record, or does not fit :class:`LetterNet`.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """


class PretrainedWeightsMissing(PretrainedWeightsError, FileNotFoundError):
    """The weights file does not exist (catchable as ``FileNotFoundError`` too).

    Taught in: notebooks/11_transfer_learning.ipynb.
    """


def default_weights() -> Path:
    """The shipped weights, ``data/letters_cnn.pt`` in the course repository (found now, not at import).

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    return data_dir() / WEIGHTS_FILE


def sha256(path: Path | str) -> str:
    """Hex sha256 of a file's bytes (what ``sha256sum`` prints).

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weights_sha256(state_dict: dict[str, Tensor]) -> str:
    """Hex sha256 of a state dict's content: each entry's name, dtype, shape and bytes, in name order.

    Two saves of identical weights differ as files (``torch.save`` writes a random serialization id
    and names the archive after the file), so reproducibility is checked on this content hash instead.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}:".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def provenance_path(weights: Path | str) -> Path:
    """The provenance record beside a weights file: ``letters_cnn.pt`` → ``letters_cnn.json``.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    return Path(weights).with_suffix(".json")


def load_pretrained(path: Path | str | None = None, *, verify: bool = True) -> LetterNet:
    """The pretrained :class:`LetterNet` with its 52-letter head, in eval mode.

    ``path`` defaults to :func:`default_weights`. With ``verify`` the file's sha256 must equal the
    ``sha256`` recorded in the provenance JSON beside it. Loading uses ``torch.load(weights_only=True)``.
    Any failure raises :class:`PretrainedWeightsError` naming the file and saying how to regenerate it.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    path = default_weights() if path is None else Path(path)
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
        model = LetterNet(NUM_LETTERS)
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
