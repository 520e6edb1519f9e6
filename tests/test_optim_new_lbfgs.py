"""LBFGS equals torch.optim.LBFGS: same parameters, same losses, same number of closure calls, same state.

Two full-batch problems: logistic regression with L2 (smooth, well conditioned; plus a parameter the loss never
uses, whose ``.grad`` stays None) and the 4-D Rosenbrock function from a hard start (the strong-Wolfe search
brackets and zooms there). float64, tolerance 1e-12; float32, 1e-5. The line search itself is also compared with
torch's ``_strong_wolfe`` directly, on random 1-D functions that reach every branch (its safeguards included).
"""

from __future__ import annotations

import pytest
import torch
from torch.optim.lbfgs import _strong_wolfe  # torch's line search, private: compared directly

from optimlab import optim as ours
from optimlab.optim import line_search


def logistic_problem(dtype):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(60, 5, generator=generator, dtype=dtype)
    y = (x @ torch.randn(5, generator=generator, dtype=dtype) + 0.3 * torch.randn(60, generator=generator,
                                                                                    dtype=dtype) > 0).to(dtype)
    params = [torch.zeros(5, dtype=dtype, requires_grad=True), torch.zeros(1, dtype=dtype, requires_grad=True),
              torch.ones(2, dtype=dtype, requires_grad=True)]  # the third is never used: its .grad stays None

    def loss(params):
        w, b, _ = params
        return torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y) + 0.01 * w.pow(2).sum()
    return params, loss


def rosenbrock_problem(dtype):
    params = [torch.tensor([-1.5, 2.0], dtype=dtype, requires_grad=True),
              torch.tensor([-1.2, 1.0], dtype=dtype, requires_grad=True)]

    def loss(params):
        z = torch.cat(params)
        return ((1 - z[:-1]) ** 2 + 100 * (z[1:] - z[:-1] ** 2) ** 2).sum()
    return params, loss


PROBLEMS = {"logistic": logistic_problem, "rosenbrock": rosenbrock_problem}

CASES = [
    dict(),
    dict(line_search_fn="strong_wolfe"),
    dict(lr=0.5, history_size=2, max_iter=7),
    dict(line_search_fn="strong_wolfe", history_size=3, max_iter=6, max_eval=8),
    dict(line_search_fn="strong_wolfe", tolerance_change=1e-4, tolerance_grad=1e-3),
    dict(lr=0.1, max_iter=3, tolerance_grad=1e-3),
    dict(line_search_fn="strong_wolfe", lr=10.0, max_eval=4),  # the line search runs out of evaluations
]


def run(cls, problem, options, *, calls=4, dtype=torch.float64, params=None, optimizer=None):
    """``calls`` calls of step(closure); returns params, optimizer, the closure-call count and the returned losses."""
    fresh, loss_fn = PROBLEMS[problem](dtype)
    params = params if params is not None else fresh
    optimizer = optimizer or cls(params, **options)
    count = [0]

    def closure():
        count[0] += 1
        optimizer.zero_grad()
        loss = loss_fn(params)
        loss.backward()
        return loss

    losses = [optimizer.step(closure).item() for _ in range(calls)]
    return params, optimizer, count[0], losses


def assert_same_lbfgs_state(ours_opt, theirs_opt, tol):
    ours_state, theirs_state = ours_opt.state_dict()["state"], theirs_opt.state_dict()["state"]
    assert ours_state.keys() == theirs_state.keys() == {0}  # LBFGS keeps its state on the first parameter
    a, b = ours_state[0], theirs_state[0]
    assert a.keys() == b.keys()
    for key in a:
        values_a, values_b = (a[key], b[key]) if isinstance(a[key], list) else ([a[key]], [b[key]])
        assert len(values_a) == len(values_b), key
        for x, y in zip(values_a, values_b):
            if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
                torch.testing.assert_close(torch.as_tensor(x).double(), torch.as_tensor(y).double(),
                                           atol=tol, rtol=tol)
            else:
                assert x == y or x == pytest.approx(y, rel=tol, abs=tol), key


PARAMS = [(problem, index) for problem in PROBLEMS for index in range(len(CASES))]


@pytest.mark.parametrize("problem,index", PARAMS, ids=[f"{p}-{i}" for p, i in PARAMS])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["f64", "f32"])
def test_matches_torch_including_closure_calls(problem, index, dtype, tol):
    options = CASES[index]
    our_params, our_opt, our_calls, our_losses = run(ours.LBFGS, problem, options, dtype=dtype)
    their_params, their_opt, their_calls, their_losses = run(torch.optim.LBFGS, problem, options, dtype=dtype)
    assert our_calls == their_calls
    first = our_opt.param_groups[0]["params"][0]
    assert our_opt.state[first]["func_evals"] == our_calls  # the state counts the closure calls too
    assert our_losses == pytest.approx(their_losses, rel=tol, abs=tol)
    for a, b in zip(our_params, their_params, strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)
    assert_same_lbfgs_state(our_opt, their_opt, tol)


def _wolfe_on(function, t0):
    """Run torch's and our strong-Wolfe search along d = 1 from x = 0 on a 1-D ``function``; None if not descending."""
    x0, d = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)

    def evaluate(x, t, d):
        z = (x + t * d).requires_grad_()
        loss = function(z)
        return float(loss.detach()), torch.autograd.grad(loss, z)[0]

    f0, g0 = evaluate(x0, 0, d)
    gtd = g0.dot(d)
    if gtd >= 0:
        return None
    theirs = _strong_wolfe(evaluate, x0, t0, d, f0, g0, gtd)

    def probe(t):
        f, g = evaluate(x0, t, d)
        return line_search.Point(t, f, g, g.dot(d))
    ours_point, ours_evals = line_search.strong_wolfe(probe, line_search.Point(0, f0, g0, gtd), t0, d.abs().max())
    return theirs, (ours_point.f, ours_point.g, ours_point.t, ours_evals)


def test_the_line_search_equals_torchs_on_random_functions_and_every_branch_runs(monkeypatch):
    """Our strong-Wolfe search returns torch's step, loss and evaluation count on 480 random 1-D functions
    a sin(bx + c) + k (x − e)² and one with a flat tail; among them, some are accepted while bracketing, some
    zoom, some move a trial 10% inside the bracket (the safeguard) and one runs out of evaluations."""
    seen = {"zoom": 0, "moved_inside": 0, "out_of_evaluations": 0}
    original_zoom, original_away = line_search._zoom, line_search._away_from_ends

    def zoom(*args, **kwargs):
        seen["zoom"] += 1
        return original_zoom(*args, **kwargs)

    def away(t, bracket, close_last_time):
        result = original_away(t, bracket, close_last_time)
        seen["moved_inside"] += result[0] is not t
        return result

    monkeypatch.setattr(line_search, "_zoom", zoom)
    monkeypatch.setattr(line_search, "_away_from_ends", away)
    functions = []
    for seed in range(120):
        a, b, c, e, k = (torch.rand(5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
                         * torch.tensor([2, 30, 6, 3, 2], dtype=torch.float64)).tolist()
        functions.append(lambda x, a=a, b=b, c=c, e=e, k=k: (a * torch.sin(b * x + c) + k * (x - e) ** 2).sum())
    functions.append(lambda x: (-torch.exp(-30 * (x - 2) ** 2)).sum() - 0.01 * x.sum())  # flat: never satisfied
    compared = 0
    for function in functions:
        for t0 in (0.01, 0.05, 0.5, 2.0):  # 0.01: several extrapolations, where the f-rose test can fire
            result = _wolfe_on(function, t0)
            if result is None:
                continue
            (f, g, t, evals), ours_result = result
            assert ours_result[0] == f and torch.equal(ours_result[1], g) and float(ours_result[2]) == float(t)
            assert ours_result[3] == evals
            seen["out_of_evaluations"] += evals == 26
            compared += 1
    assert compared > 200 and all(count > 0 for count in seen.values()), (compared, seen)


def test_converges_on_rosenbrock_in_few_iterations():
    """Full-batch 4-D Rosenbrock from a hard start: L-BFGS with strong Wolfe reaches the minimum (1, 1, 1, 1)
    (measured: 2e-6 away after 44 iterations and 53 closure calls); the fixed step γ = 1 is still 0.67 away
    after 100 iterations."""
    options = dict(line_search_fn="strong_wolfe", max_iter=100)
    params, optimizer, calls, _ = run(ours.LBFGS, "rosenbrock", options, calls=1)
    assert (torch.cat(params) - 1).abs().max() < 1e-5
    state = optimizer.state[params[0]]
    assert state["n_iter"] < 60 and calls == state["func_evals"] < 80  # more closure calls than iterations
    assert calls > state["n_iter"]
    fixed_step = run(ours.LBFGS, "rosenbrock", dict(max_iter=100), calls=1)[0]
    assert (torch.cat(fixed_step) - 1).abs().max() > 0.1


@pytest.mark.parametrize("direction", ["ours->ours", "ours->torch", "torch->ours"])
def test_resume_from_state_dict_equals_uninterrupted_run(direction):
    options = dict(line_search_fn="strong_wolfe", history_size=3, max_iter=4)
    save_cls, load_cls = {"ours->ours": (ours.LBFGS, ours.LBFGS), "ours->torch": (ours.LBFGS, torch.optim.LBFGS),
                          "torch->ours": (torch.optim.LBFGS, ours.LBFGS)}[direction]
    expected = run(ours.LBFGS, "rosenbrock", options, calls=5)[0]
    params, saved = run(save_cls, "rosenbrock", options, calls=2)[:2]
    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    resumed = load_cls(resumed_params, **options)
    resumed.load_state_dict(saved.state_dict())
    run(None, "rosenbrock", options, calls=3, params=resumed_params, optimizer=resumed)
    for a, b in zip(resumed_params, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    fresh = [p.detach().clone().requires_grad_() for p in params]  # the check can fail: without the history
    run(ours.LBFGS, "rosenbrock", options, calls=3, params=fresh)
    assert any(not torch.allclose(a, b, atol=1e-9) for a, b in zip(fresh, expected))


def test_step_without_a_closure_is_refused():
    optimizer = ours.LBFGS([torch.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match=r"^closure=None is invalid: expected a function .*backward"):
        optimizer.step()


def test_two_param_groups_are_refused_as_torch_does():
    groups = [{"params": [torch.zeros(2, requires_grad=True)]}, {"params": [torch.zeros(2, requires_grad=True)]}]
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        torch.optim.LBFGS(groups)
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        ours.LBFGS(groups)
    optimizer = ours.LBFGS(groups[0]["params"])
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        optimizer.add_param_group(groups[1])


def test_max_eval_defaults_to_torchs_five_quarters_of_max_iter():
    assert ours.LBFGS([torch.zeros(1, requires_grad=True)], max_iter=9).defaults["max_eval"] == 11
