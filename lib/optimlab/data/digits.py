"""scikit-learn's handwritten digits (1,797 images of 8×8 pixels, 10 classes), split for training and testing.

The data ship inside scikit-learn (``sklearn/datasets/data/digits.csv.gz``): nothing is downloaded.
We read that file directly rather than through ``sklearn.datasets.load_digits`` because importing
``sklearn.datasets`` costs about a second (it pulls in SciPy), a large share of a notebook's budget;
``tests/test_data_digits.py`` checks that the two give identical arrays.

- Pixels are scaled from 0..16 to [0, 1]; ``X`` is ``(n, 64)``, or ``(n, 1, 8, 8)`` with ``images=True``
  (or :func:`as_images` later), the shape a CNN expects. Labels are ``int64``.
- The split is *stratified* (every digit keeps its share in both halves) and seeded: the same seed
  gives the same split, and ``labels_per_class`` does not change the test half.
- ``labels_per_class=k`` keeps only ``k`` labelled examples of each digit from the training half
  (stratified, seeded), for the few-label transfer-learning experiments. For one seed the subsets are
  nested: the 5 examples per class of ``k=5`` are among the 10 of ``k=10``.
- ``standardize=True`` subtracts the training set's mean image and divides by its overall standard
  deviation (one number, not one per pixel: edge pixels that are almost always blank would otherwise
  be blown up on the test set). Centred inputs let plain SGD train several times faster here. The
  statistics come from the returned training tensors only, so nothing leaks from the test half.

Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from optimlab.validation import check_choice, check_int, check_number, invalid

NUM_CLASSES = 10
IMAGE_SHAPE = (1, 8, 8)
PIXEL_MAX = 16.0  # the bundled pixels are counts 0..16 (4×4 blocks of a 32×32 bitmap)
DTYPES = (torch.float32, torch.float64)


@dataclass(frozen=True)
class DigitsSplit:
    """Train and test tensors; ``X_*`` float in [0, 1], ``y_*`` int64 labels 0..9.

    Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
    """

    X_train: Tensor
    y_train: Tensor
    X_test: Tensor
    y_test: Tensor
    num_classes: int = NUM_CLASSES

    def to(self, device: torch.device | str) -> DigitsSplit:
        """The same split with every tensor on ``device``."""
        return DigitsSplit(self.X_train.to(device), self.y_train.to(device), self.X_test.to(device),
                           self.y_test.to(device), num_classes=self.num_classes)


def as_images(X: Tensor) -> Tensor:
    """Reshape flat digits ``(n, 64)`` to images ``(n, 1, 8, 8)`` (a view, no copy).

    Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
    """
    if X.dim() != 2 or X.shape[1] != math.prod(IMAGE_SHAPE):
        raise invalid("X", tuple(X.shape), "a tensor of shape (n, 64)")
    return X.reshape(-1, *IMAGE_SHAPE)


def _bundled_csv() -> Path:
    # find_spec locates the installed package without importing it (importing it is the slow part).
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("scikit-learn is not installed; it ships the digits (see requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"


@functools.lru_cache(maxsize=1)
def _load_raw() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as sklearn's ``load_digits`` returns them: pixels (float64, 0..16) and labels."""
    table = np.loadtxt(_bundled_csv(), delimiter=",")
    pixels, labels = table[:, :-1], table[:, -1].astype(np.int64)
    pixels.flags.writeable = labels.flags.writeable = False  # cached: nobody may change them
    return pixels, labels


def _stratified_test_indices(labels: np.ndarray, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a test set of ``ceil(test_fraction·n)`` items holding each class in proportion.

    Each class first gets ``floor(fraction·n_c)``; the items left over go to the classes with the
    largest remainders (ties: lower label first), so the totals are exact and the split repeatable.
    """
    classes, counts = np.unique(labels, return_counts=True)
    wanted = test_fraction * counts
    per_class = np.floor(wanted).astype(int)
    leftover = math.ceil(test_fraction * len(labels)) - per_class.sum()
    per_class[np.argsort(-(wanted - per_class), kind="stable")[:leftover]] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, per_class)]
    return np.concatenate(chosen)


def _per_class_subset(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of ``k`` items of each class, in a shuffled order."""
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c in np.unique(labels)]
    return rng.permutation(np.concatenate(chosen))


def load_digits_split(
    test_fraction: float = 0.5,
    seed: int = 0,
    labels_per_class: int | None = None,
    dtype: torch.dtype = torch.float32,
    *,
    images: bool = False,
    standardize: bool = False,
) -> DigitsSplit:
    """The digits, split stratified and seeded into train and test; see the module docstring.

    With the defaults: 898 training and 899 test digits, ``X`` of shape ``(n, 64)`` in [0, 1].
    ``labels_per_class=k`` keeps ``k`` of each digit in the training half (``10·k`` in all) and leaves
    the test half unchanged. ``images=True`` returns ``X`` as ``(n, 1, 8, 8)``; ``standardize=True``
    centres and scales with the training set's statistics (then ``X`` is no longer in [0, 1]).

    Taught in: notebooks/06_hyperparameters_lr_finder.ipynb.
    """
    check_number("test_fraction", test_fraction, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_int("seed", seed, low=0)
    check_choice("dtype", dtype, DTYPES)
    pixels, labels = _load_raw()
    rng = np.random.default_rng(seed)
    test = rng.permutation(_stratified_test_indices(labels, test_fraction, rng))
    train = rng.permutation(np.setdiff1d(np.arange(len(labels)), test))
    if min(np.bincount(labels[train], minlength=NUM_CLASSES).min(),
           np.bincount(labels[test], minlength=NUM_CLASSES).min()) == 0:
        raise invalid("test_fraction", test_fraction, "a fraction that leaves every digit in both halves")
    if labels_per_class is not None:
        smallest = int(np.bincount(labels[train], minlength=NUM_CLASSES).min())
        check_int("labels_per_class", labels_per_class, low=1, high=smallest)
        # Drawn after the split from the same generator: the split is unchanged, and (each class's
        # order being the same for every k) the k-per-class subsets of one seed are nested.
        train = train[_per_class_subset(labels[train], labels_per_class, rng)]

    scaled = pixels / PIXEL_MAX
    if standardize:
        mean_image = scaled[train].mean(axis=0)
        spread = (scaled[train] - mean_image).std()
        scaled = (scaled - mean_image) / (spread if spread > 0 else 1.0)  # x ← (x − μ_pixel) / σ_all

    def tensors(index: np.ndarray) -> tuple[Tensor, Tensor]:
        X = torch.tensor(scaled[index], dtype=dtype)
        return (as_images(X) if images else X), torch.tensor(labels[index], dtype=torch.int64)

    return DigitsSplit(*tensors(train), *tensors(test))
