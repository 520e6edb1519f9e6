"""Every notebook is a deck a lecturer can present (issue 11), checked statically from the cell metadata.

What a slide shows is what nbconvert's reveal exporter puts on it: a ``slide`` or ``subslide`` cell starts a
section, ``fragment`` and ``-`` cells join it, ``notes`` cells go to the speaker view and ``skip`` cells are left
out. The rules:

- a deck has at most ``MAX_SECTIONS`` sections (slides plus vertical subslides: what ``c/t`` counts);
- a section shows at most ``MAX_WORDS`` words of prose (formulas count as one word each); the rest of what a
  lecturer says belongs in a ``notes`` cell;
- a code cell on a slide shows at most ``MAX_CODE_LINES`` lines of input; longer plumbing is tagged
  ``hide-input`` (the slide keeps its output) and longer lesson code is split across cells;
- ``hide-input`` and JupyterLab's ``jupyter.source_hidden`` go together, so the collapsed cell in the lab is the
  hidden one on the slide.

The browser suite (tests/browser/test_browser_slides.py) checks what only a rendered deck shows: heights at
1280x720 and a title on every horizontal slide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
MAX_SECTIONS = 25
MAX_WORDS = 60
MAX_CODE_LINES = 20

_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.DOTALL)
_FENCED = re.compile(r"```.*?```", re.DOTALL)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"[^\W_]")


def prose_words(markdown: str) -> int:
    """Words a reader sees in ``markdown``: a formula is one word, a link its text, HTML tags and code blocks none.

    >>> prose_words("## Adam\\n\\nThe step is $\\\\eta \\\\hat m / \\\\sqrt{\\\\hat v}$, see [the paper](https://x.org).")
    8
    """
    text = _FENCED.sub(" ", markdown)
    text = _MATH.sub(" f ", text)
    text = _LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    return sum(1 for token in text.split() if _WORD.search(token))


def is_hidden(cell) -> bool:
    return "hide-input" in cell.metadata.get("tags", [])


@dataclass
class Section:
    """One slide or vertical subslide: where it starts and what it shows."""

    first_cell: int
    words: int = 0
    code_cells: list[tuple[int, int]] = field(default_factory=list)  # (cell index, visible input lines)


def sections_of(nb) -> list[Section]:
    sections: list[Section] = []
    for index, cell in enumerate(nb.cells):
        kind = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if kind in ("slide", "subslide") or (not sections and kind not in ("skip", "notes")):
            sections.append(Section(index))
        if kind in ("skip", "notes") or not sections:
            continue
        if cell.cell_type == "markdown":
            sections[-1].words += prose_words(cell.source)
        elif cell.cell_type == "code" and not is_hidden(cell):
            sections[-1].code_cells.append((index, len(cell.source.rstrip().splitlines())))
    return sections


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_deck_has_at_most_max_sections(path):
    sections = sections_of(nbformat.read(path, as_version=4))
    assert len(sections) <= MAX_SECTIONS, (
        f"{len(sections)} slides and subslides; a deck holds at most {MAX_SECTIONS}: merge short subslides, move "
        "continuations into notes")


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_every_slide_shows_at_most_max_words(path):
    wordy = [(s.first_cell, s.words) for s in sections_of(nbformat.read(path, as_version=4)) if s.words > MAX_WORDS]
    assert not wordy, (
        f"(first cell, words) of slides over {MAX_WORDS} words: {wordy}; move the rest into a 'notes' cell")


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_no_slide_shows_a_long_code_input(path):
    tall = [(index, lines) for s in sections_of(nbformat.read(path, as_version=4))
            for index, lines in s.code_cells if lines > MAX_CODE_LINES]
    assert not tall, (
        f"(cell, lines) of code shown on a slide over {MAX_CODE_LINES} lines: {tall}; tag plumbing 'hide-input', "
        "split lesson code")


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_hidden_input_is_hidden_in_the_lab_too(path):
    nb = nbformat.read(path, as_version=4)
    mismatched = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                  and is_hidden(c) != bool(c.metadata.get("jupyter", {}).get("source_hidden"))]
    assert not mismatched, f"cells {mismatched}: tag 'hide-input' and jupyter.source_hidden must go together"


def test_the_rules_catch_what_they_name():
    """The counters on a made-up deck: a wordy slide, a long shown cell, a hidden one, notes and skips."""
    nb = nbformat.v4.new_notebook()
    slide = {"slideshow": {"slide_type": "slide"}}
    wordy = nbformat.v4.new_markdown_cell("## Title\n\n" + "word " * 70, metadata=slide)
    notes = nbformat.v4.new_markdown_cell("said " * 500, metadata={"slideshow": {"slide_type": "notes"}})
    long_code = nbformat.v4.new_code_cell("x = 1\n" * 30, metadata={"slideshow": {"slide_type": "subslide"}})
    hidden = nbformat.v4.new_code_cell("y = 2\n" * 30, metadata={"tags": ["hide-input"]})
    skipped = nbformat.v4.new_code_cell("z = 3\n" * 30, metadata={"slideshow": {"slide_type": "skip"}})
    nb.cells = [wordy, notes, long_code, hidden, skipped]
    sections = sections_of(nb)
    assert [(s.first_cell, s.words) for s in sections] == [(0, 71), (2, 0)]
    assert sections[1].code_cells == [(2, 30)]
