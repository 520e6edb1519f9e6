"""Where the course's files live: the repository root, ``data/``, ``notebooks/`` and ``build/``, found in one place.

The library ships inside the course's repository. An editable install (``make install``) finds the root from
this file's location; a regular install (site-packages) cannot, so the root is found, in this order, from:

1. the environment variable ``OPTIMLAB_ROOT``;
2. the folders above this file (editable install);
3. the folders above the current working directory (a notebook or script started inside the repository).

A folder is the root when it holds both ``data/letters_cnn.json`` and ``notebooks/``. When none is found the
error says what to set.

Taught in: README.md ("Quick start").
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_VARIABLE = "OPTIMLAB_ROOT"
_MARKERS = ("data/letters_cnn.json", "notebooks")


def _is_root(folder: Path) -> bool:
    return all((folder / marker).exists() for marker in _MARKERS)


def repository_root() -> Path:
    """The course repository's root folder (see the module docstring for how it is found)."""
    configured = os.environ.get(ROOT_VARIABLE)
    if configured:
        root = Path(configured).expanduser().resolve()
        if not _is_root(root):
            raise FileNotFoundError(
                f"{ROOT_VARIABLE}={configured!r} is not the course repository: expected a folder holding "
                f"{' and '.join(_MARKERS)}"
            )
        return root
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if _is_root(folder):
                return folder
    raise FileNotFoundError(
        "cannot find the course repository (a folder holding data/letters_cnn.json and notebooks/): "
        f"run from inside it, install the library editable (make install), or set {ROOT_VARIABLE}"
    )


def data_dir() -> Path:
    """The repository's ``data/`` folder: shipped datasets and pretrained weights."""
    return repository_root() / "data"


def notebooks_dir() -> Path:
    """The repository's ``notebooks/`` folder."""
    return repository_root() / "notebooks"


def build_dir() -> Path:
    """The repository's ``build/`` folder (generated files; git-ignored)."""
    return repository_root() / "build"
