"""SparseAdam equals torch.optim.SparseAdam step for step on sparse gradients from nn.Embedding(sparse=True).

The problem: two embedding tables in two param groups (different lr); batches look up random rows, with repeats
(so the sparse gradient has duplicate indices to coalesce), and the second table is used only on even steps (its
``.grad`` is None on odd ones). float64, tolerance 1e-12; float32, 1e-6.
"""

from __future__ import annotations

import pytest
import torch

from optimlab import optim as ours

CASES = [dict(), dict(betas=(0.5, 0.9)), dict(eps=1e-3), dict(maximize=True),
         dict(betas=(0.5, 0.9), eps=1e-3, maximize=True)]
CASES = [dict(lr=0.05, **c) for c in CASES]


def make_tables(dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(10, 3, generator=generator, dtype=dtype).requires_grad_(),
            torch.randn(7, 2, generator=generator, dtype=dtype).requires_grad_()]


def loss_at(tables, step):
    generator = torch.Generator().manual_seed(100 + step)
    first = torch.randint(0, 10, (6,), generator=generator)  # 6 draws from 10 rows: repeats and unused rows
    loss = torch.nn.functional.embedding(first, tables[0], sparse=True).sin().sum()
    if step % 2 == 0:
        second = torch.randint(0, 7, (4,), generator=generator)
        loss = loss + torch.nn.functional.embedding(second, tables[1], sparse=True).pow(2).sum()
    return loss


def run(cls, options, *, steps, dtype=torch.float64, tables=None, optimizer=None, start=0):
    tables = tables if tables is not None else make_tables(dtype)
    if optimizer is None:
        second = {**options, "lr": 0.37 * options["lr"]}
        optimizer = cls([{"params": tables[:1], **options}, {"params": tables[1:], **second}])
    for step in range(start, start + steps):
        optimizer.zero_grad(set_to_none=True)
        loss_at(tables, step).backward()
        assert tables[0].grad.is_sparse
        optimizer.step()
    return tables, optimizer


@pytest.mark.parametrize("options", CASES, ids=[str(i) for i in range(len(CASES))])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)], ids=["f64", "f32"])
def test_matches_torch_step_for_step(options, dtype, tol):
    our_tables, our_opt = run(ours.SparseAdam, options, steps=20, dtype=dtype)
    their_tables, their_opt = run(torch.optim.SparseAdam, options, steps=20, dtype=dtype)
    for a, b in zip(our_tables, their_tables, strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)
    our_state, their_state = our_opt.state_dict()["state"], their_opt.state_dict()["state"]
    for index in (0, 1):
        assert our_state[index].keys() == their_state[index].keys() == {"step", "exp_avg", "exp_avg_sq"}
        assert our_state[index]["step"] == their_state[index]["step"]  # a Python int in both
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(our_state[index][key], their_state[index][key], atol=tol, rtol=tol)


def test_rows_not_looked_up_and_their_moments_stay_put():
    table = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    optimizer = ours.SparseAdam([table], lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.embedding(torch.tensor([0, 2, 2]), table, sparse=True).sum().backward()
        before = table.detach().clone()
        optimizer.step()
    moved = (table.detach() != before).any(dim=1)
    assert moved.tolist() == [True, False, True, False, False]
    assert (optimizer.state[table]["exp_avg"][[1, 3, 4]] == 0).all()


def test_an_empty_sparse_gradient_moves_nothing_but_counts_the_step():
    table = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    optimizer = ours.SparseAdam([table], lr=0.1)
    table.grad = torch.sparse_coo_tensor(torch.zeros(1, 0, dtype=torch.long), torch.zeros(0, 2, dtype=torch.float64),
                                         (4, 2), check_invariants=True)
    before = table.detach().clone()
    optimizer.step()
    assert torch.equal(table.detach(), before) and optimizer.state[table]["step"] == 1


@pytest.mark.parametrize("direction", ["ours->ours", "ours->torch", "torch->ours"])
def test_resume_from_state_dict_equals_uninterrupted_run(direction):
    options = CASES[-1]
    save_cls, load_cls = {"ours->ours": (ours.SparseAdam, ours.SparseAdam),
                          "ours->torch": (ours.SparseAdam, torch.optim.SparseAdam),
                          "torch->ours": (torch.optim.SparseAdam, ours.SparseAdam)}[direction]
    expected = run(ours.SparseAdam, options, steps=12)[0]
    tables, saved = run(save_cls, options, steps=5)
    resumed_tables = [t.detach().clone().requires_grad_() for t in tables]
    resumed = load_cls([{"params": resumed_tables[:1], **options}, {"params": resumed_tables[1:], **options}])
    resumed.load_state_dict(saved.state_dict())
    run(None, options, steps=7, tables=resumed_tables, optimizer=resumed, start=5)
    for a, b in zip(resumed_tables, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    fresh = [t.detach().clone().requires_grad_() for t in tables]  # the check can fail: no state, other result
    run(ours.SparseAdam, options, steps=7, tables=fresh, start=5)
    assert any(not torch.allclose(a, b, atol=1e-9) for a, b in zip(fresh, expected))


def test_a_dense_gradient_is_refused_with_torchs_error():
    table = torch.randn(3, 2, requires_grad=True)
    for cls in (torch.optim.SparseAdam, ours.SparseAdam):
        optimizer = cls([table])
        optimizer.zero_grad()
        table.sum().backward()  # a dense gradient
        with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients, please consider Adam"):
            optimizer.step()


def test_refuses_sparse_and_complex_parameters():
    with pytest.raises(ValueError, match=r"^params=.*sparse.* is invalid: expected dense parameters"):
        ours.SparseAdam([torch.zeros(3, 2).to_sparse().requires_grad_()])
    with pytest.raises(ValueError, match=r"^params=.*complex.* is invalid: expected real parameters"):
        ours.SparseAdam([torch.zeros(3, dtype=torch.complex64, requires_grad=True)])


@pytest.mark.parametrize("seed", [0, 1])
def test_trains_an_embedding_model(seed):
    """A bag-of-embeddings classifier whose embedding learns only through sparse gradients: the loss falls below 2%
    of its start in 150 steps (measured over seeds 0-4: 0.05%-0.15% of the start)."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 50, (64, 5), generator=generator)
    labels = (tokens % 2 == 0).sum(dim=1).gt(2).long()  # label: mostly even token ids
    torch.manual_seed(seed)  # the layers' initialisation
    embedding = torch.nn.Embedding(50, 4, sparse=True)
    head = torch.nn.Linear(4, 2)
    sparse, dense = ours.SparseAdam(embedding.parameters(), lr=0.05), ours.Adam(head.parameters(), lr=0.05)
    losses = []
    for _ in range(150):
        sparse.zero_grad()
        dense.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(embedding(tokens).mean(dim=1)), labels)
        loss.backward()
        sparse.step()
        dense.step()
        losses.append(loss.item())
    assert losses[-1] < 0.02 * losses[0]
