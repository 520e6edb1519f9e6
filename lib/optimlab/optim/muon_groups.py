"""Muon for the hidden matrices, AdamW for everything else: the split every Muon user needs.

Muon orthogonalises a *matrix* update, which suits the weights of hidden linear layers and nothing else:

- biases and norm scales are 1-D: there is no matrix to orthogonalise;
- an embedding's rows are looked up one token at a time, so its "matrix" update is a set of unrelated rows;
- the output head maps features to classes (logits), where a per-class step size (AdamW) works better
  (Jordan et al. keep both in AdamW);
- a conv kernel (out, in, kh, kw) becomes a matrix only once flattened to (out, in·kh·kw).

:func:`muon_adamw_groups` returns torch's list of param groups, each marked ``use_muon`` (the key of Keller
Jordan's ``MuonWithAuxAdam``). Use it one of two ways::

    groups = muon_adamw_groups(model, muon={"lr": 0.02}, adamw={"lr": 3e-3})
    optimizer = MuonWithAdamW(groups)                     # one optimizer (fit() takes one)
    muon, adamw = split_muon_adamw(groups)                # or two: Muon(muon), AdamW(adamw), step both

Taught in: notebooks/13_modern_optimizers.ipynb.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from optimlab.optim.adam import AdamW, adam_update
from optimlab.optim.base import Optimizer
from optimlab.optim.muon import NS_COEFFICIENTS, NS_STEPS, Muon, muon_update
from optimlab.validation import invalid

# torch's defaults of each, filled into a group that does not set them.
MUON_DEFAULTS: dict[str, Any] = dict(lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                                     ns_coefficients=NS_COEFFICIENTS, eps=1e-7, ns_steps=NS_STEPS, adjust_lr_fn=None)
ADAMW_DEFAULTS: dict[str, Any] = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                                      maximize=False, decoupled_weight_decay=True)


def _head_modules(model: nn.Module, head: str | Sequence[str] | None) -> list[nn.Module]:
    if head is None:
        return []
    if head == "last":
        linears: list[nn.Module] = [m for m in model.modules() if isinstance(m, nn.Linear)]
        return linears[-1:]
    names = [head] if isinstance(head, str) else list(head)
    modules = dict(model.named_modules())
    unknown = [name for name in names if name not in modules]
    if unknown:
        raise invalid("head", head, f"'last', None, or names of submodules of the model (no {unknown}; "
                      f"it has {[n for n in modules if n][:12]}...)")
    return [modules[name] for name in names]


def why_adamw(name: str, param: Tensor, *, embedding: bool, head: bool, flatten_conv: bool) -> str | None:
    """The reason a parameter goes to AdamW, or None when Muon takes it.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """
    if embedding:
        return "embedding"
    if head:
        return "output head"
    if param.ndim < 2:
        return "bias or norm (1-D)" if param.ndim == 1 else "scalar"
    if param.ndim > 2 and not flatten_conv:
        return f"{param.ndim}-D kernel (pass flatten_conv=True to give it to Muon as a matrix)"
    return None


def muon_adamw_groups(model: nn.Module, *, muon: Mapping[str, Any] | None = None,
                      adamw: Mapping[str, Any] | None = None, head: str | Sequence[str] | None = "last",
                      flatten_conv: bool = False) -> list[dict[str, Any]]:
    """Split ``model``'s trainable parameters into a Muon group and an AdamW group (torch's list of dicts).

    Muon gets the 2-D weights of hidden layers (and, with ``flatten_conv=True``, ≥3-D conv kernels, which
    :class:`MuonWithAdamW` flattens to (out, in·kh·kw)). AdamW gets embeddings (``nn.Embedding``,
    ``nn.EmbeddingBag``), the output head, biases, norm weights and scalars. ``head`` names the head's
    module(s) (``"classifier"``, ``["fc3"]``); ``"last"`` (default) takes the model's last ``nn.Linear``;
    ``None`` keeps no head apart. ``muon`` and ``adamw`` are each group's hyperparameters (``{"lr": 0.02}``).

    Each group carries ``name`` ("muon" / "adamw"), ``use_muon`` and ``reasons`` (one per parameter: why it
    is where it is). An empty group is left out; a model without trainable parameters raises ``ValueError``.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """
    if not isinstance(model, nn.Module):
        raise invalid("model", type(model).__name__, "a torch.nn.Module")
    heads = {id(p) for module in _head_modules(model, head) for p in module.parameters()}
    embeddings = {id(p) for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))
                  for p in m.parameters()}
    chosen: dict[bool, tuple[list[Tensor], list[str]]] = {True: ([], []), False: ([], [])}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        reason = why_adamw(name, param, embedding=id(param) in embeddings, head=id(param) in heads,
                           flatten_conv=flatten_conv)
        params, reasons = chosen[reason is None]
        params.append(param)
        reasons.append(f"{name}: {reason or f'{param.ndim}-D weight'}")
    if not chosen[True][0] and not chosen[False][0]:
        raise invalid("model", type(model).__name__, "a model with at least one trainable parameter")
    settings = {True: dict(muon or {}), False: dict(adamw or {})}
    return [{"params": chosen[use][0], "name": "muon" if use else "adamw", "use_muon": use,
             "reasons": chosen[use][1], **settings[use]}
            for use in (True, False) if chosen[use][0]]


def check_muon_group(group: Mapping[str, Any], *, allow_flatten: bool) -> None:
    """Raise ``ValueError`` for a Muon group holding a parameter Muon cannot take.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """
    for param in group["params"]:
        if param.ndim < 2 or (param.ndim > 2 and not allow_flatten):
            allowed = "2-D" if not allow_flatten else "at least 2-D (MuonWithAdamW flattens conv kernels)"
            raise invalid("param_groups", group.get("name", "muon"),
                          f"a Muon group of {allowed} parameters, but it holds one of shape {tuple(param.shape)}; "
                          "give it to AdamW (use_muon=False)" + ("" if allow_flatten else
                                                                 " or use MuonWithAdamW, which flattens kernels"))


def split_muon_adamw(groups: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The groups for two optimizers, ``Muon(muon_groups)`` and ``AdamW(adamw_groups)``, without the helper keys.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """
    muon, adamw = [], []
    for index, group in enumerate(groups):
        if "use_muon" not in group:
            raise invalid(f"groups[{index}]", group.get("name", index), "a group with a use_muon key")
        clean = {k: v for k, v in group.items() if k not in ("use_muon", "reasons", "name")}
        if group["use_muon"]:
            check_muon_group(group, allow_flatten=False)
            muon.append(clean)
        else:
            adamw.append(clean)
    return muon, adamw


class MuonWithAdamW(Optimizer):
    """One optimizer for a :func:`muon_adamw_groups` split: Muon on ``use_muon`` groups, AdamW on the others.

    Each update is the library's own (:func:`~optimlab.optim.muon.muon_update`,
    :func:`~optimlab.optim.adam.adam_update` with decoupled decay), so a run equals ``Muon`` and ``AdamW``
    stepped side by side. A group's missing hyperparameters are torch's defaults of its kind (Muon: lr 1e-3,
    weight decay 0.1, ...; AdamW: lr 1e-3, weight decay 1e-2, ...). A ≥3-D parameter in a Muon group is
    flattened to (out, in·kh·kw) for the orthogonalisation, as Jordan's reference code does. Muon's and
    AdamW's rules check each group's values; a Muon group with a 1-D parameter raises ``ValueError``.

    Taught in: notebooks/13_modern_optimizers.ipynb.
    """

    def __init__(self, groups: Sequence[Mapping[str, Any]]) -> None:
        if isinstance(groups, Tensor) or not all(isinstance(g, Mapping) for g in groups):
            raise invalid("groups", type(groups).__name__, "a list of param groups from muon_adamw_groups")
        super().__init__([dict(g) for g in groups], {**ADAMW_DEFAULTS, **MUON_DEFAULTS, "use_muon": False})

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Fill the group's missing values from its kind's defaults, check them, then add it (torch's way)."""
        if "use_muon" not in param_group:
            raise invalid("param_group", param_group.get("name"), "a group with a use_muon key (True or False)")
        kind = MUON_DEFAULTS if param_group["use_muon"] else ADAMW_DEFAULTS
        param_group = {**kind, **param_group}
        if param_group["use_muon"]:
            params = param_group["params"]
            param_group["params"] = [params] if isinstance(params, Tensor) else list(params)
            check_muon_group(param_group, allow_flatten=True)
        super().add_param_group(param_group)

    def check_hyperparameters(self, values: Mapping[str, Any]) -> None:
        rules = Muon.rules if values.get("use_muon") else AdamW.rules
        for name, value in values.items():
            if name in rules:
                rules[name](name, value)

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        if not group["use_muon"]:
            adam_update(param, grad, state, lr=group["lr"], betas=group["betas"], eps=group["eps"],
                        weight_decay=group["weight_decay"], amsgrad=group["amsgrad"], decoupled_weight_decay=True)
            return
        matrix, gradient = param.view(param.size(0), -1), grad.reshape(grad.size(0), -1)  # (out, in·kh·kw)
        muon_update(matrix, gradient, state, lr=group["lr"], weight_decay=group["weight_decay"],
                    momentum=group["momentum"], nesterov=group["nesterov"], ns_coefficients=group["ns_coefficients"],
                    eps=group["eps"], ns_steps=group["ns_steps"], adjust_lr_fn=group["adjust_lr_fn"])
