"""Render executed notebooks to HTML pages and reveal.js slide decks that work offline.

    python -m optimlab.tools.render {html,slides} NOTEBOOK_DIR OUTPUT_DIR

nbconvert's templates load reveal.js, MathJax, require.js, jQuery and mermaid from CDNs, so a deck
rendered with the defaults is blank in a lecture hall without internet. Here every one of those is a
local file: the npm packages pinned in ``package.json`` / ``package-lock.json`` are installed once
(``npm ci`` into ``node_modules/``) and the parts the pages need are copied into ``OUTPUT_DIR/assets/``,
so the output folder is self-contained (copy it onto a USB stick and present). Mermaid, which no
notebook uses, is left out of the templates; widget state is dropped (its renderer comes from a CDN).
Every page written is checked: a remote ``<script src>``, ``<link href>``, CSS ``@import``/``url()`` or
a missing local asset stops the build rather than producing a deck that needs the network.

Taught in: README.md ("make run", "make slides") and notebooks/00_start_here.ipynb ("Lecturing").
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter, SlidesExporter
from traitlets.config import Config

from optimlab.paths import repository_root

Kind = Literal["html", "slides"]
SUFFIX = {"html": ".html", "slides": ".slides.html"}
MATHJAX = "assets/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"  # MathJax 2: the API nbconvert's templates call
# (package, path inside it, path under assets/): only what the pages load, not the whole 80 MB of node_modules.
ASSETS = [
    ("reveal.js", "dist", "reveal.js/dist"),
    ("reveal.js", "plugin/notes", "reveal.js/plugin/notes"),  # speaker notes: press 's' in the deck
    ("requirejs", "require.js", "require.js"),
    ("jquery", "dist/jquery.min.js", "jquery.min.js"),
    ("mathjax", "MathJax.js", "mathjax/MathJax.js"),
    ("mathjax", "config/TeX-AMS_CHTML-full.js", "mathjax/config/TeX-AMS_CHTML-full.js"),
    ("mathjax", "config/Safe.js", "mathjax/config/Safe.js"),
    ("mathjax", "extensions", "mathjax/extensions"),
    ("mathjax", "jax/element", "mathjax/jax/element"),
    ("mathjax", "jax/input/TeX", "mathjax/jax/input/TeX"),
    ("mathjax", "jax/output/CommonHTML", "mathjax/jax/output/CommonHTML"),
    ("mathjax", "jax/output/PreviewHTML", "mathjax/jax/output/PreviewHTML"),
    ("mathjax", "fonts/HTML-CSS/TeX/woff", "mathjax/fonts/HTML-CSS/TeX/woff"),
]
_TEMPLATES = DictLoader({  # the stock templates minus mermaid, whose module import always hits a CDN
    "offline_lab.html.j2": "{%- extends 'lab/index.html.j2' -%}{% block html_head_js_mermaidjs %}{% endblock %}",
    "offline_reveal.html.j2": "{%- extends 'reveal/index.html.j2' -%}{% block html_head_js_mermaidjs %}{% endblock %}",
})
_LOCAL = dict(mathjax_url=MATHJAX, require_js_url="assets/require.js", jquery_url="assets/jquery.min.js",
              extra_loaders=[_TEMPLATES])


def install_web_assets(root: Path | None = None) -> Path:
    """``npm ci`` the pinned packages into ``root/node_modules`` unless already current; return that folder."""
    root = repository_root() if root is None else root  # package.json sits at the repository root
    modules, lock = root / "node_modules", root / "package-lock.json"
    marker = modules / ".package-lock.json"  # npm writes it after every install
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found: install Node.js (>= 18); it fetches reveal.js and MathJax once, "
                           "so that the rendered pages and slides work offline")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], cwd=root, check=True)
    return modules


def copy_web_assets(out_dir: Path, modules: Path) -> None:
    """Copy what the pages load from ``modules`` into ``out_dir/assets``."""
    for package, source, target in ASSETS:
        src, dst = modules / package / source, out_dir / "assets" / target
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.map", "*.esm.js"))
        else:
            shutil.copy2(src, dst)


# A remote URL after CSS "@import" / "url(" or an ES "import(" / "from" inside inline <style> or <script> code.
_INLINE_REMOTE = re.compile(r"""(?:@import\s+|url\(\s*|\bimport\s*\(?\s*|\bfrom\s+)["']?((?:https?:)?//[^"')\s]+)""")


class _References(HTMLParser):
    """Collect every URL a page loads: script src, stylesheet href, and CSS/ES-module imports in inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.in_code = False  # inside <script> or <style>, not prose

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]
        self.in_code = tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self.in_code = False

    def handle_data(self, data: str) -> None:
        if self.in_code:
            self.urls += _INLINE_REMOTE.findall(data)


def loaded_urls(page: str) -> list[str]:
    """Every URL ``page`` (HTML text) loads as a script, stylesheet, frame, image or import."""
    parser = _References()
    parser.feed(page)
    return parser.urls


def check_offline(page: Path) -> None:
    """Raise ``RuntimeError`` if the page at ``page`` loads anything remote or a local file that is missing."""
    problems = []
    for url in loaded_urls(page.read_text(encoding="utf-8")):
        if re.match(r"(?:[a-z][a-z0-9+.-]*:)?//", url, re.IGNORECASE):
            problems.append(f"remote: {url}")
        elif not url.startswith("data:") and not (page.parent / url.split("?")[0].split("#")[0]).exists():
            problems.append(f"missing: {url}")
    if problems:
        raise RuntimeError(f"{page} would not work offline:\n  " + "\n  ".join(problems))


def notebook_title(nb: nbformat.NotebookNode) -> str:
    """The first '# ' heading of the notebook's first markdown cell (the course's title convention)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE)
            if match:
                return match.group(1).strip()
    return nb.metadata.get("title", "untitled")


def run_time(nb: nbformat.NotebookNode) -> str:
    """How long papermill took, from the metadata it writes into the executed notebook."""
    record = nb.metadata.get("papermill", {})
    if record.get("duration") is None:
        return "not executed"
    return f"{'failed after ' if record.get('exception') else ''}{record['duration']:.1f} s"


def render_page(notebook: Path, out_dir: Path, kind: Kind) -> Path:
    """Render one (executed) notebook into ``out_dir``; return the page written."""
    nb = nbformat.read(notebook, as_version=4)
    nb.metadata["title"] = notebook_title(nb)
    nb.metadata.pop("widgets", None)  # widget views need a renderer from a CDN; their text fallback shows instead
    if kind == "html":
        exporter = HTMLExporter(template_name="lab", template_file="offline_lab.html.j2", **_LOCAL)
    else:
        # 1280 x 720 (16:9, scaled to the screen) fits a 100-character code line; long slides scroll. A code cell
        # tagged "hide-input" (plumbing: set-up, plotting) shows only its output on the slide; the page keeps both.
        hide = Config({"TagRemovePreprocessor": {"remove_input_tags": ["hide-input"]}})
        exporter = SlidesExporter(template_file="offline_reveal.html.j2", reveal_url_prefix="assets/reveal.js",
                                  reveal_theme="white", reveal_width="1280", reveal_height="720", reveal_scroll=True,
                                  reveal_number="c/t", exclude_input_prompt=True, exclude_output_prompt=True,
                                  config=hide, **_LOCAL)
    body, _ = exporter.from_notebook_node(nb)
    # Links between notebooks point at the rendered pages, not at the .ipynb files.
    body = re.sub(r'href="(\d\d_[\w-]+)\.ipynb(#[^"]*)?"', lambda m: f'href="{m[1]}{SUFFIX[kind]}{m[2] or ""}"', body)
    page = out_dir / (notebook.stem + SUFFIX[kind])
    page.write_text(body, encoding="utf-8")
    check_offline(page)
    return page


def write_index(out_dir: Path, rows: list[tuple[Path, str, str]], heading: str) -> Path:
    """An index page linking ``(page, title, run time)`` rows in the order given (course order)."""
    items = "\n".join(f'<tr><td><a href="{p.name}">{html.escape(t)}</a></td><td>{html.escape(s)}</td></tr>'
                      for p, t, s in rows)
    page = out_dir / "index.html"
    page.write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{heading}</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}} td{{padding:.3em 1em}}
tr:nth-child(even){{background:#f3f3f3}}</style></head>
<body><h1>{heading}</h1>
<table><tr><th>notebook</th><th>run time</th></tr>
{items}
</table></body></html>
""", encoding="utf-8")
    return page


def render_course(notebooks: list[Path], out_dir: Path, kind: Kind) -> Path:
    """Render ``notebooks`` (course order) with their assets and an index into ``out_dir``; return the index."""
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_web_assets(out_dir, install_web_assets())
    rows = []
    for notebook in notebooks:
        nb = nbformat.read(notebook, as_version=4)
        rows.append((render_page(notebook, out_dir, kind), notebook_title(nb), run_time(nb)))
    heading = "Optimizers and schedulers: " + ("notebooks" if kind == "html" else "slides")
    return write_index(out_dir, rows, heading)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(SUFFIX))
    parser.add_argument("notebooks", nargs="?", default="build/notebooks", type=Path)
    parser.add_argument("output", nargs="?", default=None, type=Path)
    args = parser.parse_args(argv)
    notebooks = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb"))
    index = render_course(notebooks, args.output or Path("build") / args.kind, args.kind)
    print(f"{len(notebooks)} notebooks rendered; open {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
