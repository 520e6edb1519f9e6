"""Learning rates for large batches: the linear scaling rule and the square-root rule.

When the batch grows k-fold, the average gradient is as large but k times less noisy, and an epoch has k
times fewer steps. To cover the same distance per epoch:

- **linear scaling** (Goyal et al., 2017, for SGD): η_k = k · η₁, with a gradual *warmup* from a small rate
  over the first epochs, because the first steps of a fresh network cannot take k-fold steps;
- **square-root scaling** (Hoffer et al., 2017; Malladi et al., 2022 for Adam): η_k = √k · η₁, which keeps
  the variance of an update the same; adaptive methods already normalise the step's size, so they
  tolerate less than linear growth.

Both break past a critical batch size (McCandlish et al., 2018): more examples per step stop reducing the
number of steps needed, and the scaled rate becomes too large to be stable.

Taught in: notebooks/15_many_processes.ipynb.
"""

from __future__ import annotations

import math

from optimlab.validation import check_choice, check_int, check_positive

RULES = ("none", "linear", "sqrt")


def scaled_lr(base_lr: float, base_batch: int, batch: int, rule: str) -> float:
    """The learning rate for ``batch`` given a good ``base_lr`` at ``base_batch``: k·η, √k·η or η (k = batch/base).

    >>> scaled_lr(0.1, 32, 128, "linear"), scaled_lr(0.1, 32, 128, "sqrt"), scaled_lr(0.1, 32, 128, "none")
    (0.4, 0.2, 0.1)

    Taught in: notebooks/15_many_processes.ipynb.
    """
    check_positive("base_lr", base_lr)
    check_int("base_batch", base_batch, low=1)
    check_int("batch", batch, low=1)
    check_choice("rule", rule, RULES)
    k = batch / base_batch
    return base_lr * {"none": 1.0, "linear": k, "sqrt": math.sqrt(k)}[rule]
