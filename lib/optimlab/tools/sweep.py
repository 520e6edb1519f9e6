"""Run one notebook over a grid of parameters with papermill and gather every run's headline numbers.

    python -m optimlab.tools.sweep NOTEBOOK -p NAME VALUE [VALUE ...] [-p ...] [--fixed NAME VALUE ...]
                             [--jobs N] [--name NAME] [--out-dir build/sweeps] [--metric KEY]

The grid is the cartesian product of the ``-p`` values (parsed as papermill's ``-p`` parses them:
``True``/``False``/``None``, int, float, else a string; ``[...]``/``{...}`` as YAML). Each run is
``papermill.execute_notebook`` into ``OUT_DIR/NAME/run-NNN_<params>.ipynb``; its numbers are the JSON
output of the cell tagged ``results`` (``optimlab.notebook.show_results``). ``results.csv`` gets one row
per run: the parameters, each results key, ``status`` (ok / failed), ``error`` (``ename: evalue`` of a
failed run) and ``seconds``. A run that fails (bad parameter, divergence) is a row, not the end of the
sweep. ``summary.png`` shows the first numeric results key against the first two swept parameters.

Runs go to separate processes (``--jobs``), not threads: papermill changes the process's working
directory while a notebook runs; ``--jobs`` is capped at the machine's CPU count (and the sweep says
so). A sweep never overwrites another: an existing NAME gets a suffix
(``NAME-2``, ...). A name that is not in the notebook's ``parameters`` cell is refused before anything
runs (papermill would only warn, and every run would be the same run).

Taught in: notebooks/12_capstone_sweep.ipynb.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm  # a widget in a notebook, text in a terminal

from optimlab.validation import check_int, invalid


def parse_value(text: str) -> Any:
    """A command-line value as papermill's ``-p`` reads it; ``[...]`` and ``{...}`` as YAML (``-y``)."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    if text.startswith(("[", "{")):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            pass
    return text


def read_results(executed: Path) -> dict[str, Any] | None:
    """The ``application/json`` output of the cell tagged ``results``, or None if there is none."""
    for cell in json.loads(executed.read_text(encoding="utf-8"))["cells"]:
        if "results" in cell.get("metadata", {}).get("tags", []):
            for output in cell.get("outputs", []):
                if "application/json" in output.get("data", {}):
                    return output["data"]["application/json"]
    return None


def run_one(notebook: str, output: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Execute one run in this process; return status, error, seconds and results. Never raises."""
    import papermill  # imported in the worker process, which is where it runs

    from optimlab.tools.run_notebooks import ipc_kernel

    start = time.perf_counter()
    error = ""
    try:
        with ipc_kernel() as config:  # IPC sockets, not TCP: no port, no "unencrypted TCP" warning per run
            papermill.execute_notebook(notebook, output, parameters=parameters, kernel_name="python3",
                                       cwd=str(Path(notebook).parent), progress_bar=False, config=config)
    except papermill.PapermillExecutionError as failure:
        error = f"{failure.ename}: {failure.evalue or _failed_line(failure.traceback)}"
    except Exception as failure:  # a kernel that died, an unwritable output: still one row of the table
        error = f"{type(failure).__name__}: {failure}"
    results = read_results(Path(output)) if not error and Path(output).exists() else None
    if not error and results is None:
        error = "no application/json output in a cell tagged 'results'"
    return {"status": "failed" if error else "ok", "error": error, "seconds": round(time.perf_counter() - start, 2),
            "results": results or {}}


def _failed_line(traceback: list[str]) -> str:
    """The statement a bare ``assert`` stopped at: IPython marks it with '---->' in the (coloured) traceback."""
    lines = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(traceback)).splitlines()
    marked = [line.split("---->", 1)[1] for line in lines if "---->" in line]
    return re.sub(r"^\s*\d+\s*", "", marked[-1]).strip() if marked else ""


def _new_folder(out_dir: Path, name: str) -> Path:
    """Create ``out_dir/name``, or ``name-2``, ``name-3``, ... if taken (mkdir is atomic: no race)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for attempt in itertools.count(1):
        folder = out_dir / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def _slug(parameters: dict[str, Any]) -> str:
    text = "_".join(f"{k}={v}" for k, v in parameters.items())
    return re.sub(r"[^A-Za-z0-9.=_-]+", "-", text)[:80]


def _check(notebook: Path, grid: Any, fixed: dict, name: str | None, jobs: int) -> None:
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise invalid("notebook", str(notebook), "an existing .ipynb file")
    if not isinstance(grid, dict) or not grid or not all(
            isinstance(k, str) and isinstance(v, (list, tuple)) and v for k, v in grid.items()):
        raise invalid("grid", grid, "a non-empty dict mapping parameter names to non-empty lists of values")
    if both := sorted(set(grid) & set(fixed)):
        raise invalid("fixed", fixed, f"parameters that are not also swept in grid ({', '.join(both)})")
    for argument, given in (("grid", grid), ("fixed", fixed)):
        check_parameter_names(notebook, given, argument)
    if name is not None and (not isinstance(name, str) or not name or Path(name).name != name
                             or name.startswith(".") or not name.isprintable()):
        raise invalid("name", name, "a plain folder name (no '/', no control characters, not empty)")
    check_int("jobs", jobs, low=1)


def check_parameter_names(notebook: str | Path, given: Any, argument: str = "parameters") -> None:
    """Refuse names in ``given`` that the notebook's ``parameters`` cell does not define, before anything runs.

    papermill itself only warns about an unknown name and runs the defaults: a misspelt ``-p epochz 1``
    would look like a successful run of something else.
    """
    import papermill  # only the tools that run notebooks need it

    known = list(papermill.inspect_notebook(str(notebook)))
    if unknown := [key for key in given if key not in known]:
        raise invalid(argument, unknown, f"names from the notebook's parameters cell ({', '.join(known)})")


def usable_jobs(jobs: int, runs: int) -> int:
    """``jobs`` capped at the machine's CPU count and at the number of runs; says so when it caps for the CPUs."""
    cpus = os.cpu_count() or 1
    if jobs > cpus:
        print(f"jobs={jobs} is more than this machine's {cpus} CPUs: running {cpus} at a time", file=sys.stderr)
    return max(1, min(jobs, cpus, runs))


def run_sweep(notebook: str | Path, grid: dict[str, list], *, fixed: dict[str, Any] | None = None,
              name: str | None = None, jobs: int = 1, out_dir: str | Path = "build/sweeps",
              metric: str | None = None, progress: bool = True) -> Path:
    """Run ``notebook`` once per point of the grid; write the runs, results.csv and summary.png; return the folder.

    ``summary.png`` plots ``metric`` (a results key; default: the first numeric one).
    """
    notebook, fixed = Path(notebook).resolve(), dict(fixed or {})
    _check(notebook, grid, fixed, name, jobs)
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    jobs = usable_jobs(jobs, len(points))
    folder = _new_folder(Path(out_dir), name or f"{notebook.stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    outputs = [folder / f"run-{i:03d}_{_slug(p)}.ipynb" for i, p in enumerate(points, 1)]
    (folder / "sweep.json").write_text(json.dumps({"notebook": str(notebook), "grid": grid, "fixed": fixed,
                                                   "jobs": jobs}, indent=1, default=str))
    done: dict[int, dict[str, Any]] = {}
    # spawn, not fork: the caller may be a Jupyter kernel whose threads a fork would copy half-way.
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool, \
            tqdm(total=len(points), desc=folder.name, unit="run", disable=not progress) as bar:
        futures = {pool.submit(run_one, str(notebook), str(out), {**fixed, **p}): i
                   for i, (p, out) in enumerate(zip(points, outputs))}
        for future in as_completed(futures):
            try:
                done[futures[future]] = future.result()
            except Exception as failure:  # the worker process itself died
                done[futures[future]] = {"status": "failed", "error": f"{type(failure).__name__}: {failure}",
                                         "seconds": math.nan, "results": {}}
            bar.update()
    rows = [_row(i + 1, {**points[i], **fixed}, done[i], outputs[i]) for i in range(len(points))]
    _write_csv(folder / "results.csv", rows)
    from optimlab.tools.sweep_plot import first_numeric_key, plot_sweep_summary  # matplotlib only when drawing

    metric = metric or first_numeric_key([done[i]["results"] for i in sorted(done) if done[i]["status"] == "ok"])
    plot_sweep_summary(rows, list(grid), metric).savefig(folder / "summary.png", dpi=100)
    return folder


BOOKKEEPING = ("status", "error", "seconds", "notebook")


def _row(run: int, parameters: dict[str, Any], outcome: dict[str, Any], output: Path) -> dict[str, Any]:
    """One line of results.csv; a results key named like a parameter or a bookkeeping column gets 'result_'."""
    taken = {"run", *parameters, *BOOKKEEPING}
    results = {(f"result_{key}" if key in taken else key): value for key, value in outcome["results"].items()}
    return {"run": run, **parameters, **results, "status": outcome["status"], "error": outcome["error"],
            "seconds": outcome["seconds"], "notebook": output.name}


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    # run, the parameters, every results key (first seen first, even if the first runs failed), then bookkeeping.
    keys = dict.fromkeys(key for row in rows for key in row)
    columns = [key for key in keys if key not in BOOKKEEPING] + list(BOOKKEEPING)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optimlab.tools.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("-p", "--parameter", nargs="+", action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a swept parameter and its values (repeat -p: the grid is the product)")
    parser.add_argument("--fixed", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter with one value for every run (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at the same time (default 1; at most the CPU count)")
    parser.add_argument("--name", help="folder name under --out-dir (default: notebook name + time)")
    parser.add_argument("--out-dir", default="build/sweeps", type=Path)
    parser.add_argument("--metric", help="results key that summary.png shows (default: the first numeric one)")
    args = parser.parse_args(argv)
    grid: dict[str, list] = {}
    for name, *values in args.parameter:
        if not values or name in grid:
            parser.error(f"-p {name}: give each parameter once, with at least one value")
        grid[name] = [parse_value(v) for v in values]
    fixed = {name: parse_value(value) for name, value in args.fixed}
    try:
        folder = run_sweep(args.notebook, grid, fixed=fixed, name=args.name, jobs=args.jobs, out_dir=args.out_dir,
                           metric=args.metric)
    except ValueError as error:  # a bad argument: one line, not a traceback
        parser.error(str(error))
    with (folder / "results.csv").open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        shown = ", ".join(f"{k}={row[k]}" for k in grid)
        print(f"{row['run']:>4}  {shown:40s} {row['status']:6s} {row['seconds']:>7} s  {row['error'][:60]}")
    failed = sum(row["status"] != "ok" for row in rows)
    print(f"\n{len(rows) - failed} of {len(rows)} runs ok; results in {folder}/results.csv and summary.png")
    return 1 if failed == len(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
