"""Rendered pages and slide decks load nothing from the network, keep the slide structure and the speaker notes."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from optimlab.tools.render import check_offline, render_course
from optimlab.tools.run_notebooks import is_current

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "00_start_here.ipynb"
NOTE = "Ask the room which optimizer they used last"
PLUMBING = "plumbing_for_the_plot = 42"  # a cell tagged hide-input: the slide shows its output only
PLUMBING_OUTPUT = "the plot this plumbing made"

# Written independently of optimlab.tools.render's own scanner, so a scanner that misses something still fails here.
REMOTE = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
REMOTE_CSS = re.compile(r"""@import\s+(?:url\()?\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//""", re.IGNORECASE)
REMOTE_IMPORT = re.compile(r"""\bimport\b[^;]*?["'](?:https?:)?//""")  # ES modules: import x from "https://..."
LOCAL = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["']([^"'?#]+)""", re.IGNORECASE)


def _assert_offline(page: Path) -> str:
    text = page.read_text(encoding="utf-8")
    assert not REMOTE.search(text), REMOTE.search(text)
    assert not REMOTE_CSS.search(text), REMOTE_CSS.search(text)
    assert not REMOTE_IMPORT.search(text), REMOTE_IMPORT.search(text)
    for url in LOCAL.findall(text):
        assert (page.parent / url).is_file(), f"{page.name} loads {url}, which is not there"
    return text


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Notebook 00 as papermill left it (run-time metadata), and a tiny notebook with LaTeX and a notes cell."""
    folder = tmp_path_factory.mktemp("notebooks")
    start = nbformat.read(NOTEBOOK, as_version=4)
    start.metadata["papermill"] = {"duration": 3.5, "exception": None}
    nbformat.write(start, folder / NOTEBOOK.name)
    tiny = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 01 · Tiny\n\nThe update $\\theta \\leftarrow \\theta - \\eta g$.",
                                      metadata={"slideshow": {"slide_type": "slide"}}),
        nbformat.v4.new_markdown_cell(NOTE, metadata={"slideshow": {"slide_type": "notes"}}),
        nbformat.v4.new_markdown_cell("## Second slide", metadata={"slideshow": {"slide_type": "slide"}}),
        nbformat.v4.new_code_cell("hidden = 1", metadata={"slideshow": {"slide_type": "skip"}}),
        nbformat.v4.new_code_cell(PLUMBING, metadata={"slideshow": {"slide_type": "-"}, "tags": ["hide-input"],
                                                      "jupyter": {"source_hidden": True}},
                                  outputs=[nbformat.v4.new_output("stream", text=PLUMBING_OUTPUT)]),
    ])
    nbformat.write(tiny, folder / "01_tiny.ipynb")
    notebooks = [folder / NOTEBOOK.name, folder / "01_tiny.ipynb"]
    out = tmp_path_factory.mktemp("build")
    return out, render_course(notebooks, out / "html", "html"), render_course(notebooks, out / "slides", "slides")


def test_html_pages_and_index_work_offline_in_course_order(course):
    out, html_index, _ = course
    index = _assert_offline(html_index)
    assert index.index("00_start_here.html") < index.index("01_tiny.html")
    assert "00 · Start here" in index and "3.5 s" in index and "not executed" in index
    page = _assert_offline(out / "html" / "00_start_here.html")
    assert 'href="01_four_steps.html"' in page and not re.search(r'href="\d\d_\w+\.ipynb"', page)
    assert "assets/mathjax/MathJax.js" in page
    assert (out / "html" / "assets/mathjax/config/TeX-AMS_CHTML-full.js").is_file()


def test_slides_work_offline_with_sections_and_speaker_notes(course):
    out, _, slides_index = course
    _assert_offline(slides_index)
    deck = _assert_offline(out / "slides" / "00_start_here.slides.html")
    assert deck.count("<section") >= 6 and 'href="01_four_steps.slides.html"' in deck
    tiny = _assert_offline(out / "slides" / "01_tiny.slides.html")
    assert tiny.count("<section") == 4 and "hidden = 1" not in tiny  # a slide is a <section> around its sub-slide

    notes = re.search(r'<aside class="notes">(.*?)</aside>', tiny, re.DOTALL)
    assert notes and NOTE in notes.group(1)
    # reveal.js and its speaker-notes plugin are loaded by require() from the local copy, not by <script src>.
    assert '"assets/reveal.js/dist/reveal.js"' in tiny and '"assets/reveal.js/plugin/notes/notes.js"' in tiny
    assert (out / "slides" / "assets/reveal.js/dist/reveal.js").is_file()
    assert (out / "slides" / "assets/reveal.js/plugin/notes/notes.js").is_file()


def test_slides_hide_the_input_of_cells_tagged_hide_input_and_pages_keep_it(course):
    out, _, _ = course
    deck = (out / "slides" / "01_tiny.slides.html").read_text(encoding="utf-8")
    page = (out / "html" / "01_tiny.html").read_text(encoding="utf-8")
    assert PLUMBING_OUTPUT in deck and "plumbing_for_the_plot" not in deck
    assert PLUMBING_OUTPUT in page and "plumbing_for_the_plot" in page


@pytest.mark.parametrize("snippet,problem", [
    ('<script src="https://cdn.example/x.js"></script>', "remote: https://cdn.example/x.js"),
    ('<link rel="stylesheet" href="//cdn.example/x.css">', "remote: //cdn.example/x.css"),
    ("<style>@import url(https://fonts.example/a.css);</style>", "remote: https://fonts.example/a.css"),
    ("<script type=module>import m from 'https://cdn.example/m.mjs'</script>", "remote: https://cdn.example/m.mjs"),
    ('<script src="assets/not_there.js"></script>', "missing: assets/not_there.js"),
])
def test_the_offline_check_catches_remote_and_missing_assets(snippet, problem, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(f"<html><head>{snippet}</head><body><p>Read more from https://example.org</p></body></html>")
    with pytest.raises(RuntimeError, match=re.escape(problem)):
        check_offline(page)
    page.write_text("<html><body><p>Read more from https://example.org</p></body></html>")  # prose is not loaded
    check_offline(page)


def test_slides_reuse_only_current_successful_runs(tmp_path):
    source, output = tmp_path / "00_a.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), source)
    assert not is_current(source, output)
    for record, current in (({"duration": 1.0, "exception": None}, True), ({"duration": 1.0, "exception": True}, False),
                            ({}, False)):
        nbformat.write(nbformat.v4.new_notebook(metadata={"papermill": record}), output)
        assert is_current(source, output) is current
    nbformat.write(nbformat.v4.new_notebook(metadata={"papermill": {"duration": 1.0}}), output)
    os.utime(source, (output.stat().st_mtime + 10,) * 2)  # the source was edited after the run
    assert not is_current(source, output)
