"""fit: the four steps in order, the scheduler after the update, a history, and a loud divergence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optimlab.optim import SGD
from optimlab.train import Batches, DivergenceError, fit


def _data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


def _loss(pred, y):
    return nn.functional.mse_loss(pred.squeeze(-1), y)


def test_fit_equals_the_hand_written_loop():
    x, y = _data()
    model_a, model_b = _model(), _model()
    opt_a, opt_b = SGD(model_a.parameters(), lr=0.05, momentum=0.9), SGD(model_b.parameters(), lr=0.05, momentum=0.9)
    history = fit(model_a, _loss, opt_a, Batches(x, y, batch_size=8, seed=1), epochs=3, progress=False)
    batches = Batches(x, y, batch_size=8, seed=1)
    losses = []
    for _ in range(3):
        for xb, yb in batches:
            loss = _loss(model_b(xb), yb)
            opt_b.zero_grad()
            loss.backward()
            opt_b.step()
            losses.append(loss.item())
    assert history.loss == losses
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(a, b)


def test_history_records_each_groups_lr_as_used_and_the_scheduler_runs_after_the_update():
    x, y = _data()
    model = _model()
    optimizer = SGD([{"params": [model.weight], "lr": 0.1}, {"params": [model.bias], "lr": 0.01}])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, _loss, optimizer, Batches(x, y, batch_size=16, seed=0), epochs=2, scheduler=scheduler,
                  progress=False, record_grad_norm=True)
    assert len(history.loss) == len(history.lr) == len(history.grad_norm) == 4
    assert history.lr[0] == [0.1, 0.01] and history.lr[1] == [0.05, 0.005]  # first step used the initial lr
    assert len(history.epoch_loss) == 2 and all(g > 0 for g in history.grad_norm)


def test_epoch_interval_steps_the_scheduler_once_per_epoch():
    x, y = _data()
    model = _model()
    optimizer = SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, _loss, optimizer, Batches(x, y, batch_size=16, seed=0), epochs=2, scheduler=scheduler,
                  scheduler_interval="epoch", progress=False)
    assert [row[0] for row in history.lr] == [0.1, 0.1, 0.05, 0.05]


def test_plateau_scheduler_steps_on_the_monitored_metric():
    x, y = _data()
    model = _model()
    optimizer = SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
    history = fit(model, _loss, optimizer, Batches(x, y, batch_size=32, seed=0), epochs=3, scheduler=scheduler,
                  evaluate=lambda m: {"constant": 1.0}, monitor="constant", progress=False)
    assert [row[0] for row in history.lr] == [0.1, 0.1, 0.05]  # no improvement after epoch 1 halves the lr
    assert history.metrics == [{"constant": 1.0}] * 3


def test_divergence_raises_with_the_step_and_a_hint():
    x, y = _data()
    model = _model()
    with pytest.raises(DivergenceError, match=r"at step \d+ \(epoch \d+\).*learning rate is probably too large"):
        fit(model, _loss, SGD(model.parameters(), lr=50.0), Batches(x, y * 100, batch_size=8, seed=0),
            epochs=20, progress=False)


def test_batches_reshuffle_each_epoch_reproducibly():
    x, y = _data(10)
    first, second = Batches(x, y, batch_size=4, seed=3), Batches(x, y, batch_size=4, seed=3)
    epochs_a = [[b[0] for b in first] for _ in range(2)]
    epochs_b = [[b[0] for b in second] for _ in range(2)]
    assert len(first) == 3 and [len(b) for b in epochs_a[0]] == [4, 4, 2]
    assert all(torch.equal(p, q) for ea, eb in zip(epochs_a, epochs_b) for p, q in zip(ea, eb))
    assert not torch.equal(epochs_a[0][0], epochs_a[1][0])


@pytest.mark.parametrize(
    "kwargs,name", [({"epochs": 0}, "epochs"), ({"scheduler_interval": "batch"}, "scheduler_interval")]
)
def test_bad_arguments_name_themselves(kwargs, name):
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match=rf"^{name}="):
        fit(model, _loss, SGD(model.parameters(), lr=0.1), Batches(x, y, batch_size=8), progress=False, **kwargs)
