"""Schedulers: pure schedules of the step, one thin class that applies them, and torch's schedulers by name.

- ``functions``, ``cycles``  schedules: pure ``step -> multiplier`` functions (frozen dataclasses)
- ``combinators``            ``join`` (one after another), ``product``, ``complement``
- ``scheduler``              :class:`Scheduler`: writes ``floor + (base − floor) · m(t)`` into every group,
                             for any hyperparameter (``"lr"``, ``"momentum"``, ``"betas[0]"``, ``"weight_decay"``)
- ``torch_names``, ``torch_cyclic``, ``torch_composite``, ``plateau``
                             StepLR … OneCycleLR, SequentialLR, ChainedScheduler, ReduceLROnPlateau: torch's
                             names, arguments and values, as closed forms
- ``factories``              ``warmup_cosine``, ``warmup_stable_decay``, ``inverse_sqrt``
- ``keras_names``            Keras's ``LearningRateSchedule`` classes as pure schedules (``from_keras``)
- ``swalr``                  ``SWALR``: torch's annealing to the SWA learning rate
- ``plot``                   ``trace``, ``plot_scheduler``, ``plot_schedule``: curves without training

Step convention everywhere (torch's): building a scheduler applies step 0, so the first
``optimizer.step()`` uses value(0); call ``scheduler.step()`` after ``optimizer.step()``.

Several schedulers stepped back to back on one optimizer multiply their effects, exactly as torch's do
(see :mod:`optimlab.schedules.scheduler` for how closed forms reproduce torch's recursion);
``ChainedScheduler`` (a product) and ``SequentialLR`` (one after another) say the intent more clearly.

Taught in: notebooks/09_schedulers.ipynb, notebooks/10_schedulers_in_training.ipynb.
"""

from optimlab.schedules.combinators import Complement, Join, Product, Schedule, complement, join, product
from optimlab.schedules.cycles import (
    Anneal,
    CumulativeProduct,
    Cyclic,
    ExpRangeScale,
    cos_anneal,
    linear_anneal,
    triangular2_scale,
    triangular_scale,
)
from optimlab.schedules.factories import inverse_sqrt, warmup_cosine, warmup_stable_decay
from optimlab.schedules.functions import (
    Constant,
    Cosine,
    ExponentialDecay,
    InverseSqrt,
    Linear,
    MultiStepDecay,
    Polynomial,
    SqrtDecay,
    StepDecay,
    WarmRestarts,
)
from optimlab.schedules.plateau import ReduceLROnPlateau
from optimlab.schedules.plot import plot_schedule, plot_scheduler, trace
from optimlab.schedules.scheduler import Scheduler
from optimlab.schedules.swalr import SWALR
from optimlab.schedules.torch_composite import ChainedScheduler, SequentialLR
from optimlab.schedules.torch_cyclic import CyclicLR, OneCycleLR
from optimlab.schedules.torch_names import (
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)

# torch.optim.lr_scheduler's classes, by name: notebooks and tests iterate over this.
TORCH_NAMED = {
    cls.__name__: cls
    for cls in (
        StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR,
        CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR, LambdaLR, MultiplicativeLR, SequentialLR,
        ChainedScheduler, ReduceLROnPlateau,
    )
}

__all__ = [
    "SWALR",
    "Anneal", "ChainedScheduler", "Complement", "Constant", "ConstantLR", "Cosine", "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts", "CumulativeProduct", "Cyclic", "CyclicLR", "ExpRangeScale", "ExponentialDecay",
    "ExponentialLR", "InverseSqrt", "Join", "LambdaLR", "Linear", "LinearLR", "MultiStepDecay", "MultiStepLR",
    "MultiplicativeLR", "OneCycleLR", "Polynomial", "PolynomialLR", "Product", "ReduceLROnPlateau", "Schedule",
    "Scheduler", "SequentialLR", "SqrtDecay", "StepDecay", "StepLR", "TORCH_NAMED", "WarmRestarts", "complement",
    "cos_anneal", "inverse_sqrt", "join", "linear_anneal", "plot_schedule", "plot_scheduler", "product", "trace",
    "triangular2_scale", "triangular_scale", "warmup_cosine", "warmup_stable_decay",
]
