"""Fine-tune the pretrained letters backbone on a few labelled digits, one strategy at a time.

Every run starts from :func:`optimlab.pretrained.load_pretrained` (or a random :class:`LetterNet` for
``"scratch"``), puts a fresh 10-digit head on it (seeded), and trains with Adam on *all* of the
``10 · labels_per_class`` training digits at once (full batch) for ``steps`` updates, with
:func:`optimlab.train.fit` (one batch per epoch). Strategies differ only in which parameters train and
at what rate; η_b = ``backbone_lr``, η_h = ``head_lr``. Each is a row of :data:`STRATEGY_TABLE`
(a :class:`Strategy`), not a branch of code:

================================  ============================================================================
strategy                          what trains, at which rate
================================  ============================================================================
``scratch``                       a randomly initialised network, every parameter at η_h
``frozen``                        the head at η_h; backbone ``requires_grad=False`` and in **eval** mode, so
                                  its features are computed once (it is a fixed function)
``frozen_bn_train``               the same, but the backbone left in train mode: BatchNorm normalises with each
                                  batch's statistics and its running statistics drift to the digits
``uniform_low`` / ``uniform_high``  every parameter at η_b / at η_h
``differential``                  backbone at η_b, head at η_h (:func:`~optimlab.param_groups.backbone_head_groups`)
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

:func:`source_accuracy` and :func:`relative_weight_change` measure what fine-tuning did to the backbone.

Taught in: notebooks/11_transfer_learning.ipynb.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn.functional import cross_entropy

from optimlab.data.digits import DigitsSplit, load_digits_split
from optimlab.data.letters import NUM_CLASSES as NUM_LETTERS
from optimlab.data.letters import letters_test_set
from optimlab.models import LetterNet, accuracy, letter_net, new_head
from optimlab.optim import Adam
from optimlab.param_groups import backbone_head_groups, check_partition, layerwise_groups
from optimlab.pretrained import load_pretrained
from optimlab.schedules import Scheduler, warmup_cosine
from optimlab.train import History, evaluation_mode, fit
from optimlab.validation import check_choice, check_int, check_positive, invalid

WARMUP_FRACTION = 0.1  # differential_schedule: share of the steps spent warming up
GroupsBuilder = Callable[[LetterNet, float, float], list[dict[str, Any]]]   # (model, backbone_lr, head_lr) -> groups


def backbone_blocks(model: LetterNet) -> dict[str, nn.Module]:
    """The backbone's trainable blocks, input side first: ``{"block1": [conv1, bn1], ..., "block4": [conv4, bn4]}``.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    layers = dict(model.features.named_children())
    return {f"block{n}": nn.ModuleList([layers[f"conv{n}"], layers[f"bn{n}"]]) for n in range(1, 5)}


def freeze(module: nn.Module) -> nn.Module:
    """Freeze ``module`` in place: no gradients for its parameters, and eval mode (BatchNorm stops updating).

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    module.requires_grad_(False)
    return module.eval()


def _head_only(model: LetterNet, backbone_lr: float, head_lr: float) -> list[dict[str, Any]]:
    return [{"params": list(model.classifier.parameters()), "lr": head_lr, "name": "head"}]


def _all_at_head_lr(model: LetterNet, backbone_lr: float, head_lr: float) -> list[dict[str, Any]]:
    return [{"params": list(model.parameters()), "lr": head_lr, "name": "all"}]


def _all_at_backbone_lr(model: LetterNet, backbone_lr: float, head_lr: float) -> list[dict[str, Any]]:
    return [{"params": list(model.parameters()), "lr": backbone_lr, "name": "all"}]


def _layerwise(model: LetterNet, backbone_lr: float, head_lr: float) -> list[dict[str, Any]]:
    return layerwise_groups({**backbone_blocks(model), "head": model.classifier}, backbone_lr, head_lr)


@dataclass(frozen=True)
class Strategy:
    """One way to fine-tune: the param groups it trains, and what it starts from, freezes or schedules.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """

    groups: GroupsBuilder                  # (model, backbone_lr, head_lr) -> torch's param groups, each named
    from_scratch: bool = False             # a randomly initialised LetterNet instead of the pretrained one
    freeze_backbone: bool = False          # backbone requires_grad=False and in eval mode
    backbone_train_mode: bool = False      # ... but left in train mode (BatchNorm uses batch statistics)
    warmup_cosine: bool = False            # every group's rate scaled by warmup then cosine decay, per step
    gradual: bool = False                  # unfreeze from the top, one block per phase


STRATEGY_TABLE: dict[str, Strategy] = {
    "scratch": Strategy(_all_at_head_lr, from_scratch=True),
    "frozen": Strategy(_head_only, freeze_backbone=True),
    "frozen_bn_train": Strategy(_head_only, freeze_backbone=True, backbone_train_mode=True),
    "uniform_low": Strategy(_all_at_backbone_lr),
    "uniform_high": Strategy(_all_at_head_lr),
    "differential": Strategy(backbone_head_groups),
    "differential_schedule": Strategy(backbone_head_groups, warmup_cosine=True),
    "layerwise": Strategy(_layerwise),
    "gradual": Strategy(_layerwise, gradual=True),
}
STRATEGIES = tuple(STRATEGY_TABLE)


def strategy_groups(strategy: str, model: LetterNet, backbone_lr: float, head_lr: float) -> list[dict[str, Any]]:
    """The param groups (torch's format, each with a ``name``) that ``strategy`` trains; checked to partition.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    check_choice("strategy", strategy, STRATEGIES)
    groups = STRATEGY_TABLE[strategy].groups(model, backbone_lr, head_lr)
    check_partition(model, groups)
    return groups


def _full_batch(model: nn.Module, optimizer: torch.optim.Optimizer, X: Tensor, y: Tensor, steps: int,
                history: History, scheduler: Any = None) -> None:
    """``steps`` updates on all of ``(X, y)`` at once: ``fit`` with one batch per epoch (modes left as they are)."""
    fit(model, cross_entropy, optimizer, [(X, y)], epochs=steps, scheduler=scheduler, history=history,
        progress=False)


def finetune(strategy: str, seed: int, labels_per_class: int, *, steps: int = 60, backbone_lr: float = 1e-4,
             head_lr: float = 1e-2, pretrained: LetterNet | None = None, device: torch.device | str = "cpu",
             score_letters: bool = True) -> dict[str, Any]:
    """Train one strategy on ``labels_per_class`` digits of each class (split and head drawn from ``seed``).

    Returns ``accuracy`` (on the test half of the digits), ``backbone_change`` (relative weight change of
    the backbone, from the pretrained one, or from its own initialisation for scratch), ``letters_retained``
    (:func:`source_accuracy` with the pretrained letter head; NaN for scratch, or when ``score_letters`` is
    False, which saves scoring 2,080 letters), ``lr`` (each group's lr at every step), ``groups`` (their
    names) and the trained ``model``. ``pretrained`` defaults to :func:`load_pretrained` (pass it to load once).

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    check_choice("strategy", strategy, STRATEGIES)
    check_int("seed", seed, low=0)
    check_int("steps", steps, low=1)
    check_positive("backbone_lr", backbone_lr)
    check_positive("head_lr", head_lr)
    recipe = STRATEGY_TABLE[strategy]
    pretrained = load_pretrained() if pretrained is None else pretrained
    data = load_digits_split(seed=seed, labels_per_class=labels_per_class, images=True)
    channels_last = torch.channels_last
    data = DigitsSplit(data.X_train.to(device).contiguous(memory_format=channels_last), data.y_train.to(device),
                       data.X_test.to(device).contiguous(memory_format=channels_last), data.y_test.to(device))
    start = letter_net(10, seed=seed) if recipe.from_scratch else new_head(pretrained, 10, seed=seed)
    # Channels-last memory layout: the same numbers, and 1.3-3x faster convolutions and pooling on a CPU.
    model = copy.deepcopy(start).to(device, memory_format=channels_last).train()  # type: ignore[call-overload]
    if recipe.freeze_backbone:
        freeze(model.features)
        model.features.train(recipe.backbone_train_mode)
    groups = strategy_groups(strategy, model, backbone_lr, head_lr)
    optimizer = Adam(groups)
    history = History()
    if recipe.freeze_backbone and not recipe.backbone_train_mode:
        with torch.no_grad():   # a frozen backbone in eval mode is a fixed function: compute its features once
            features = model.features(data.X_train)
        _full_batch(model.classifier, optimizer, features, data.y_train, steps, history)
    elif recipe.gradual:
        _gradual(model, optimizer, data.X_train, data.y_train, steps, history)
    else:
        scheduler = None
        if recipe.warmup_cosine:
            scheduler = Scheduler(optimizer, warmup_cosine(round(WARMUP_FRACTION * steps), steps))
        _full_batch(model, optimizer, data.X_train, data.y_train, steps, history, scheduler)
    return {
        "strategy": strategy, "seed": seed, "labels_per_class": labels_per_class,
        "accuracy": accuracy(model, data.X_test, data.y_test),
        "backbone_change": relative_weight_change(start, model),
        "letters_retained": (source_accuracy(model, pretrained.classifier)
                             if score_letters and not recipe.from_scratch else math.nan),
        "lr": history.lr, "groups": [group["name"] for group in groups], "model": model,
    }


def _gradual(model: LetterNet, optimizer: torch.optim.Optimizer, X: Tensor, y: Tensor, steps: int,
             history: History) -> None:
    """Head alone, then unfreeze one block per phase from the top down; frozen groups get lr 0 (and eval mode)."""
    groups = optimizer.param_groups            # [block1, ..., block4, head]
    blocks = list(backbone_blocks(model).values())
    targets = [group["lr"] for group in groups]
    for block, group in zip(blocks, groups):
        freeze(block)
        group["lr"] = 0.0
    phases = len(groups)
    for phase in range(phases):
        if phase > 0:                          # unfreeze the next block down
            index = len(blocks) - phase
            blocks[index].requires_grad_(True).train()
            groups[index]["lr"] = targets[index]
        length = steps * (phase + 1) // phases - steps * phase // phases
        if length:
            _full_batch(model, optimizer, X, y, length, history)


def source_accuracy(model: LetterNet, letter_head: nn.Module | None = None) -> float:
    """Accuracy on the held-out letters of ``model.features`` followed by a 52-letter head.

    ``letter_head`` defaults to ``model.classifier`` when it has 52 outputs, otherwise to the shipped
    model's head, so a backbone fine-tuned on digits is measured with the letter head it was trained
    with. BatchNorm runs in eval mode (its running statistics, as fine-tuning left them); every mode is
    restored afterwards. A head on another device than the model is copied there, never moved.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    head: nn.Module
    if letter_head is not None:
        head = letter_head
    elif getattr(model.classifier, "out_features", None) == NUM_LETTERS:
        head = model.classifier
    else:
        head = load_pretrained().classifier
    X, y = letters_test_set()
    device = next(model.parameters()).device
    if any(p.device != device for p in head.parameters()):
        head = copy.deepcopy(head).to(device)   # the caller's head stays where it is
    with evaluation_mode(model), evaluation_mode(head):
        scores = head(model.features(X.reshape(-1, 1, 8, 8).to(device)))
        return (scores.argmax(1) == y.to(device)).double().mean().item()


@torch.no_grad()
def relative_weight_change(before: nn.Module, after: nn.Module) -> float:
    """‖θ_after − θ_before‖ / ‖θ_before‖ over the backbone (``.features``) parameters, all flattened into one vector.

    Taught in: notebooks/11_transfer_learning.ipynb.
    """
    old = [p.detach().flatten() for p in cast(nn.Module, before.features).parameters()]
    new = [p.detach().flatten() for p in cast(nn.Module, after.features).parameters()]
    if [p.shape for p in old] != [p.shape for p in new]:
        raise invalid("after", type(after).__name__, "a model whose backbone has the same shapes as before's")
    old_vector = torch.cat(old)
    new_vector = torch.cat(new).to(old_vector.device)
    return (torch.linalg.vector_norm(new_vector - old_vector) / torch.linalg.vector_norm(old_vector)).item()
