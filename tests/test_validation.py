import math

import pytest
import torch

from optimlab.validation import (
    check_betas,
    check_bool,
    check_choice,
    check_choices,
    check_fraction,
    check_int,
    check_learning_rate,
    check_non_negative,
    check_number,
    check_positive,
)


@pytest.mark.parametrize("value", [-1e-9, math.nan, math.inf, "0.1", True, None])
def test_non_negative_rejects(value):
    with pytest.raises(ValueError, match=r"^lr=.* is invalid: expected .*>= 0"):
        check_non_negative("lr", value)


def test_accepted_values_are_returned():
    assert check_non_negative("lr", 0.0) == 0.0
    assert check_positive("eps", 1e-8) == 1e-8
    assert check_fraction("beta", 0.0) == 0.0
    assert check_int("steps", 3, low=1) == 3
    assert check_betas("betas", (0.9, 0.999)) == (0.9, 0.999)
    assert check_choice("optimizer", "adam", ["sgd", "adam"]) == "adam"


def test_positive_rejects_zero():
    with pytest.raises(ValueError, match=r"eps=0 is invalid: expected a number > 0"):
        check_positive("eps", 0)


def test_fraction_rejects_one():
    with pytest.raises(ValueError, match=r"alpha=1.0 is invalid: expected a number in \[0.0, 1.0\)"):
        check_fraction("alpha", 1.0)


def test_interval_bounds_are_respected():
    with pytest.raises(ValueError, match=r"x=5 is invalid: expected a number in \[0, 4\]"):
        check_number("x", 5, low=0, high=4)


@pytest.mark.parametrize("value", [2.0, True, "3", 0])
def test_int_rejects(value):
    with pytest.raises(ValueError, match=r"^epochs="):
        check_int("epochs", value, low=1)


def test_choice_lists_every_option():
    with pytest.raises(ValueError, match=r"optimizer='adamm' is invalid: expected one of 'sgd', 'adam'"):
        check_choice("optimizer", "adamm", ["sgd", "adam"])


@pytest.mark.parametrize("values", ["sgd", [], ["sgd", "nope"]])
def test_choices_rejects(values):
    with pytest.raises(ValueError, match=r"^optimizers="):
        check_choices("optimizers", values, ["sgd", "adam"])


@pytest.mark.parametrize("betas,name", [((1.0, 0.9), r"betas\[0\]"), ((0.9, -0.1), r"betas\[1\]"), ((0.9,), "betas")])
def test_betas_names_the_bad_index(betas, name):
    with pytest.raises(ValueError, match=rf"^{name}="):
        check_betas("betas", betas)


@pytest.mark.parametrize("value", ["False", "True", 0, 1, None, 1.0])
def test_bool_accepts_only_bools(value):
    with pytest.raises(ValueError, match=r"^maximize=.* is invalid: expected True or False"):
        check_bool("maximize", value)
    assert check_bool("maximize", False) is False and check_bool("maximize", True) is True


def test_learning_rate_takes_a_one_element_tensor_and_returns_it_0_dim():
    lr = torch.tensor([0.1], dtype=torch.float64)
    checked = check_learning_rate("lr", lr)
    assert isinstance(checked, torch.Tensor) and checked.ndim == 0 and checked.data_ptr() == lr.data_ptr()
    assert check_learning_rate("lr", 0.1) == 0.1


@pytest.mark.parametrize("value", [torch.tensor(-0.1), torch.tensor(math.inf), torch.tensor([0.1, 0.2]),
                                   torch.tensor(1), torch.tensor(1j), -0.1, "0.1"])
def test_learning_rate_rejects(value):
    with pytest.raises(ValueError, match=r"^lr=.* is invalid: expected"):
        check_learning_rate("lr", value)


def test_tensor_betas_only_when_allowed_and_not_mixed():
    pair = (torch.tensor(0.9), torch.tensor(0.99))
    assert check_betas("betas", pair, tensors=True) == pair
    with pytest.raises(ValueError, match=r"^betas\[0\]=tensor"):
        check_betas("betas", pair)
    with pytest.raises(ValueError, match=r"not a mix"):
        check_betas("betas", (0.9, torch.tensor(0.99)), tensors=True)
    with pytest.raises(ValueError, match=r"^betas\[1\]=tensor\(1.5"):
        check_betas("betas", (torch.tensor(0.9), torch.tensor(1.5)), tensors=True)
