"""fit: the four steps in order, the scheduler after the update, a history, and a loud divergence."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optimlab.optim import SGD
from optimlab.train import Batches, DivergenceError, History, TrainingInterrupted, evaluation_mode, fit


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
    with pytest.raises(DivergenceError, match=r"at step \d+ \(epoch \d+ of 20\).*learning rate is probably too large"):
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


# --- nothing silent: no data, one-shot iterators, bad losses, interruptions (issue 18) ---

def _batches_of(x, y, size=8):
    return list(zip(x.split(size), y.split(size)))


@pytest.mark.parametrize("make_batches", [
    lambda x, y: [],
    lambda x, y: Batches(x, y, batch_size=64, drop_last=True),       # one batch larger than the 32 rows
    lambda x, y: Batches(x[:0], y[:0], batch_size=8),                 # zero-length tensors
], ids=["empty_list", "drop_last_larger_than_data", "zero_length_tensors"])
def test_fit_on_no_data_is_an_error_that_says_what_was_passed_never_a_loss_of_zero(make_batches):
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match=r"^batches=.* is invalid: expected a re-iterable .*epoch 1 of 2 .*no batch"):
        fit(model, _loss, SGD(model.parameters(), lr=0.1), make_batches(x, y), epochs=2, progress=False)


@pytest.mark.parametrize("one_shot", [
    lambda x, y: (batch for batch in _batches_of(x, y)),   # a generator
    lambda x, y: zip(x.split(8), y.split(8)),               # zip() of two sequences
    lambda x, y: iter(_batches_of(x, y)),
], ids=["generator", "zip", "iter"])
def test_a_one_shot_iterator_trains_one_epoch_then_fails_at_the_epoch_without_a_batch(one_shot):
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match=r"epoch 2 of 3 .*no batch.*used up after one pass") as caught:
        fit(model, _loss, SGD(model.parameters(), lr=0.1), one_shot(x, y), epochs=3, progress=False)
    assert len(caught.value.history.loss) == 4 and caught.value.history.epoch_loss == [
        pytest.approx(sum(caught.value.history.loss) / 4)]
    assert caught.value.step == 4


def test_a_plateau_scheduler_never_sees_a_made_up_loss():
    x, y = _data()
    model = _model()
    optimizer = SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0)
    with pytest.raises(ValueError, match="no batch"):
        fit(model, _loss, optimizer, [], epochs=3, scheduler=scheduler, progress=False)
    assert scheduler.best == float("inf") and scheduler.last_epoch == 0


@pytest.mark.parametrize("bad_loss,expected", [
    (lambda p, y: nn.functional.mse_loss(p.squeeze(-1), y, reduction="none"),
     r"a tensor of shape \(8,\).*fit expects a scalar"),
    (lambda p, y: nn.functional.mse_loss(p.squeeze(-1), y).item(), r"a float \(\d.*fit expects a scalar tensor"),
    (lambda p, y: nn.functional.mse_loss(p.squeeze(-1), y).detach(), r"a tensor with no grad_fn.*fit expects a scalar"),
], ids=["reduction_none", "float", "detached"])
def test_a_loss_that_is_not_a_scalar_tensor_with_a_graph_is_named(bad_loss, expected):
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match=r"^loss_fn returned " + expected):
        fit(model, bad_loss, SGD(model.parameters(), lr=0.1), Batches(x, y, batch_size=8), progress=False)


def test_an_interrupted_run_keeps_its_history_and_the_step_it_stopped_at():
    x, y = _data()
    model = _model()
    calls = []

    def interrupted_at_the_sixth_step(pred, target):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt  # what Jupyter's "interrupt kernel" does mid-cell
        return _loss(pred, target)

    mine = History()
    with pytest.raises(KeyboardInterrupt) as caught:
        fit(model, interrupted_at_the_sixth_step, SGD(model.parameters(), lr=0.1), Batches(x, y, batch_size=8),
            epochs=3, history=mine, progress=False)
    assert isinstance(caught.value, TrainingInterrupted) and "step 5 (epoch 2 of 3)" in str(caught.value)
    assert caught.value.history is mine and caught.value.step == 5
    assert len(mine.loss) == len(mine.lr) == 5 and len(mine.epoch_loss) == 1


def test_divergence_carries_the_partial_history_and_keeps_it_consistent():
    x, y = _data()
    model = _model()
    with pytest.raises(DivergenceError) as caught:
        fit(model, _loss, SGD(model.parameters(), lr=50.0), Batches(x, y * 100, batch_size=8, seed=0),
            epochs=20, progress=False, record_grad_norm=True)
    history = caught.value.history
    assert caught.value.step == len(history.loss) > 0
    assert len(history.lr) == len(history.grad_norm) == len(history.loss)   # no half-recorded step
    assert f"at step {caught.value.step} " in str(caught.value)


def test_fit_appends_to_a_caller_owned_history_and_counts_steps_on_from_it():
    x, y = _data()
    model = _model()
    optimizer = SGD(model.parameters(), lr=0.05)
    history = History()
    returned = fit(model, _loss, optimizer, Batches(x, y, batch_size=8), epochs=2, history=history, progress=False)
    fit(model, _loss, optimizer, Batches(x, y, batch_size=16), epochs=1, history=history, progress=False)
    assert returned is history and len(history.loss) == 8 + 2 and len(history.epoch_loss) == 3
    with pytest.raises(ValueError, match=r"^history=.* is invalid: expected a History"):
        fit(model, _loss, optimizer, Batches(x, y, batch_size=8), history=[], progress=False)


def test_fit_leaves_the_train_or_eval_mode_to_the_caller():
    x, y = _data()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    model[1].eval()   # a frozen BatchNorm inside a model that trains
    statistics = model[1].running_mean.clone()
    fit(model, _loss, SGD(model.parameters(), lr=0.01), Batches(x, y, batch_size=8), epochs=2,
        evaluate=lambda m: {"training": float(m.training)}, progress=False)
    assert model.training and not model[1].training and torch.equal(model[1].running_mean, statistics)
    model.eval()      # a whole model in eval mode stays there
    fit(model, _loss, SGD(model.parameters(), lr=0.01), Batches(x, y, batch_size=8), progress=False)
    assert not any(m.training for m in model.modules())


def test_evaluation_mode_switches_every_module_to_eval_without_gradients_and_restores_each_one():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
    model[2].eval()
    with evaluation_mode(model) as inside:
        assert inside is model and not any(m.training for m in model.modules()) and not torch.is_grad_enabled()
    assert [m.training for m in model.modules()] == [True, True, True, False] and torch.is_grad_enabled()
    with pytest.raises(RuntimeError, match="boom"), evaluation_mode(model):
        raise RuntimeError("boom")
    assert [m.training for m in model.modules()] == [True, True, True, False]
