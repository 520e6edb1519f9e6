"""The plot helper draws every schedule, per group, with momentum where it cycles, and the drawn values
are the ones the scheduler really writes."""

from __future__ import annotations

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from schedule_harness import CASES, LRS  # noqa: E402

from optimlab import schedules as S  # noqa: E402

CYCLES_MOMENTUM = {"CyclicLR", "OneCycleLR"}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("name", list(CASES))
def test_plot_scheduler_draws_every_torch_named_class(name):
    case = CASES[name][0]
    make = lambda optimizer: case.build(S, optimizer)  # noqa: E731
    steps = min(case.steps, 100)
    ax = S.plot_scheduler(make, steps, lrs=LRS, optimizer=case.optimizer, metrics=case.metrics or None)
    records = S.trace(make, steps, lrs=LRS, optimizer=case.optimizer, metrics=case.metrics or None)
    assert ax.get_title() == name and ax.get_ylabel() == "learning rate"
    assert len(ax.get_lines()) == len(LRS)
    for g, line in enumerate(ax.get_lines()):
        assert list(line.get_ydata()) == [row[g] for row in records["lr"]]
    assert hasattr(ax, "right_ax") == (name in CYCLES_MOMENTUM)
    if name in CYCLES_MOMENTUM:
        momenta = ax.right_ax.get_lines()
        assert len(momenta) == len(LRS) and all(line.get_linestyle() == "--" for line in momenta)
        assert list(momenta[0].get_ydata()) == [row[0] for row in records["momentum"]]
        assert len(set(momenta[0].get_ydata())) > 2


def test_trace_records_what_each_update_uses():
    records = S.trace(lambda o: S.StepLR(o, step_size=2, gamma=0.5), 5, lrs=(1.0, 0.1))
    assert records["lr"] == [[1.0, 0.1], [1.0, 0.1], [0.5, 0.05], [0.5, 0.05], [0.25, 0.025]]
    assert records["momentum"] == [[0.9, 0.9]] * 5


def test_plot_scheduler_draws_beta1_for_adam_and_torchs_schedulers_too():
    ax = S.plot_scheduler(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=50), 50,
                          optimizer="adam", title="torch's OneCycleLR")
    assert ax.get_title() == "torch's OneCycleLR" and ax.right_ax.get_ylabel() == "beta1"
    ours = S.trace(lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=50), 50, optimizer="adam")
    assert list(ax.right_ax.get_lines()[0].get_ydata()) == pytest.approx([row[0] for row in ours["beta1"]],
                                                                         rel=1e-12)


@pytest.mark.parametrize("schedule", [
    S.warmup_cosine(10, 80), S.warmup_stable_decay(5, 80, 15, decay_shape="cosine"), S.inverse_sqrt(8),
    S.Cyclic(5, 5), S.WarmRestarts(10, 2), S.join([S.Linear(0.1, 1.0, 5), S.Cosine(75)], [5]),
], ids=lambda s: type(s).__name__)
def test_plot_schedule_draws_the_multiplier(schedule):
    ax = S.plot_schedule(schedule, 100)
    assert list(ax.get_lines()[0].get_ydata()) == [schedule(t) for t in range(100)]
    assert ax.get_ylabel() == "multiplier m(t)"


def test_plot_into_given_axes_and_bad_arguments():
    _, axes = plt.subplots(1, 2)
    assert S.plot_scheduler(lambda o: S.ExponentialLR(o, 0.9), 20, ax=axes[1]) is axes[1]
    with pytest.raises(ValueError, match="^metrics="):
        S.trace(lambda o: S.ReduceLROnPlateau(o), 10)
    with pytest.raises(ValueError, match="^optimizer="):
        S.trace(lambda o: S.ExponentialLR(o, 0.9), 10, optimizer="rmsprop")
    with pytest.raises(ValueError, match="^steps="):
        S.plot_schedule(S.Cosine(10), 0)
