"""Every course notebook, run in JupyterLab in Chromium the way a learner runs it, and what the learner then sees.

For each numbered notebook: open it from the file browser (double-click), Run > Run All Cells from the menu, wait
until the kernel is idle and nothing is queued, then check the page:

- no error output and no traceback anywhere; every code cell ran (a number in its prompt, no ``[*]``, no ``[ ]``);
- the figures are on the page as images that decoded (as many ``<img>`` as the notebook's image outputs, at least
  one when the notebook plots);
- a progress bar from ``fit`` shows as an ipywidgets widget (seen while it ran; ``fit`` closes it at the end),
  and no output anywhere is a progress bar drawn as text;
- every exercise self-check printed its message, it is visible, and its status glyph is drawn with an installed
  font (not a "tofu" box);
- no "Select Kernel" dialog and no "Jupyter news" prompt (the course's settings in jupyter/);
- the page requested nothing beyond the local server.

Two notebooks run at a time, each in its own tab; afterwards its kernel is shut down. On failure,
build/browser/<notebook>-0.png and build/browser/<notebook>.console.log are saved.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from browser_support import LAB_SAVED, Lab, Offline, course_notebooks, offline_context, save_failure

pytestmark = pytest.mark.browser

LAB_JOBS = 2  # notebooks running at once, each in its own tab and kernel (2 cores here)
RUN_TIMEOUT_S = 420  # one notebook's Run All: <= 30 s on an idle machine, far slower on a shared, loaded one
PLOTS = re.compile(r"\b(?:plt\.\w+|plot_\w+|\w+\.plot)\(")  # code that draws a figure
FIT_CALL = re.compile(r"(?<![\w.])fit\(")
TEXT_BAR = re.compile(r"\d+%\|[^|\n]*\|\s*\d+/\d+|\b(?:it|step)/s\]")  # tqdm's text rendering
SELF_CHECK = re.compile(r"not written yet|matches the library|\braised \w+ on case|: case \d+, ")

# Everything the checks need, read from the page in one go: the notebook model (exposed by
# --LabApp.expose_app_in_browser) for what ran, and the DOM for what is drawn.
STATE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets;
  const code = [];
  cells.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    const outputs = [];
    for (let j = 0; j < cell.model.outputs.length; j++) {
      const output = cell.model.outputs.get(j);
      const raw = output.toJSON();
      outputs.push({type: output.type, mimes: Object.keys(output.data || {}), name: raw.name || null,
                    text: [].concat(raw.text || (raw.data && raw.data['text/plain']) || []).join(''),
                    ename: raw.ename || null, evalue: raw.evalue || null});
    }
    const node = cell.node;
    const images = [...node.querySelectorAll('.jp-OutputArea-output img')];
    code.push({index, source: cell.model.sharedModel.getSource(),
               prompt: (node.querySelector('.jp-InputPrompt') || {}).textContent || '', inputHidden: cell.inputHidden,
               executionCount: cell.model.executionCount, outputs,
               images: images.length, decoded: images.filter(img => img.complete && img.naturalWidth > 0).length,
               shownText: [...node.querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText).join('\\n'),
               widgetFallback: /Error displaying widget|Loading widget|HBox\\(children=/.test(node.innerText)});
  });
  return {cells: cells.length, code, dialogs: [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText),
          news: /Jupyter news/i.test(document.body.innerText), seen: window.__optimlabSeen || null};
}"""

# Record every ipywidgets progress bar that appears in an output while the notebook runs.
WATCH_WIDGETS_JS = """() => {
  window.__optimlabSeen = {progressWidgets: 0};
  new MutationObserver(() => {
    const bars = document.querySelectorAll('.jp-OutputArea-output .widget-hprogress, .jp-OutputArea-output progress');
    window.__optimlabSeen.progressWidgets = Math.max(window.__optimlabSeen.progressWidgets, bars.length);
  }).observe(document.body, {childList: true, subtree: true});
}"""

# True once Run All has finished: kernel idle, nothing queued ([*]), and the same state on two polls in a row.
FINISHED_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const busy = panel.sessionContext.session?.kernel?.status !== 'idle';
  const prompts = [...panel.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
  const queued = prompts.some(p => p.textContent.includes('*'));
  const ran = panel.content.widgets.some(c => c.model.type === 'code' && c.model.executionCount);
  const done = !busy && !queued && ran;
  const previous = window.__optimlabDone || false;
  window.__optimlabDone = done;
  return done && previous;
}"""

# Whether a glyph is drawn from a font: compare its pixels with a code point no font has (U+10FFFD).
GLYPH_JS = """(glyph) => {
  const draw = ch => { const c = document.createElement('canvas'); c.width = c.height = 48;
    const family = getComputedStyle(document.querySelector('.jp-OutputArea-output')).fontFamily;
    const g = c.getContext('2d'); g.font = '28px ' + family;
    g.fillText(ch, 6, 36); return Array.from(g.getImageData(0, 0, 48, 48).data).join(); };
  return draw(glyph) !== draw('\\u{10FFFD}');
}"""


def shows_progress_bar(code: str) -> bool:
    """True if ``code`` calls ``fit(...)`` without ``progress=False`` (so fit draws its progress bar)."""
    for match in FIT_CALL.finditer(code):
        depth, end = 1, match.end()
        while depth and end < len(code):
            depth += {"(": 1, ")": -1}.get(code[end], 0)
            end += 1
        if not re.search(r"\bprogress\s*=\s*False\b", code[match.end():end]):
            return True
    return False


def notebook_ids() -> list[str]:
    return [notebook.name for notebook in course_notebooks()]


def open_from_file_browser(page, lab: Lab, name: str) -> None:
    """Load JupyterLab, double-click ``name`` in the file browser, wait until its kernel is idle."""
    page.goto(f"{lab.url}/lab?reset&token={lab.token}")
    listing = page.locator(".jp-DirListing-content")
    listing.wait_for(timeout=120_000)
    item = listing.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(name)}$"))
    item.dblclick(timeout=60_000)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").wait_for(timeout=60_000)
    page.wait_for_function(f"() => window.jupyterapp.shell.currentWidget?.context?.path === {json.dumps(name)}"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.status"
                           " === 'idle'", timeout=120_000, polling=250)


def click_run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()


def problems_on_page(state: dict, source: dict) -> list[str]:
    """Everything wrong with one run notebook's page, as readable lines (empty when all is well)."""
    problems = []
    code_sources = [c for c in source["cells"] if c["cell_type"] == "code"]
    if state["cells"] != len(source["cells"]) or len(state["code"]) != len(code_sources):
        problems.append(f"the page shows {state['cells']} cells ({len(state['code'])} code), the file has "
                        f"{len(source['cells'])} ({len(code_sources)} code)")
    problems += [f"dialog on the page: {text[:200]!r}" for text in state["dialogs"]]
    if state["news"]:
        problems.append("the 'Jupyter news' prompt is shown (jupyter/labconfig settings not applied)")
    images = 0
    for cell in state["code"]:
        if not cell["source"].strip():
            continue  # an empty code cell has nothing to run
        where = f"cell {cell['index']} ({cell['source'].strip().splitlines()[0][:60]!r})"
        shown = cell["prompt"].strip()  # a cell whose input is hidden (tag hide-input) shows no prompt
        if not cell["executionCount"] or (not cell["inputHidden"] and not re.fullmatch(r"\[\d+\]:", shown)):
            problems.append(f"{where} did not run: prompt {shown!r}, execution count {cell['executionCount']}")
        for output in cell["outputs"]:
            if output["type"] == "error":
                problems.append(f"{where} raised {output['ename']}: {output['evalue']}")
            elif "Traceback" in output["text"] or re.search(r"^\w*(?:Error|Exception)\b", output["text"], re.M):
                problems.append(f"{where} printed an error: {output['text'][:300]!r}")
            widget = "application/vnd.jupyter.widget-view+json" in output["mimes"]  # its text/plain is a bar
            if not widget and TEXT_BAR.search(output["text"]):
                problems.append(f"{where} shows a progress bar as text, not as a widget: {output['text'][:120]!r}")
        if cell["widgetFallback"]:
            problems.append(f"{where} shows a widget's text fallback or 'Error displaying widget'")
        expected = sum(any(m.startswith("image/") for m in o["mimes"]) for o in cell["outputs"])
        if cell["images"] != expected or cell["decoded"] != expected:
            problems.append(f"{where} has {expected} image outputs but {cell['images']} <img> on the page "
                            f"({cell['decoded']} decoded)")
        images += cell["decoded"]
    plots = any(PLOTS.search("".join(c["source"])) for c in code_sources)
    if plots and images == 0:
        problems.append("the notebook plots, but no figure is on the page")
    # A progress bar from fit: drawn as a widget while it ran (fit closes it when training ends).
    bar_cells = [c["index"] for c in state["code"] if shows_progress_bar(c["source"])]
    if bar_cells and not state["seen"]["progressWidgets"]:
        problems.append(f"cells {bar_cells} call fit with its progress bar, but no ipywidgets progress bar appeared")
    return problems


def self_check_problems(page, state: dict) -> tuple[int, list[str]]:
    """Each check_exercise cell printed its verdict, visibly, with a status glyph that has a font."""
    problems = []
    checks = [c for c in state["code"] if "check_exercise(" in c["source"]]
    for cell in checks:
        shown = [line for line in cell["shownText"].splitlines() if SELF_CHECK.search(line)]
        if not shown:
            problems.append(f"exercise cell {cell['index']} shows no self-check message "
                            f"(output: {cell['shownText'][:200]!r})")
            continue
        output = page.locator(".jp-Notebook .jp-Cell").nth(cell["index"]).locator(".jp-OutputArea-output",
                                                                                   has_text=shown[0]).first
        output.scroll_into_view_if_needed()
        if not output.is_visible():
            problems.append(f"exercise cell {cell['index']}: the self-check message is not visible")
        glyph = shown[0].strip()[0]
        if not glyph.isascii() and not page.evaluate(GLYPH_JS, glyph):
            problems.append(f"exercise cell {cell['index']}: the status glyph {glyph!r} (U+{ord(glyph):04X}) "
                            "has no font here and is drawn as an empty box")
    return len(checks), problems


@dataclass
class Run:
    """One notebook run in JupyterLab: what went wrong (empty: nothing) and what was checked."""

    name: str
    problems: list[str] = field(default_factory=list)
    checked: str = ""
    seconds: float = 0.0


@dataclass
class _Job:
    run: Run
    offline: Offline
    page: object
    started: float


def _start(lab: Lab, browser, name: str) -> _Job:
    offline = offline_context(browser, lambda url: url.startswith((lab.url + "/", lab.url.replace("http", "ws"))),
                              viewport={"width": 1400, "height": 900})
    job = _Job(Run(name), offline, offline.new_page(), time.perf_counter())
    open_from_file_browser(job.page, lab, name)
    job.page.evaluate(WATCH_WIDGETS_JS)
    click_run_all(job.page)
    return job


def _finish(lab: Lab, job: _Job, timed_out: bool) -> Run:
    run, page = job.run, job.page
    run.seconds = time.perf_counter() - job.started
    try:
        if timed_out:
            run.problems.append(f"Run All did not finish within {RUN_TIMEOUT_S} s")
        source = json.loads((lab.root / run.name).read_text(encoding="utf-8"))
        state = page.evaluate(STATE_JS)
        run.problems += problems_on_page(state, source)
        checks, problems = self_check_problems(page, state)
        run.problems += problems
        if job.offline.blocked:
            run.problems.append(f"the page tried to reach beyond the local server: {job.offline.blocked[:5]}")
        run.checked = (f"{sum(1 for c in state['code'] if c['executionCount'])} code cells ran, "
                       f"{sum(c['decoded'] for c in state['code'])} figures, {checks} self-checks, "
                       f"progress widgets seen: {state['seen']['progressWidgets']}")
    except Exception as error:  # the page itself broke: still a result, with the screenshot
        run.problems.append(f"{type(error).__name__}: {error}")
    if run.problems:
        save_failure(Path(run.name).stem, [page], job.offline.console)
    else:
        try:  # Ctrl+S, as a learner saves: the deck tests can render this run instead of executing it again
            page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").focus()
            page.keyboard.press("Control+s")
            page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty",
                                   timeout=60_000)
            LAB_SAVED.add(run.name)
        except Exception as error:
            run.problems.append(f"saving with Ctrl+S failed: {type(error).__name__}: {error}")
    try:
        lab.shut_down_kernels(run.name)
    finally:
        job.offline.context.close()
    return run


def run_in_lab(lab: Lab, browser, names: list[str], jobs: int) -> dict[str, Run]:
    """Run ``names`` in JupyterLab, ``jobs`` notebooks (each in its own browser tab and kernel) at a time."""
    pending, active, runs = list(names), [], {}
    while pending or active:
        while pending and len(active) < jobs:
            name = pending.pop(0)
            try:
                active.append(_start(lab, browser, name))
            except Exception as error:
                runs[name] = Run(name, [f"could not open and start it: {type(error).__name__}: {error}"])
        for job in list(active):
            finished = job.page.evaluate(FINISHED_JS)
            timed_out = time.perf_counter() - job.started > RUN_TIMEOUT_S
            if finished or timed_out:
                active.remove(job)
                runs[job.run.name] = _finish(lab, job, timed_out and not finished)
        if active:
            time.sleep(0.5)
    return runs


@pytest.fixture(scope="session")
def lab_runs(lab: Lab, browser, request) -> dict[str, Run]:
    """The selected notebooks (all, unless ``-k`` narrows the session), run once, two at a time."""
    names = [item.callspec.params["name"] for item in request.session.items
             if getattr(item, "originalname", "") == "test_notebook_in_jupyterlab"]
    return run_in_lab(lab, browser, names, jobs=LAB_JOBS)


@pytest.mark.parametrize("name", notebook_ids())
def test_notebook_in_jupyterlab(name: str, lab_runs: dict[str, Run], record_property) -> None:
    run = lab_runs[name]
    record_property("checked", run.checked)
    if run.problems:
        pytest.fail(f"{name} in JupyterLab ({run.seconds:.0f} s; screenshot and console log in build/browser/):\n  "
                    + "\n  ".join(run.problems), pytrace=False)
