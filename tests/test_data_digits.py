"""The digits: the bundled data unchanged, a stratified seeded split, few-label subsets, images, validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optimlab.data.digits import DigitsSplit, as_images, load_digits_split


def _rows(X: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in X.double()}


def test_reads_the_same_data_as_sklearns_loader():
    from sklearn.datasets import load_digits

    official = load_digits()
    split = load_digits_split(dtype=torch.float64)
    X = torch.cat([split.X_train, split.X_test]) * 16
    y = torch.cat([split.y_train, split.y_test])
    order = np.lexsort(np.column_stack([X.numpy(), y.numpy()]).T)
    expected_order = np.lexsort(np.column_stack([official.data, official.target]).T)
    assert np.array_equal(X.numpy()[order], official.data[expected_order])
    assert np.array_equal(y.numpy()[order], official.target[expected_order])


def test_default_split_shapes_dtypes_and_range():
    split = load_digits_split()
    assert split.X_train.shape == (898, 64) and split.X_test.shape == (899, 64)
    assert split.X_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert split.X_train.min() == 0 and split.X_train.max() == 1 and split.num_classes == 10
    assert load_digits_split(dtype=torch.float64).X_test.dtype == torch.float64


def test_split_is_stratified_and_disjoint():
    split = load_digits_split(test_fraction=0.3, seed=4)
    train, test = split.y_train.bincount(minlength=10), split.y_test.bincount(minlength=10)
    share = test.double() / (train + test).double()
    assert torch.all((share - 0.3).abs() < 1 / 170)  # each class within one item of its 30 %
    assert len(split.y_test) == int(np.ceil(0.3 * 1797))
    overlap = _rows(split.X_train) & _rows(split.X_test)
    duplicated = 1797 - len(_rows(torch.cat([split.X_train, split.X_test])))
    assert len(overlap) <= duplicated  # only images that occur twice in the data may appear in both halves


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = load_digits_split(seed=1), load_digits_split(seed=1), load_digits_split(seed=2)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.X_train, c.X_train)


def test_labels_per_class_keeps_k_of_each_digit_from_the_train_half_and_the_test_half_unchanged():
    full = load_digits_split(seed=3)
    few = load_digits_split(seed=3, labels_per_class=5)
    assert few.y_train.bincount(minlength=10).tolist() == [5] * 10
    assert torch.equal(few.X_test, full.X_test) and torch.equal(few.y_test, full.y_test)
    assert _rows(few.X_train) <= _rows(full.X_train)
    assert not torch.equal(few.y_train[:10], few.y_train[:10].sort().values)  # classes are interleaved
    assert torch.equal(few.X_train, load_digits_split(seed=3, labels_per_class=5).X_train)
    assert not torch.equal(few.X_train, load_digits_split(seed=4, labels_per_class=5).X_train)
    more = load_digits_split(seed=3, labels_per_class=12)
    assert _rows(few.X_train) <= _rows(more.X_train)  # nested: more labels add examples, keep the old ones


def test_images_option_and_helper_agree():
    flat = load_digits_split(seed=0)
    images = load_digits_split(seed=0, images=True)
    assert images.X_train.shape == (898, 1, 8, 8)
    assert torch.equal(as_images(flat.X_train), images.X_train)
    assert torch.equal(as_images(flat.X_train)[5, 0, 2], flat.X_train[5, 16:24])  # row-major pixels


def test_standardize_uses_training_statistics_only():
    raw, split = load_digits_split(seed=2), load_digits_split(seed=2, standardize=True)
    assert split.X_train.mean(0).abs().max() < 1e-5
    assert abs(split.X_train.std().item() - 1) < 1e-3
    mean_image = raw.X_train.mean(0)
    scale = (raw.X_train - mean_image).std()
    torch.testing.assert_close(split.X_test, (raw.X_test - mean_image) / scale, atol=1e-5, rtol=1e-5)


def test_to_moves_every_tensor():
    split = load_digits_split().to("cpu")
    assert isinstance(split, DigitsSplit) and split.X_test.device.type == "cpu"


@pytest.mark.parametrize("kwargs,message", [
    ({"test_fraction": 0.0}, "test_fraction=0.0 is invalid"),
    ({"test_fraction": 1.0}, "test_fraction=1.0 is invalid"),
    ({"test_fraction": 0.001}, "test_fraction=0.001 is invalid: expected a fraction that leaves every digit"),
    ({"seed": -1}, "seed=-1 is invalid"),
    ({"labels_per_class": 0}, "labels_per_class=0 is invalid: expected an integer in [1, 87]"),
    ({"labels_per_class": 500}, "labels_per_class=500 is invalid"),
    ({"labels_per_class": 2.5}, "labels_per_class=2.5 is invalid"),
    ({"dtype": torch.float16}, "dtype=torch.float16 is invalid"),
])
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_digits_split(**kwargs)


def test_as_images_rejects_other_shapes():
    with pytest.raises(ValueError, match=r"X=\(3, 63\) is invalid"):
        as_images(torch.zeros(3, 63))
