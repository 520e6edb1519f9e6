"""The shipped letters backbone: checksum, safe loading, clear errors, param groups, new heads, letters, determinism.

The full regeneration (about a minute) runs only with ``OPTIMLAB_SLOW=1``; an eight-step training run
checks the same determinism on every test run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from optimlab.data.letters import LETTERS, NUM_CLASSES, letter_fonts, letters_test_set, make_letters
from optimlab.models import LetterNet, letter_net, new_head
from optimlab.param_groups import backbone_head_groups
from optimlab.paths import data_dir
from optimlab.pretrained import (
    PretrainedWeightsError,
    default_weights,
    load_pretrained,
    provenance_path,
    sha256,
    weights_sha256,
)
from optimlab.tools.pretrain import ACCURACY_TOLERANCE, THREADS, save, train_letter_net
from optimlab.transfer import relative_weight_change, source_accuracy

DEFAULT_WEIGHTS = default_weights()

SHIPPED_SOURCE_ACCURACY_FLOOR = 0.85  # the shipped backbone must solve at least this share of held-out letters


@pytest.fixture(scope="module")
def pretrained() -> LetterNet:
    return load_pretrained()


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    """The shipped weights and provenance copied to tmp_path, free to damage."""
    copy = tmp_path / DEFAULT_WEIGHTS.name
    shutil.copy(DEFAULT_WEIGHTS, copy)
    shutil.copy(provenance_path(DEFAULT_WEIGHTS), provenance_path(copy))
    return copy


def _provenance() -> dict:
    return json.loads(provenance_path(DEFAULT_WEIGHTS).read_text())


# --- the shipped file: checksum, safe loading, clear errors ---

def test_shipped_weights_match_their_recorded_checksum(pretrained):
    record = _provenance()
    assert sha256(DEFAULT_WEIGHTS) == record["sha256"]
    assert weights_sha256(pretrained.state_dict()) == record["weights_sha256"]
    assert not pretrained.training


def test_a_flipped_byte_is_caught_with_a_message_that_says_how_to_regenerate(shipped_copy):
    data = bytearray(shipped_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shipped_copy.write_bytes(bytes(data))
    with pytest.raises(PretrainedWeightsError, match="corrupt.*make pretrain"):
        load_pretrained(shipped_copy)


def test_an_unreadable_file_gives_the_clear_error_even_without_verification(shipped_copy):
    shipped_copy.write_bytes(shipped_copy.read_bytes()[:1000])  # truncated: not a zip any more
    with pytest.raises(PretrainedWeightsError, match="cannot be loaded.*make pretrain"):
        load_pretrained(shipped_copy, verify=False)


def test_a_missing_file_or_checksum_record_says_how_to_regenerate(tmp_path, shipped_copy):
    with pytest.raises(FileNotFoundError, match="not found.*make pretrain") as caught:
        load_pretrained(tmp_path / "nowhere.pt")
    assert isinstance(caught.value, PretrainedWeightsError) and isinstance(caught.value, ValueError)
    provenance_path(shipped_copy).unlink()
    with pytest.raises(PretrainedWeightsError, match="checksum.*make pretrain"):
        load_pretrained(shipped_copy)


def test_loading_uses_weights_only_and_so_runs_no_pickled_code(tmp_path, monkeypatch):
    marker = tmp_path / "code_ran"

    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(marker),)  # what an unrestricted unpickler would execute

    hostile = tmp_path / "letters_cnn.pt"
    torch.save({"payload": Payload()}, hostile)
    provenance_path(hostile).write_text(json.dumps({"sha256": sha256(hostile)}))
    with pytest.raises(PretrainedWeightsError, match="make pretrain"):
        load_pretrained(hostile)
    assert not marker.exists()

    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: calls.append(kwargs) or real_load(*args, **kwargs))
    load_pretrained()
    assert calls and all(kwargs.get("weights_only") is True for kwargs in calls)


def test_the_default_weights_are_found_when_asked_not_at_import(monkeypatch, tmp_path):
    assert DEFAULT_WEIGHTS == data_dir() / "letters_cnn.pt" and DEFAULT_WEIGHTS.is_file()
    monkeypatch.setenv("OPTIMLAB_ROOT", str(tmp_path))   # not the repository: nothing found, but import is fine
    code = "import optimlab.pretrained, optimlab.transfer, optimlab.tools.pretrain"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with pytest.raises(FileNotFoundError, match="OPTIMLAB_ROOT"):
        load_pretrained()


# --- the backbone/head split ---

@pytest.mark.parametrize("num_classes", [NUM_CLASSES, 10])
def test_backbone_head_groups_hold_every_parameter_exactly_once(pretrained, num_classes):
    model = pretrained if num_classes == NUM_CLASSES else new_head(pretrained, num_classes, seed=0)
    groups = backbone_head_groups(model, backbone_lr=1e-4, head_lr=1e-2, weight_decay=0.01)
    grouped = [id(p) for group in groups for p in group["params"]]
    assert len(grouped) == len(set(grouped)), "a parameter sits in two groups"
    assert set(grouped) == {id(p) for p in model.parameters()}, "a parameter is missing"
    assert [(g["name"], g["lr"], g["weight_decay"]) for g in groups] == [("backbone", 1e-4, 0.01), ("head", 1e-2, 0.01)]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.classifier.parameters()}
    optimizer = torch.optim.SGD(groups)  # torch accepts them as they are
    assert [group["lr"] for group in optimizer.param_groups] == [1e-4, 1e-2]


def test_backbone_head_groups_refuse_a_parameter_outside_the_split_and_a_bad_rate(pretrained):
    model = new_head(pretrained, 10, seed=0)
    model.temperature = nn.Parameter(torch.ones(()))
    with pytest.raises(ValueError, match="features or .classifier"):
        backbone_head_groups(model, 1e-4, 1e-2)
    with pytest.raises(ValueError, match="backbone_lr=-0.1 is invalid"):
        backbone_head_groups(pretrained, -0.1, 1e-2)


def test_new_head_keeps_the_backbone_and_leaves_the_original_alone(pretrained):
    before = {name: tensor.clone() for name, tensor in pretrained.state_dict().items()}
    model = new_head(pretrained, 10, seed=1)
    assert model.classifier.out_features == 10 and pretrained.classifier.out_features == NUM_CLASSES
    for name, tensor in pretrained.features.state_dict().items():  # weights and BatchNorm statistics
        assert torch.equal(model.features.state_dict()[name], tensor), name
    with torch.no_grad():
        next(model.features.parameters()).add_(1.0)  # a copy, not a shared tensor
    assert all(torch.equal(before[name], tensor) for name, tensor in pretrained.state_dict().items())
    same, other = new_head(pretrained, 10, seed=1), new_head(pretrained, 10, seed=2)
    assert torch.equal(same.classifier.weight, model.classifier.weight)
    assert not torch.equal(other.classifier.weight, model.classifier.weight)


def test_relative_weight_change_measures_the_backbone_only(pretrained):
    model = new_head(pretrained, 10, seed=0)
    assert relative_weight_change(pretrained, model) == 0.0
    with torch.no_grad():
        for p in model.features.parameters():
            p.mul_(1.25)
    assert relative_weight_change(pretrained, model) == pytest.approx(0.25, rel=1e-5)


# --- the source task ---

def test_the_shipped_backbone_solves_the_held_out_letters(pretrained):
    accuracy = source_accuracy(pretrained)
    assert accuracy > SHIPPED_SOURCE_ACCURACY_FLOOR
    assert accuracy == pytest.approx(_provenance()["source_accuracy"], abs=1e-4)
    # A digits head does not hide the backbone: the shipped letter head is used instead.
    assert source_accuracy(new_head(pretrained, 10, seed=0)) == pytest.approx(accuracy, abs=1e-12)
    assert source_accuracy(letter_net(NUM_CLASSES, seed=0)) < 0.1  # an untrained network is near chance (1/52)


def test_letters_come_in_the_digits_format():
    X, y = make_letters(3, seed=0)
    assert X.shape == (3 * NUM_CLASSES, 64) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= X.min() and X.max() <= 1.0 and X.max() > 0.9
    assert torch.equal(X * 16, (X * 16).round()), "pixels are block counts 0..16, divided by 16"
    assert torch.equal(torch.bincount(y, minlength=NUM_CLASSES), torch.full((NUM_CLASSES,), 3))
    assert (X.reshape(-1, 8, 8) > 0).any(2).any(1).all(), "every image has ink"
    assert LETTERS[:3] + LETTERS[-3:] == "ABCxyz" and NUM_CLASSES == 52


def test_letters_are_deterministic_for_a_seed_and_the_test_stream_is_separate():
    first, again, other = make_letters(2, seed=5), make_letters(2, seed=5), make_letters(2, seed=6)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])
    assert not torch.equal(make_letters(2, seed=0, split="test")[0], make_letters(2, seed=0)[0])
    X, y = letters_test_set()
    assert X.shape == (40 * NUM_CLASSES, 64) and torch.equal(X, make_letters(40, seed=0, split="test")[0])
    with pytest.raises(ValueError, match="n_per_class=0 is invalid"):
        make_letters(0, seed=0)
    with pytest.raises(ValueError, match="split='valid' is invalid"):
        make_letters(1, seed=0, split="valid")


def test_the_fonts_are_the_22_that_draw_every_letter_in_a_fixed_order():
    names = [path.name for path in letter_fonts()]
    assert len(names) == 22 and names == sorted(names)
    assert {"DejaVuSans.ttf", "STIXGeneral.ttf", "cmr10.ttf"} <= set(names)
    assert not {"cmsy10.ttf", "cmex10.ttf", "LastResortHE-Regular.ttf", "DejaVuSansDisplay.ttf"} & set(names)
    assert names == _provenance()["fonts"]


# --- regeneration ---

def test_training_is_bit_identical_for_a_seed_and_restores_the_thread_count():
    threads = torch.get_num_threads()
    tiny = {"n_per_class": 5, "epochs": 1, "batch_size": 32}  # 260 letters: 8 steps
    first, summary = train_letter_net(7, **tiny)
    again, _ = train_letter_net(7, **tiny)
    other, _ = train_letter_net(8, **tiny)
    assert summary["steps"] == 8
    assert weights_sha256(first.state_dict()) == weights_sha256(again.state_dict())
    assert weights_sha256(first.state_dict()) != weights_sha256(other.state_dict())
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()
    with pytest.raises(ValueError, match="recipe key='epoch' is invalid"):
        train_letter_net(0, epoch=1)


def test_save_writes_weights_that_load_and_a_provenance_that_describes_them(tmp_path):
    model, summary = train_letter_net(7, n_per_class=5, epochs=1, batch_size=32)
    out = tmp_path / "letters_cnn.pt"
    record = save(model, summary, out, seed=7, command="test")
    assert json.loads(provenance_path(out).read_text()) == record
    assert record["sha256"] == sha256(out) and record["threads"] == THREADS and record["seed"] == 7
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    loaded = load_pretrained(out)
    assert weights_sha256(loaded.state_dict()) == record["weights_sha256"] == weights_sha256(model.state_dict())


@pytest.mark.skipif(not os.environ.get("OPTIMLAB_SLOW"), reason="a full pretraining (~1 min): set OPTIMLAB_SLOW=1")
def test_regenerating_with_the_shipped_seed_reproduces_the_shipped_weights(tmp_path):
    record = _provenance()
    model, summary = train_letter_net(record["seed"])
    same_platform = (record["torch"], record["cpu_capability"], record["machine"]) == (
        torch.__version__, torch.backends.cpu.get_cpu_capability(), __import__("platform").machine())
    if same_platform:  # same kernels, same threads, same seed: the same bits
        assert weights_sha256(model.state_dict()) == record["weights_sha256"]
    assert summary["source_accuracy"] == pytest.approx(record["source_accuracy"], abs=ACCURACY_TOLERANCE)
