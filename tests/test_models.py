"""Small models: named layers, a features/classifier split, seeded init that leaves global randomness alone,
and the metrics that plug into fit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optimlab.data.digits import load_digits_split
from optimlab.models import LetterNet, accuracy, evaluate_classifier, letter_net, mlp, new_head
from optimlab.optim import SGD
from optimlab.train import Batches, fit


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_mlp_layers_are_named_and_shaped():
    model = mlp(64, [32, 16], 10, seed=0)
    assert [name for name, _ in model.named_children()] == ["fc1", "relu1", "fc2", "relu2", "fc3"]
    assert (model.fc1.in_features, model.fc1.out_features) == (64, 32)
    assert (model.fc3.in_features, model.fc3.out_features) == (16, 10)
    assert "fc2.weight" in dict(model.named_parameters())
    assert model(torch.zeros(5, 64)).shape == (5, 10)
    assert [type(m) for m in mlp(3, [], 2, seed=0)] == [nn.Linear]  # no hidden layer: one Linear


@pytest.mark.parametrize("build", [
    lambda seed: mlp(64, [32], 10, seed=seed),
    lambda seed: letter_net(10, seed=seed),
    lambda seed: new_head(letter_net(10, seed=0), 7, seed=seed),
], ids=["mlp", "letter_net", "new_head"])
def test_seed_fixes_the_init_and_global_randomness_is_untouched(build):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = build(0)
    assert torch.equal(torch.rand(3), expected_next)  # building the model drew nothing from the caller's stream
    assert _same(a, build(0)) and not _same(a, build(1))


def test_mlp_init_is_torchs_default_drawn_from_the_seed():
    torch.manual_seed(5)
    reference = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert _same(mlp(4, [3], 2, seed=5), reference)


def test_letter_net_has_features_and_classifier_and_accepts_flat_or_image_input():
    model = letter_net(7, seed=0).eval()
    assert isinstance(model, LetterNet) and isinstance(model.classifier, nn.Linear)
    assert model.feature_dim == 64 * 2 * 2 == model.classifier.in_features
    images = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert model.features(images).shape == (6, model.feature_dim)
    assert torch.equal(model(images), model(images.reshape(6, 64)))
    assert model(images).shape == (6, 7)
    names = {name.split(".")[0] for name, _ in model.named_parameters()}
    assert names == {"features", "classifier"}  # every parameter sits in one of the two parts
    assert sum(p.numel() for p in model.features.parameters()) == 65_184


def test_accuracy_counts_correct_argmax_and_restores_the_mode():
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 1, 1])
    model.train()
    assert accuracy(model, X, y) == 0.75
    assert model.training


@pytest.mark.parametrize("metric", [
    lambda model, X, y: accuracy(model, X, y),
    lambda model, X, y: evaluate_classifier(X, y)(model),
], ids=["accuracy", "evaluate_classifier"])
def test_metrics_restore_each_modules_own_mode_so_a_frozen_batchnorm_stays_frozen(metric):
    model = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model[1].eval()   # frozen inside a model that trains
    metric(model, torch.randn(8, 2), torch.zeros(8, dtype=torch.long))
    assert [m.training for m in model.modules()] == [True, True, False, True]


def test_evaluate_classifier_reports_loss_and_accuracy_and_plugs_into_fit():
    data = load_digits_split(seed=0, standardize=True)
    model = mlp(64, [32], 10, seed=0)
    evaluate = evaluate_classifier(data.X_test, data.y_test)
    before = evaluate(model)
    expected_loss = nn.functional.cross_entropy(model(data.X_test), data.y_test).item()
    assert before["loss"] == pytest.approx(expected_loss) and before["accuracy"] < 0.3
    history = fit(model, nn.functional.cross_entropy, SGD(model.parameters(), lr=0.1, momentum=0.9),
                  Batches(data.X_train, data.y_train, batch_size=128, seed=0), epochs=4, evaluate=evaluate,
                  progress=False)
    assert len(history.metrics) == 4
    assert history.metrics[-1]["accuracy"] == accuracy(model, data.X_test, data.y_test) > 0.85
    assert history.metrics[-1]["loss"] < before["loss"]


@pytest.mark.parametrize("call,message", [
    (lambda: mlp(0, [3], 2, seed=0), "in_features=0 is invalid"),
    (lambda: mlp(3, 8, 2, seed=0), "hidden=8 is invalid"),
    (lambda: mlp(3, [8, 0], 2, seed=0), r"hidden\[1\]=0 is invalid"),
    (lambda: mlp(3, [8], 2, seed=-1), "seed=-1 is invalid"),
    (lambda: letter_net(0, seed=0), "num_classes=0 is invalid"),
    (lambda: new_head(letter_net(3, seed=0), 10, seed=-1), "seed=-1 is invalid"),
    (lambda: accuracy(nn.Linear(2, 2), torch.zeros(3, 2), torch.zeros(2, dtype=torch.long)), r"y=\(2,\) is invalid"),
    (lambda: evaluate_classifier(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), r"y=\(0,\) is invalid"),
])
def test_bad_arguments_name_themselves(call, message):
    with pytest.raises(ValueError, match=message):
        call()
