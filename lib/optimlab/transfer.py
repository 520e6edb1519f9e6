"""Fine-tune the pretrained letters backbone on a few labelled digits, one strategy at a time.

Every run starts from :func:`optimlab.pretrained.load_pretrained` (or a random :class:`LetterNet` for
``"scratch"``), puts a fresh 10-digit head on it (seeded), and trains with Adam on *all* of the
``10 · labels_per_class`` training digits at once (full batch) for ``steps`` updates. Strategies differ
only in which parameters train and at what rate; η_b = ``backbone_lr``, η_h = ``head_lr``:

================================  ============================================================================
strategy                          what trains, at which rate
================================  ============================================================================
``scratch``                       a randomly initialised network, every parameter at η_h
``frozen``                        the head at η_h; backbone ``requires_grad=False`` and in **eval** mode, so
                                  its features are computed once (it is a fixed function)
``frozen_bn_train``               the same, but the backbone left in train mode: BatchNorm normalises with each
                                  batch's statistics and its running statistics drift to the digits
``uniform_low`` / ``uniform_high``  every parameter at η_b / at η_h
``differential``                  backbone at η_b, head at η_h (:func:`backbone_head_groups`)
``differential_schedule``         the same two groups, each scaled by linear warmup then cosine decay
                                  (``warmup_cosine``, 10 % warmup), per step
``layerwise``                     one group per block (conv + BN) and the head, rates geometric from η_b to η_h
``gradual``                       the layer-wise groups, unfrozen from the top: the head alone, then the head
                                  and block 4, ... in equal phases; a frozen group has lr 0 and its block
                                  stays in eval mode
================================  ============================================================================

Papers: differential ("discriminative") rates and gradual unfreezing are ULMFiT's (Howard & Ruder 2018,
arXiv:1801.06146). Deviations: ULMFiT unfreezes one layer per *epoch* and divides the rate by 2.6 per layer
under a slanted triangular schedule; here the phases split a fixed step budget evenly and the rates are the
layer-wise ones, constant. Fine-tuning runs BatchNorm in train mode (batch statistics) for every unfrozen block.

Taught in: notebooks/11_transfer_learning.ipynb.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn

from optimlab.data.digits import DigitsSplit, load_digits_split
from optimlab.models import accuracy
from optimlab.optim import Adam
from optimlab.param_groups import check_partition, layerwise_groups
from optimlab.pretrained import (
    LetterNet,
    backbone_head_groups,
    letter_net,
    load_pretrained,
    new_head,
    relative_weight_change,
    source_accuracy,
)
from optimlab.schedules import Scheduler, warmup_cosine
from optimlab.validation import check_choice, check_int, check_positive

STRATEGIES = ("scratch", "frozen", "frozen_bn_train", "uniform_low", "uniform_high", "differential",
              "differential_schedule", "layerwise", "gradual")
WARMUP_FRACTION = 0.1  # differential_schedule: share of the steps spent warming up


def backbone_blocks(model: LetterNet) -> dict[str, nn.Module]:
    """The backbone's trainable blocks, input side first: ``{"block1": [conv1, bn1], ..., "block4": [conv4, bn4]}``."""
    layers = dict(model.features.named_children())
    blocks = {}
    for number in range(1, 5):
        blocks[f"block{number}"] = nn.ModuleList([layers[f"conv{number}"], layers[f"bn{number}"]])
    return blocks


def freeze(module: nn.Module) -> nn.Module:
    """Freeze ``module`` in place: no gradients for its parameters, and eval mode (BatchNorm stops updating)."""
    module.requires_grad_(False)
    return module.eval()


def strategy_groups(strategy: str, model: LetterNet, backbone_lr: float, head_lr: float) -> list[dict[str, Any]]:
    """The param groups (torch's format, each with a ``name``) that ``strategy`` trains; checked to partition."""
    check_choice("strategy", strategy, STRATEGIES)
    if strategy in ("frozen", "frozen_bn_train"):
        groups = [{"params": list(model.classifier.parameters()), "lr": head_lr, "name": "head"}]
    elif strategy in ("scratch", "uniform_high", "uniform_low"):
        lr = backbone_lr if strategy == "uniform_low" else head_lr
        groups = [{"params": list(model.parameters()), "lr": lr, "name": "all"}]
    elif strategy in ("differential", "differential_schedule"):
        groups = backbone_head_groups(model, backbone_lr, head_lr)
    else:  # layerwise, gradual
        groups = layerwise_groups({**backbone_blocks(model), "head": model.classifier}, backbone_lr, head_lr)
    check_partition(model, groups)
    return groups


def train_full_batch(model: nn.Module, optimizer: torch.optim.Optimizer, X: Tensor, y: Tensor, steps: int,
                     scheduler: Any = None) -> list[list[float]]:
    """``steps`` updates of ``optimizer`` on the whole of ``(X, y)``; returns each group's lr at every step (as used).

    The model's train/eval modes are left as the caller set them (a frozen backbone stays in eval mode).
    """
    rates = []
    for _ in range(check_int("steps", steps, low=1)):
        rates.append([group["lr"] for group in optimizer.param_groups])
        loss = nn.functional.cross_entropy(model(X), y)   # forward, loss
        optimizer.zero_grad()
        loss.backward()                                    # backward
        optimizer.step()                                   # update
        if scheduler is not None:
            scheduler.step()
    return rates


def finetune(strategy: str, seed: int, labels_per_class: int, *, steps: int = 60, backbone_lr: float = 1e-4,
             head_lr: float = 1e-2, pretrained: LetterNet | None = None, device: torch.device | str = "cpu",
             score_letters: bool = True) -> dict[str, Any]:
    """Train one strategy on ``labels_per_class`` digits of each class (split and head drawn from ``seed``).

    Returns ``accuracy`` (on the test half of the digits), ``backbone_change`` (relative weight change of
    the backbone, from the pretrained one, or from its own initialisation for scratch), ``letters_retained``
    (:func:`source_accuracy` with the pretrained letter head; NaN for scratch, or when ``score_letters`` is
    False, which saves scoring 2,080 letters), ``lr`` (each group's lr at every step), ``groups`` (their
    names) and the trained ``model``. ``pretrained`` defaults to :func:`load_pretrained` (pass it to load once).
    """
    check_choice("strategy", strategy, STRATEGIES)
    check_int("seed", seed, low=0)
    check_int("steps", steps, low=1)
    check_positive("backbone_lr", backbone_lr)
    check_positive("head_lr", head_lr)
    pretrained = load_pretrained() if pretrained is None else pretrained
    data = load_digits_split(seed=seed, labels_per_class=labels_per_class, images=True)
    data = DigitsSplit(*(t.to(device).contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t.to(device)
                         for t in (data.X_train, data.y_train, data.X_test, data.y_test)))
    start = letter_net(10, seed=seed) if strategy == "scratch" else new_head(pretrained, 10, seed=seed)
    # Channels-last memory layout: the same numbers, and 1.3-3x faster convolutions and pooling on a CPU.
    model = copy.deepcopy(start).to(device, memory_format=torch.channels_last).train()
    if strategy.startswith("frozen"):
        freeze(model.features)
        if strategy == "frozen_bn_train":
            model.features.train()
    groups = strategy_groups(strategy, model, backbone_lr, head_lr)
    optimizer = Adam(groups)
    if strategy == "frozen":
        with torch.no_grad():   # a frozen backbone in eval mode is a fixed function: compute its features once
            features = model.features(data.X_train)
        rates = train_full_batch(model.classifier, optimizer, features, data.y_train, steps)
    elif strategy == "gradual":
        rates = _gradual(model, optimizer, data.X_train, data.y_train, steps)
    else:
        scheduler = None
        if strategy == "differential_schedule":
            scheduler = Scheduler(optimizer, warmup_cosine(round(WARMUP_FRACTION * steps), steps))
        rates = train_full_batch(model, optimizer, data.X_train, data.y_train, steps, scheduler)
    return {
        "strategy": strategy, "seed": seed, "labels_per_class": labels_per_class,
        "accuracy": accuracy(model, data.X_test, data.y_test),
        "backbone_change": relative_weight_change(start, model),
        "letters_retained": (source_accuracy(model, copy.deepcopy(pretrained.classifier))   # (moved to device)
                             if score_letters and strategy != "scratch" else math.nan),
        "lr": rates, "groups": [group["name"] for group in groups], "model": model,
    }


def _gradual(model: LetterNet, optimizer: torch.optim.Optimizer, X: Tensor, y: Tensor, steps: int) -> list:
    """Head alone, then unfreeze one block per phase from the top down; frozen groups get lr 0 (and eval mode)."""
    groups = optimizer.param_groups            # [block1, ..., block4, head]
    blocks = list(backbone_blocks(model).values())
    targets = [group["lr"] for group in groups]
    for block, group in zip(blocks, groups):
        freeze(block)
        group["lr"] = 0.0
    phases = len(groups)
    rates = []
    for phase in range(phases):
        if phase > 0:                          # unfreeze the next block down
            index = len(blocks) - phase
            blocks[index].requires_grad_(True).train()
            groups[index]["lr"] = targets[index]
        length = steps * (phase + 1) // phases - steps * phase // phases
        if length:
            rates += train_full_batch(model, optimizer, X, y, length)
    return rates
