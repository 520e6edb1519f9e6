"""Sweeps: a grid of papermill runs, one row per run, a failed run reported beside the others, no overwrites."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from optimlab.tools.sweep import BOOKKEEPING, _failed_line, main, parse_value, read_results, run_sweep, usable_jobs
from optimlab.tools.sweep_plot import first_numeric_key, plot_sweep_summary

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "00_start_here.ipynb"


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "results.csv").open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


@pytest.mark.parametrize("text,value", [
    ("0", 0), ("-3", -3), ("0.01", 0.01), ("1e-3", 1e-3), ("True", True), ("False", False), ("None", None),
    ("sgd", "sgd"), ("true", "true"), ("", ""),
    ("[sgd, adam]", ["sgd", "adam"]), ("[0.1, 1]", [0.1, 1]), ("{a: 1}", {"a": 1}),
])
def test_values_parse_like_papermill(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("arguments,expected", [
    ({"notebook": "notebooks/no_such.ipynb"}, "notebook="),
    ({"notebook": Path(__file__)}, "notebook="),  # exists, but is not a notebook
    ({"grid": {}}, "grid={}"),
    ({"grid": {"seed": []}}, "grid="),
    ({"grid": {"seed": 0}}, "grid="),
    ({"jobs": 0}, "jobs=0"),
    ({"fixed": {"seed": 1}}, "fixed="),
    ({"grid": {"sed": [0]}}, r"grid=\['sed'\] is invalid: expected names from the notebook's parameters cell \(seed, "),
    ({"fixed": {"lr": 0.1}}, r"fixed=\['lr'\]"),
    ({"name": "a/b"}, "name='a/b'"),
    ({"name": "run\x1b[2J"}, r"name='run\\x1b\[2J' is invalid: expected a plain folder name \(no '/', no control"),
    ({"name": "two\nlines"}, r"name='two\\nlines'"),
])
def test_bad_arguments_name_themselves_before_anything_runs(arguments, expected, tmp_path):
    call = {"notebook": NOTEBOOK, "grid": {"seed": [0]}, "out_dir": tmp_path / "sweeps", **arguments}
    with pytest.raises(ValueError, match=expected):
        run_sweep(call.pop("notebook"), call.pop("grid"), **call)
    assert not (tmp_path / "sweeps").exists()


def test_results_come_from_the_cell_tagged_results(tmp_path):
    def cell(tags, data):
        return {"cell_type": "code", "metadata": {"tags": tags}, "outputs": [{"output_type": "display_data",
                                                                              "data": data}], "source": ""}
    executed = tmp_path / "run.ipynb"
    executed.write_text(json.dumps({"cells": [cell([], {"application/json": {"wrong": 1}}),
                                              cell(["results"], {"text/plain": "x", "application/json": {"a": 2}})]}))
    assert read_results(executed) == {"a": 2}
    executed.write_text(json.dumps({"cells": [cell([], {"application/json": {"wrong": 1}})]}))
    assert read_results(executed) is None


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """One 2 x 2 sweep of notebook 00 through the command line, two runs at a time."""
    out_dir = tmp_path_factory.mktemp("sweeps")
    code = main([str(NOTEBOOK), "-p", "seed", "0", "1", "-p", "profile", "smoke", "full", "--jobs", "2",
                 "--name", "demo", "--out-dir", str(out_dir)])
    return out_dir, code


def test_a_grid_gives_one_row_per_run_with_its_results(sweep):
    out_dir, code = sweep
    folder = out_dir / "demo"
    rows = _rows(folder)
    assert code == 0
    assert {(r["seed"], r["profile"]) for r in rows} == {("0", "smoke"), ("0", "full"), ("1", "smoke"), ("1", "full")}
    assert len(rows) == 4 and all(r["status"] == "ok" and r["error"] == "" for r in rows)
    assert all(int(r["notebooks_present"]) >= 1 and float(r["seconds"]) > 0 for r in rows)  # results keys are columns
    assert all((folder / r["notebook"]).exists() for r in rows)
    assert (folder / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failed_run_is_a_row_and_a_second_sweep_never_overwrites_the_first(sweep):
    out_dir, _ = sweep
    first = out_dir / "demo"
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    folder = run_sweep(NOTEBOOK, {"profile": ["fast", "smoke"]}, fixed={"seed": 2, "device": "auto"}, name="demo",
                       jobs=2, out_dir=out_dir, progress=False)
    assert folder == out_dir / "demo-2"
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before
    failed, ok = _rows(folder)
    assert failed["status"] == "failed" and failed["error"].startswith("ValueError: ") and "profile='fast'" in failed[
        "error"]
    assert ok["status"] == "ok" and ok["error"] == "" and ok["seed"] == "2" and int(ok["notebooks_present"]) >= 1
    # The first run failed, yet results keys come before the bookkeeping; a results key named like a parameter
    # ("device": the notebook reports the device it picked) does not overwrite the parameter's column.
    assert list(ok)[:4] == ["run", "profile", "seed", "device"] and list(ok)[-4:] == list(BOOKKEEPING)
    assert ok["device"] == "auto" and ok["result_device"] == "cpu"


def test_the_summary_shows_the_first_numeric_key_per_pair_of_values_and_marks_failures():
    assert first_numeric_key([{"device": "cpu", "flag": True, "loss": 0.5}, {"device": "cpu", "loss": 1}]) == "loss"
    assert first_numeric_key([{"device": "cpu"}]) is None
    rows = [{"lr": lr, "opt": opt, "seed": seed, "status": "ok", "loss": lr * 10 + seed}
            for lr in (0.1, 1.0) for opt in ("sgd", "adam") for seed in (0, 1)]
    rows[-1] = rows[-2] = {"lr": 1.0, "opt": "adam", "seed": 0, "status": "failed"}  # both seeds of one cell failed
    image = plot_sweep_summary(rows, ["lr", "opt", "seed"], "loss").axes[0].images[0].get_array()
    assert image[0, 0] == image[0, 1] == 1.5 and image[1, 0] == 10.5 and image.mask[1, 1]  # mean over seeds
    bars = plot_sweep_summary(rows, ["opt"], "loss").axes[0].patches
    assert [b.get_height() for b in bars] == [pytest.approx(6.0), pytest.approx(1.5)]  # failed runs are left out


def test_a_bare_assert_is_reported_by_the_line_that_failed():
    traceback = ["\x1b[31mAssertionError\x1b[39m   Traceback (most recent call last)",
                 "\x1b[32m      3\x1b[39m x = 1\n"
                 "\x1b[32m----> \x1b[39m\x1b[32m4\x1b[39m \x1b[38;5;28massert\x1b[39m x > 2\n",
                 "\x1b[31mAssertionError\x1b[39m: "]
    assert _failed_line(traceback) == "assert x > 2"
    assert _failed_line(["no marker here"]) == ""


def test_jobs_are_capped_at_the_machines_cpus_and_the_cap_is_said(monkeypatch, capsys):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert usable_jobs(1000, 50) == 2
    assert "jobs=1000 is more than this machine's 2 CPUs: running 2 at a time" in capsys.readouterr().err
    assert usable_jobs(2, 50) == 2 and usable_jobs(2, 1) == 1  # no more processes than runs, and silently so
    assert capsys.readouterr().err == ""
