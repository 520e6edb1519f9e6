"""Execute every course notebook headless with papermill, print how long each took, render the results.

    python -m optimlab.tools.run_notebooks [NOTEBOOK_DIR] [OUTPUT_DIR] [--html DIR] [--slides DIR] [--reuse] [--jobs N]

``make run`` executes everything into ``build/notebooks/`` and renders ``build/html/`` (one page per
notebook plus ``index.html``). ``make slides`` passes ``--reuse``: an executed notebook already in
``OUTPUT_DIR`` that is newer than its source and ran without error is kept, any other is executed
first, then every one becomes a reveal.js deck in ``build/slides/`` (see :mod:`optimlab.tools.render`).

Each notebook runs with its working directory set to the folder it lives in, so the course behaves
the same whether it is started from the repository root, from ``notebooks/`` or from anywhere else.
``--jobs`` notebooks (default 2) run at the same time, each in its own process (papermill changes the
working directory, so threads would not do); the table still lists them in course order, each with its
own run time. Kernels talk to papermill over IPC sockets (files in a private temporary folder, one
folder per kernel) rather than TCP: no port is opened, and ipykernel has no reason to warn that TCP
traffic is unencrypted.

Taught in: README.md ("make run", "make slides").
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import nbformat
import papermill
from traitlets.config import Config


def course_notebooks(folder: Path) -> list[Path]:
    """The numbered notebooks of ``folder`` in course order (solutions and scratch files excluded)."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def execute(notebook: Path, output: Path, parameters: dict | None = None) -> float:
    """Run one notebook with papermill into ``output``; return its wall time in seconds."""
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with ipc_kernel() as config:
        papermill.execute_notebook(
            str(notebook), str(output), parameters=parameters or {}, kernel_name="python3",
            cwd=str(notebook.parent), progress_bar=False, config=config,
        )
    return time.perf_counter() - start


@contextmanager
def ipc_kernel() -> Iterator[Config]:
    """Settings for papermill's ``config=``: the kernel listens on IPC sockets in a fresh private folder.

    No TCP port is opened (so ipykernel does not warn about unencrypted TCP), and two kernels started at the
    same moment never share a socket path (IPC's default path is relative to the working directory).
    """
    with tempfile.TemporaryDirectory(prefix="optimlab-kernel-") as sockets:
        yield Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}})


def _run_one(notebook: Path, output: Path) -> str:
    """One row's status: the run time, or why it failed (papermill still wrote the notebook, error included)."""
    try:
        return f"{execute(notebook, output):6.1f} s"
    except papermill.PapermillExecutionError as error:
        return f"FAILED: {error.ename}: {error.evalue}"[:100]


def _limit_threads(jobs: int) -> None:
    """Give each of ``jobs`` kernels its share of the cores (inherited by the kernels), unless the user chose."""
    share = str(max(1, (os.cpu_count() or 1) // jobs))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, share)


def is_current(notebook: Path, output: Path) -> bool:
    """True if ``output`` is a successful papermill run of ``notebook`` made after its last edit."""
    if not output.exists() or output.stat().st_mtime < notebook.stat().st_mtime:
        return False
    record = nbformat.read(output, as_version=4).metadata.get("papermill", {})
    return record.get("duration") is not None and not record.get("exception")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="?", default="notebooks", type=Path)
    parser.add_argument("output", nargs="?", default="build/notebooks", type=Path)
    parser.add_argument("--html", type=Path, help="also render each executed notebook to a page in this folder")
    parser.add_argument("--slides", type=Path, help="also render each executed notebook to a slide deck here")
    parser.add_argument("--reuse", action="store_true", help="keep executed notebooks that are current")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at the same time (default 2)")
    args = parser.parse_args(argv)
    notebooks = course_notebooks(args.notebooks)
    outputs = [args.output / notebook.name for notebook in notebooks]
    if args.jobs < 1:
        parser.error(f"--jobs={args.jobs} is invalid: expected an integer >= 1")
    failed, start = [], time.perf_counter()
    print(f"{'notebook':45s} run time", flush=True)
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_limit_threads, initargs=(args.jobs,)) as pool:
        runs: list[Future | None] = [
            None if args.reuse and is_current(notebook, output) else pool.submit(_run_one, notebook, output)
            for notebook, output in zip(notebooks, outputs)
        ]
        for notebook, run in zip(notebooks, runs):  # in course order, each row as soon as it is known
            status = "(kept from the last run)" if run is None else run.result()
            if status.startswith("FAILED"):
                failed.append(notebook.name)
            print(f"{notebook.name:45s} {status}", flush=True)
    print(f"{'total (wall, ' + str(args.jobs) + ' at a time)':45s} {time.perf_counter() - start:6.1f} s")
    print(f"\n{len(notebooks) - len(failed)} of {len(notebooks)} notebooks ok; outputs in {args.output}/")
    from optimlab.tools.render import render_course  # nbconvert and npm only when pages are asked for

    pages: list[tuple[Literal["html", "slides"], Path | None]] = [("html", args.html), ("slides", args.slides)]
    for kind, folder in pages:
        if folder is not None:
            start = time.perf_counter()
            index = render_course([o for o in outputs if o.exists()], folder, kind)
            print(f"{kind} rendered in {time.perf_counter() - start:.1f} s; open {index}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
