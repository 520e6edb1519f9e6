"""Execute every course notebook headless with papermill and print how long each took.

    python -m optimlab.run_notebooks [NOTEBOOK_DIR] [OUTPUT_DIR] [-p NAME VALUE ...]

Each notebook runs with its working directory set to the folder it lives in, so the course behaves
the same whether it is started from the repository root, from ``notebooks/`` or from anywhere else.

Taught in: README.md ("make run").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="?", default="notebooks", type=Path)
    parser.add_argument("output", nargs="?", default="build/notebooks", type=Path)
    args = parser.parse_args(argv)
    rows, failed = [], []
    for notebook in course_notebooks(args.notebooks):
        try:
            seconds = execute(notebook, args.output / notebook.name)
            rows.append((notebook.name, f"{seconds:6.1f} s"))
        except papermill.PapermillExecutionError as error:
            failed.append(notebook.name)
            rows.append((notebook.name, f"FAILED: {error.ename}: {error.evalue}"[:100]))
        print(f"{rows[-1][0]:45s} {rows[-1][1]}", flush=True)
    print(f"\n{len(rows) - len(failed)} of {len(rows)} notebooks ran; outputs in {args.output}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
