"""Every course notebook meets the contract written in CONTRIBUTING.md (checked statically, without running it)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((NOTEBOOKS / "solutions").glob("*.ipynb"))
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _tagged(nb, tag: str):
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_the_course_has_notebooks():
    assert COURSE, f"no numbered notebooks in {NOTEBOOKS}"


@pytest.mark.parametrize("path", COURSE + SOLUTIONS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = _read(path)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} have outputs: clear them before committing"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_opens_with_title_and_objectives(path):
    first = _read(path).cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "first cell: a '# ' title"
    assert "after this notebook you can" in first.source.lower()


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_has_one_parameters_cell_near_the_top_and_validates_it(path):
    nb = _read(path)
    cells = _tagged(nb, "parameters")
    assert len(cells) == 1 and cells[0].cell_type == "code", "exactly one code cell tagged 'parameters'"
    position = nb.cells.index(cells[0])
    assert position <= 3, f"the parameters cell is cell {position}; keep it near the top"
    following = next(c for c in nb.cells[position + 1:] if c.cell_type == "code")
    assert "setup_notebook(" in following.source or "check_" in following.source, (
        "the cell after the parameters validates them (setup_notebook / optimlab.validation checks)"
    )


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_has_a_results_cell(path):
    cells = _tagged(_read(path), "results")
    assert len(cells) == 1 and "show_results(" in cells[0].source


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_every_cell_has_slide_metadata(path):
    nb = _read(path)
    slide_types = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    missing = [i for i, kind in enumerate(slide_types) if kind not in SLIDE_TYPES]
    assert not missing, f"cells {missing} lack slideshow.slide_type"


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_ends_with_summary_exercises_and_further_reading(path):
    text = _markdown(_read(path))
    for heading in ("## Summary", "## Exercises", "## Further reading"):
        assert heading in text, f"missing a '{heading}' section"


@pytest.mark.parametrize("path", [p for p in COURSE if not p.name.startswith("00_")], ids=lambda p: p.name)
def test_has_self_checked_exercises_and_a_solution_notebook(path):
    nb = _read(path)
    checks = sum(c.source.count("check_exercise(") for c in nb.cells if c.cell_type == "code")
    assert checks >= 2, f"{checks} self-checked exercises; the contract asks for at least 2"
    solution = NOTEBOOKS / "solutions" / f"{path.stem}_solutions.ipynb"
    assert solution.exists(), f"missing {solution.relative_to(NOTEBOOKS.parent)}"
    asserted = sum(c.source.count("assert check_exercise(") for c in _read(solution).cells if c.cell_type == "code")
    assert asserted >= checks, "the solution notebook asserts every exercise's check passes"


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_papermill_can_read_every_parameter(path):
    """papermill parses the parameters cell line by line; a comment it cannot parse silently drops the knob."""
    import ast

    from papermill.inspection import inspect_notebook

    cell = _tagged(_read(path), "parameters")[0]
    assigned = [t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign) for t in node.targets]
    assert list(inspect_notebook(str(path))) == assigned


CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.rglob("*.ipynb")), ids=lambda p: p.name)
def test_no_control_characters_in_any_source(path):
    """A Python string like "\\beta" written unescaped leaves a backspace byte that breaks the rendered formula."""
    found = [(i, m.group()) for i, c in enumerate(_read(path).cells) for m in CONTROL_CHARACTERS.finditer(c.source)]
    assert not found, f"(cell, character) pairs with control characters: {found}"
