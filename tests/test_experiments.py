"""train_digits: one seeded digits run from a recipe, equal to writing the recipe out by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn.functional import cross_entropy

from optimlab.data.digits import load_digits_split
from optimlab.experiments import train_digits
from optimlab.models import evaluate_classifier, mlp
from optimlab.optim import SGD
from optimlab.param_groups import layerwise_groups
from optimlab.schedules import CosineAnnealingLR, ReduceLROnPlateau
from optimlab.train import Batches, fit


@pytest.fixture(scope="module")
def data():
    return load_digits_split(seed=0, standardize=True)


def test_equals_the_recipe_written_out(data):
    run = train_digits(data, seed=3, epochs=2, hyperparameters={"lr": 0.1, "momentum": 0.9}, hidden=(16,),
                       batch_size=100)
    model = mlp(64, (16,), 10, seed=3)
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
    batches = Batches(data.X_train, data.y_train, batch_size=100, seed=3, drop_last=True)
    history = fit(model, cross_entropy, optimizer, batches, epochs=2, progress=False,
                  evaluate=evaluate_classifier(data.X_test, data.y_test))
    assert run.history.loss == history.loss and run.history.metrics == history.metrics
    assert all(torch.equal(a, b) for a, b in zip(run.model.parameters(), model.parameters()))
    assert run.test_accuracy == history.metrics[-1]["accuracy"]
    assert run.train_loss == pytest.approx(evaluate_classifier(data.X_train, data.y_train)(model)["loss"])
    assert not run.diverged and len(run.history.loss) == 2 * (len(data.y_train) // 100)


def test_the_seed_fixes_the_run_and_changes_it(data):
    def run(seed):
        return train_digits(data, seed=seed, epochs=1, hyperparameters={"lr": 0.1})

    assert run(0).history.loss == run(0).history.loss
    assert run(0).history.loss != run(1).history.loss


@pytest.mark.parametrize("interval,expected", [("step", 3 * 7), ("epoch", 3)])
def test_the_scheduler_factory_is_told_how_often_it_will_step(data, interval, expected):
    told = []

    def cosine(optimizer, total):
        told.append(total)
        return CosineAnnealingLR(optimizer, T_max=total)

    run = train_digits(data, seed=0, epochs=3, hyperparameters={"lr": 0.1}, scheduler=cosine,
                       scheduler_interval=interval)
    assert told == [expected]
    rates = [step[0] for step in run.history.lr]
    assert rates[0] == 0.1 and all(a >= b for a, b in zip(rates, rates[1:])) and rates[-1] < 0.1


def test_groups_and_a_plateau_scheduler(data):
    run = train_digits(data, seed=0, epochs=4, hyperparameters={"momentum": 0.9}, hidden=(16, 8),
                       groups=lambda m: layerwise_groups([m.fc1, m.fc2, m.fc3], 0.01, 0.09),
                       scheduler=lambda opt, total: ReduceLROnPlateau(opt, factor=0.5, patience=0, threshold=0.5))
    first, last = run.history.lr[0], run.history.lr[-1]
    assert first == pytest.approx([0.01, 0.03, 0.09])
    # threshold=0.5: no epoch improves by half, so every epoch after the first halves every group's rate
    assert last == pytest.approx([r / 4 for r in first])


def test_a_diverging_run_is_a_result_not_an_exception(data):
    run = train_digits(data, seed=0, epochs=2, hyperparameters={"lr": 1e6, "momentum": 0.9})
    assert run.diverged and run.history is None
    assert math.isnan(run.train_loss) and math.isnan(run.test_accuracy)


@pytest.mark.parametrize("kwargs,message", [
    ({"epochs": 0}, "epochs=0"),
    ({"seed": -1}, "seed=-1"),
    ({"scheduler_interval": "batch"}, "scheduler_interval='batch'"),
    ({"batch_size": 10_000}, "batch_size=10000"),
    ({"optimizer": "adamm"}, "optimizer='adamm'"),
])
def test_bad_arguments_name_themselves(data, kwargs, message):
    arguments = {"seed": 0, "epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        train_digits(data, **arguments)


def test_images_are_refused(data):
    images = load_digits_split(seed=0, images=True)
    with pytest.raises(ValueError, match="data="):
        train_digits(images, seed=0, epochs=1)
