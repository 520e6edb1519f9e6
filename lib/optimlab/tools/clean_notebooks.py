"""Notebooks are committed without outputs: check that (``--check``) or clear them in place.

    python -m optimlab.tools.clean_notebooks [--check] NOTEBOOK [NOTEBOOK ...]

The pre-commit hook runs ``--check`` on the staged notebooks; run it without ``--check`` to clear outputs,
execution counts and the per-cell execution metadata that JupyterLab records.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat


def dirty_cells(notebook: nbformat.NotebookNode) -> list[int]:
    """Indices of code cells that carry outputs or an execution count."""
    return [i for i, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]


def clear_outputs(notebook: nbformat.NotebookNode) -> None:
    """Drop every code cell's outputs, execution count and execution timing, in place."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optimlab.tools.clean_notebooks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks with outputs; change nothing")
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    dirty = []
    for path in args.notebooks:
        notebook = nbformat.read(path, as_version=4)
        cells = dirty_cells(notebook)
        if not cells:
            continue
        if args.check:
            fix = f"python -m optimlab.tools.clean_notebooks {path}"
            dirty.append(f"{path}: cells {cells} have outputs (clear them: {fix})")
        else:
            clear_outputs(notebook)
            nbformat.write(notebook, path)
            print(f"cleared {path}")
    print("\n".join(dirty), file=sys.stderr)
    return 1 if dirty else 0


if __name__ == "__main__":
    sys.exit(main())
