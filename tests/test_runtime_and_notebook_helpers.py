import pytest
import torch

from optimlab.exercises import check_exercise, check_prediction
from optimlab.notebook import setup_notebook, show_results
from optimlab.runtime import pick_device, seed_everything


def test_pick_device_auto_is_cpu_without_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_missing_cuda_is_an_error_not_a_fallback():
    with pytest.raises(ValueError, match=r"device='cuda' is invalid"):
        pick_device("cuda")


def test_unknown_device_lists_choices():
    with pytest.raises(ValueError, match=r"device='gpu' is invalid: expected one of 'auto', 'cpu', 'cuda'"):
        pick_device("gpu")


def test_seed_everything_repeats_global_and_returned_randomness():
    g1 = seed_everything(7)
    a, ga = torch.rand(3), torch.rand(3, generator=g1)
    g2 = seed_everything(7)
    b, gb = torch.rand(3), torch.rand(3, generator=g2)
    assert torch.equal(a, b) and torch.equal(ga, gb)
    seed_everything(8)
    assert not torch.equal(a, torch.rand(3))


def test_setup_notebook_rejects_unknown_profile():
    with pytest.raises(ValueError, match=r"profile='quick' is invalid: expected one of 'smoke', 'full'"):
        setup_notebook(seed=0, profile="quick")


def test_show_results_rejects_values_json_cannot_hold():
    with pytest.raises(ValueError, match=r"^results="):
        show_results({"tensor": torch.zeros(1)})


def _reference_step(x, g, lr):
    x.sub_(lr * g)
    return x.sum()


def test_exercise_check_passes_a_correct_in_place_function(capsys):
    def mine(x, g, lr):
        x -= lr * g
        return x.sum()

    result = check_exercise(mine, _reference_step, [(torch.ones(3), torch.arange(3.0), 0.1)])
    assert result and "✓" in capsys.readouterr().out


def test_exercise_check_catches_a_missing_in_place_update():
    def forgets_to_update(x, g, lr):
        return (x - lr * g).sum()

    result = check_exercise(forgets_to_update, _reference_step, [(torch.ones(3), torch.arange(3.0), 0.1)], quiet=True)
    assert not result and "arguments after the call" in result.message


def test_exercise_check_reports_unsolved_and_crashing_functions_without_raising():
    def unsolved(x, g, lr):
        raise NotImplementedError

    def crashes(x, g, lr):
        return x @ g @ g

    cases = [(torch.ones(3), torch.arange(3.0), 0.1)]
    assert "not written yet" in check_exercise(unsolved, _reference_step, cases, quiet=True).message
    assert "raised RuntimeError" in check_exercise(crashes, _reference_step, cases, quiet=True).message


def test_exercise_check_compares_numbers_with_tolerance():
    cases = [{"x": 2.0}]
    assert check_exercise(lambda x: x**2 + 1e-9, lambda x: x**2, cases, quiet=True)
    assert not check_exercise(lambda x: x**2 + 1e-3, lambda x: x**2, cases, quiet=True)


def test_prediction_check_compares_within_tolerance_and_reports_a_missing_prediction():
    assert check_prediction(95, 100, rtol=0.1, quiet=True)
    wrong = check_prediction(80, 100, rtol=0.1, quiet=True)
    assert not wrong and "80" in wrong.message and "100" in wrong.message
    assert not check_prediction(None, 100, quiet=True) and "no prediction yet" in check_prediction(None, 1).message
    assert check_prediction("adam", "adam", quiet=True) and not check_prediction("sgd", "adam", quiet=True)
    assert not check_prediction(True, False, quiet=True) and check_prediction(3, 3, quiet=True)
