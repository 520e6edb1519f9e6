"""Rerun one notebook with other parameters, refusing a misspelt name before anything runs.

    python -m optimlab.tools.rerun NOTEBOOK OUTPUT [-p NAME VALUE ...]

The same run as ``papermill NOTEBOOK OUTPUT -p NAME VALUE``, with two differences: a name that is not in
the notebook's ``parameters`` cell is refused at once (papermill only warns, runs the defaults and exits
0, so ``-p epochz 1`` would look like a successful rerun), and a failed run ends with one line naming the
error (the notebook's own ``ValueError`` for a bad value) and exit code 1. Values parse as papermill's
``-p`` parses them (``optimlab.tools.sweep.parse_value``). The notebook runs in its own folder, whatever
the working folder; OUTPUT's folder is created, and OUTPUT may not be the notebook itself.

Taught in: notebooks/00_start_here.ipynb.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from optimlab.tools.sweep import check_parameter_names, parse_value
from optimlab.validation import invalid


def rerun(notebook: str | Path, output: str | Path, parameters: dict[str, Any] | None = None) -> Path:
    """Execute ``notebook`` into ``output`` with ``parameters``; return the output's path.

    Unknown parameter names raise ``ValueError`` before a kernel starts; a failing cell raises papermill's
    ``PapermillExecutionError`` (the executed notebook, error included, is still written to ``output``).
    """
    import papermill

    from optimlab.tools.run_notebooks import ipc_kernel

    notebook, output, parameters = Path(notebook).resolve(), Path(output).resolve(), dict(parameters or {})
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise invalid("notebook", str(notebook), "an existing .ipynb file")
    if output.suffix != ".ipynb" or output == notebook:
        raise invalid("output", str(output), "a new .ipynb path, not the notebook itself")
    check_parameter_names(notebook, parameters, "parameters")
    output.parent.mkdir(parents=True, exist_ok=True)
    with ipc_kernel() as config:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name="python3",
                                   cwd=str(notebook.parent), progress_bar=False, config=config)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optimlab.tools.rerun", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter and its value (repeatable)")
    args = parser.parse_args(argv)
    parameters: dict[str, Any] = {}
    for name, value in args.parameter:
        if name in parameters:
            parser.error(f"-p {name}: give each parameter once")
        parameters[name] = parse_value(value)
    import papermill

    try:
        output = rerun(args.notebook, args.output, parameters)
    except ValueError as error:  # refused before running: one line, not a traceback
        parser.error(str(error))
    except papermill.PapermillExecutionError as failure:
        print(f"{args.notebook} failed in cell {failure.exec_count}: {failure.ename}: {failure.evalue}",
              file=sys.stderr)
        return 1
    print(f"ran {args.notebook} into {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
