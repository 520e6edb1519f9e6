"""The Muon/AdamW split: which parameter goes where, the one-optimizer form equals the two-optimizer one, errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from optimlab.optim.adam import AdamW
from optimlab.optim.muon import Muon
from optimlab.optim.muon_groups import MuonWithAdamW, muon_adamw_groups, split_muon_adamw


class Mixed(nn.Module):
    """Every kind of parameter: an embedding, a conv kernel, hidden matrices, norms, biases, a head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(7, 6)
        self.conv = nn.Conv1d(6, 5, kernel_size=3, padding=1)
        self.norm = nn.LayerNorm(5)
        self.hidden = nn.Linear(5, 8)
        self.hidden2 = nn.Linear(8, 8, bias=False)
        self.scale = nn.Parameter(torch.tensor(1.0))
        self.classifier = nn.Linear(8, 4)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.embed(tokens).transpose(1, 2)).transpose(1, 2)  # (batch, length, 5)
        x = torch.relu(self.hidden(self.norm(x)))
        return self.classifier(torch.relu(self.hidden2(x)) * self.scale).mean(1)


def make_model(seed: int = 0) -> Mixed:
    torch.manual_seed(seed)
    return Mixed().double()


def names_of(model: nn.Module, group: dict) -> set[str]:
    ids = {id(p) for p in group["params"]}
    return {name for name, p in model.named_parameters() if id(p) in ids}


def loss_of(model: nn.Module, step: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(step)
    tokens = torch.randint(0, 7, (4, 6), generator=generator)
    target = torch.randn(4, 4, generator=generator, dtype=torch.float64)
    return nn.functional.mse_loss(model(tokens), target)


def test_hidden_matrices_go_to_muon_and_everything_else_to_adamw():
    model = make_model()
    muon, adamw = muon_adamw_groups(model)
    assert names_of(model, muon) == {"hidden.weight", "hidden2.weight"}
    assert names_of(model, adamw) == {"embed.weight", "conv.weight", "conv.bias", "norm.weight", "norm.bias",
                                      "hidden.bias", "scale", "classifier.weight", "classifier.bias"}
    assert muon["use_muon"] and not adamw["use_muon"]
    reasons = dict(r.split(": ", 1) for r in adamw["reasons"])
    assert reasons["embed.weight"] == "embedding" and reasons["classifier.weight"] == "output head"
    assert reasons["conv.weight"].startswith("3-D kernel") and reasons["scale"] == "scalar"


def test_flatten_conv_head_and_hyperparameters():
    model = make_model()
    muon, adamw = muon_adamw_groups(model, muon={"lr": 0.02}, adamw={"lr": 3e-3}, flatten_conv=True, head=None)
    assert names_of(model, muon) == {"conv.weight", "hidden.weight", "hidden2.weight", "classifier.weight"}
    assert muon["lr"] == 0.02 and adamw["lr"] == 3e-3
    groups = muon_adamw_groups(model, head=["classifier", "hidden2"])
    assert names_of(model, groups[0]) == {"hidden.weight"}
    frozen = make_model()
    frozen.hidden.weight.requires_grad_(False)
    assert "hidden.weight" not in names_of(frozen, muon_adamw_groups(frozen)[0])


def run(optimizer_steps, model: nn.Module, steps: int, start: int = 0) -> None:
    for step in range(start, start + steps):
        loss_of(model, step).backward()
        for optimizer in optimizer_steps:
            optimizer.step()
        model.zero_grad(set_to_none=True)


def test_one_optimizer_equals_muon_and_adamw_side_by_side():
    settings = dict(muon={"lr": 0.02, "weight_decay": 0.05}, adamw={"lr": 3e-3, "betas": (0.8, 0.99)})
    one, two = make_model(), make_model()
    run([MuonWithAdamW(muon_adamw_groups(one, **settings))], one, 8)
    muon_groups, adamw_groups = split_muon_adamw(muon_adamw_groups(two, **settings))
    run([Muon(muon_groups), AdamW(adamw_groups)], two, 8)
    for (name, a), b in zip(one.named_parameters(), two.parameters(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(one.hidden.weight, make_model().hidden.weight)


def test_split_groups_build_torchs_own_optimizers():
    muon_groups, adamw_groups = split_muon_adamw(muon_adamw_groups(make_model(), muon={"lr": 0.02}))
    assert all(set(g) == {"params", "lr"} for g in muon_groups) and all(set(g) == {"params"} for g in adamw_groups)
    torch.optim.Muon(muon_groups)
    torch.optim.AdamW(adamw_groups)


def test_a_flattened_kernel_is_orthogonalised_as_a_matrix():
    torch.manual_seed(3)
    conv = nn.Conv2d(2, 4, kernel_size=3).double()
    matrix = nn.Parameter(conv.weight.detach().reshape(4, -1).clone())
    one = MuonWithAdamW(muon_adamw_groups(conv, flatten_conv=True, head=None, muon={"lr": 0.1}))
    reference = Muon([matrix], lr=0.1)
    for step in range(3):
        gradient = torch.randn(4, 2, 3, 3, generator=torch.Generator().manual_seed(step), dtype=torch.float64)
        conv.weight.grad, matrix.grad = gradient.clone(), gradient.reshape(4, -1).clone()
        one.step()
        reference.step()
    assert torch.equal(conv.weight.detach().reshape(4, -1), matrix.detach())


def test_state_dict_resume_equals_an_uninterrupted_run():
    straight, resumed = make_model(), make_model()
    optimizer = MuonWithAdamW(muon_adamw_groups(straight, muon={"lr": 0.02}))
    run([optimizer], straight, 6)
    first = MuonWithAdamW(muon_adamw_groups(resumed, muon={"lr": 0.02}))
    run([first], resumed, 3)
    checkpoint = copy.deepcopy(first.state_dict())
    second = MuonWithAdamW(muon_adamw_groups(resumed, muon={"lr": 0.02}))
    second.load_state_dict(checkpoint)
    run([second], resumed, 3, start=3)
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_unsuitable_groups_and_values_raise_naming_them():
    model = make_model()
    with pytest.raises(ValueError, match=r"^head=.* is invalid"):
        muon_adamw_groups(model, head="decoder")
    with pytest.raises(ValueError, match=r"^model=.* is invalid"):
        muon_adamw_groups(nn.ReLU())
    with pytest.raises(ValueError, match=r"^param_groups='muon' is invalid.*shape \(4,\)"):
        MuonWithAdamW([{"params": [model.classifier.bias], "use_muon": True, "name": "muon"}])
    with pytest.raises(ValueError, match=r"MuonWithAdamW"):
        split_muon_adamw(muon_adamw_groups(model, flatten_conv=True))
    with pytest.raises(ValueError, match=r"use_muon"):
        MuonWithAdamW([{"params": [model.hidden.weight]}])
    with pytest.raises(ValueError, match=r"use_muon"):
        split_muon_adamw([{"params": [model.hidden.weight]}])
    with pytest.raises(ValueError, match=r"^momentum=1.5 is invalid"):
        MuonWithAdamW(muon_adamw_groups(model, muon={"momentum": 1.5}))
    with pytest.raises(ValueError, match=r"^betas\[1\]=1.0 is invalid"):
        MuonWithAdamW(muon_adamw_groups(model, adamw={"betas": (0.9, 1.0)}))
