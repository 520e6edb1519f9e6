"""Execute every course notebook headless with papermill, print how long each took, render the results.

    python -m optimlab.tools.run_notebooks [NOTEBOOK_DIR] [OUTPUT_DIR] [--html DIR] [--slides DIR] [--reuse]

``make run`` executes everything into ``build/notebooks/`` and renders ``build/html/`` (one page per
notebook plus ``index.html``). ``make slides`` passes ``--reuse``: an executed notebook already in
``OUTPUT_DIR`` that is newer than its source and ran without error is kept, any other is executed
first, then every one becomes a reveal.js deck in ``build/slides/`` (see :mod:`optimlab.tools.render`).

Each notebook runs with its working directory set to the folder it lives in, so the course behaves
the same whether it is started from the repository root, from ``notebooks/`` or from anywhere else.

Taught in: README.md ("make run", "make slides").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
import papermill


def course_notebooks(folder: Path) -> list[Path]:
    """The numbered notebooks of ``folder`` in course order (solutions and scratch files excluded)."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def execute(notebook: Path, output: Path, parameters: dict | None = None) -> float:
    """Run one notebook with papermill into ``output``; return its wall time in seconds."""
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    papermill.execute_notebook(
        str(notebook), str(output), parameters=parameters or {}, kernel_name="python3",
        cwd=str(notebook.parent), progress_bar=False,
    )
    return time.perf_counter() - start


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
    args = parser.parse_args(argv)
    notebooks = course_notebooks(args.notebooks)
    outputs = [args.output / notebook.name for notebook in notebooks]
    failed, total = [], 0.0
    print(f"{'notebook':45s} run time", flush=True)
    for notebook, output in zip(notebooks, outputs):
        if args.reuse and is_current(notebook, output):
            print(f"{notebook.name:45s} (kept from the last run)", flush=True)
            continue
        start = time.perf_counter()
        try:
            status = f"{execute(notebook, output):6.1f} s"
        except papermill.PapermillExecutionError as error:  # papermill still wrote the notebook, error included
            failed.append(notebook.name)
            status = f"FAILED: {error.ename}: {error.evalue}"[:100]
        total += time.perf_counter() - start
        print(f"{notebook.name:45s} {status}", flush=True)
    print(f"{'total':45s} {total:6.1f} s")
    print(f"\n{len(notebooks) - len(failed)} of {len(notebooks)} notebooks ok; outputs in {args.output}/")
    from optimlab.tools.render import render_course  # nbconvert and npm only when pages are asked for

    for kind, folder in (("html", args.html), ("slides", args.slides)):
        if folder is not None:
            start = time.perf_counter()
            index = render_course([o for o in outputs if o.exists()], folder, kind)
            print(f"{kind} rendered in {time.perf_counter() - start:.1f} s; open {index}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
