"""Fixtures for the browser suite: Debian's Chromium through Playwright, one JupyterLab server, offline contexts.

The suite runs when Chromium and Playwright are installed and is skipped otherwise, with one line in the test
summary saying how to enable it. Nothing it starts reaches beyond 127.0.0.1 (JupyterLab) and file:// (the decks):
every other request a page makes is aborted and recorded, and a test fails if its page made one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    ARTIFACTS,
    BUILD,
    CHROMIUM,
    ENABLE,
    HTML,
    LAB_ROOT,
    LAB_SAVED,
    LAB_SETTINGS,
    MISSING,
    NOTEBOOKS,
    ROOT,
    SLIDES,
    Lab,
    course_notebooks,
    free_port,
    stop_process,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the browser tests when Chromium is missing; otherwise run them last, after every kernel-only test.

    Where they must run (``make test-browser`` sets OPTIMLAB_REQUIRE_BROWSER=1; CI sets CI=true), a missing Chromium
    stops the session with that message instead of skipping.

    Last, because Playwright's synchronous API owns an event loop for as long as its browser is open.
    """
    browser = [item for item in items if item.get_closest_marker("browser")]
    if not browser:
        return
    if MISSING and (os.environ.get("OPTIMLAB_REQUIRE_BROWSER") or os.environ.get("CI")):
        raise pytest.UsageError(f"the browser suite cannot run: {MISSING}; {ENABLE}")
    if MISSING:
        for item in browser:
            item.add_marker(pytest.mark.skip(reason=f"{MISSING}: {ENABLE}"))
        config.stash[_SKIPPED] = len(browser)
    items[:] = [item for item in items if not item.get_closest_marker("browser")] + browser


_SKIPPED = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    skipped = config.stash.get(_SKIPPED, 0)
    if skipped:
        terminalreporter.write_line(f"browser suite skipped ({skipped} tests): {MISSING}; to run it, {ENABLE}",
                                    yellow=True, bold=True)


@pytest.fixture(scope="session", autouse=True)
def fresh_artifacts() -> None:
    """Screenshots and console logs of an earlier session's failures would mislead: remove them first."""
    for stale in [*ARTIFACTS.glob("*.png"), *ARTIFACTS.glob("*.console.log"), *(ARTIFACTS / "slides").glob("*")]:
        stale.unlink()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright launches the system's Chromium: Playwright's own browser download is not used."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """JupyterLab with the course's settings (jupyter/), on a free local port with a random token.

    Its root is a fresh copy of notebooks/ in build/browser/lab/, so running the notebooks never writes into
    the committed files. User-level Jupyter settings, workspaces and runtime files go to a temporary folder,
    so the learner's own settings neither change what is tested nor get changed. The server and its kernels
    are stopped when the session ends, also after a failure.
    """
    root = LAB_ROOT
    shutil.rmtree(root.parent, ignore_errors=True)
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "kernel-*"))
    scratch = Path(tempfile.mkdtemp(prefix="optimlab-lab-"))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ,
           "JUPYTER_CONFIG_PATH": os.pathsep.join(filter(None, [str(LAB_SETTINGS),
                                                                 os.environ.get("JUPYTER_CONFIG_PATH")])),
           "JUPYTER_CONFIG_DIR": str(scratch / "config"),
           "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(scratch / "workspaces")}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // 2)))  # two kernels share the cores
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    log = (ARTIFACTS / "jupyterlab.log").open("w", encoding="utf-8")
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    server = Lab(f"http://127.0.0.1:{port}", token, root, process)
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {process.returncode}; see {log.name}")
            try:
                server.api("/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer within 180 s; see {log.name}") from None
                time.sleep(0.5)
        yield server
    finally:
        stop_process(process)
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def rendered() -> tuple[Path, Path]:
    """The HTML pages and slide decks to test: ``(html folder, slides folder)``.

    - build/html/ and build/slides/ as `make run` / `make slides` wrote them, when they are newer than every notebook;
    - otherwise, when this session's JupyterLab test ran and saved every notebook, those notebooks rendered with
      the same renderer (optimlab.tools.render) into build/browser/rendered/ - no second execution;
    - otherwise ``python -m optimlab.tools.run_notebooks --reuse --html ... --slides ...``, exactly what the make
      targets run (the notebooks that are not current are executed first).

    A notebook that fails still gets its pages (showing the error); failing it is the job of nbval and of the
    JupyterLab test.
    """
    names = [notebook.name for notebook in course_notebooks()]
    if not (_stale(SLIDES, ".slides.html") + _stale(HTML, ".html")) and (SLIDES / "index.html").exists() \
            and (HTML / "index.html").exists():
        return HTML, SLIDES
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if names and LAB_SAVED.issuperset(names):
        from optimlab.tools.render import render_course

        executed = [LAB_ROOT / name for name in names]
        out = ARTIFACTS / "rendered"
        return render_course(executed, out / "html", "html").parent, render_course(executed, out / "slides",
                                                                                  "slides").parent
    run = subprocess.run([sys.executable, "-m", "optimlab.tools.run_notebooks", str(NOTEBOOKS),
                          str(BUILD / "notebooks"), "--reuse", "--html", str(HTML), "--slides", str(SLIDES)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    (ARTIFACTS / "render.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    missing = [name for name in names if not (SLIDES / name.replace(".ipynb", ".slides.html")).exists()
               or not (HTML / name.replace(".ipynb", ".html")).exists()]
    assert not missing, f"no page for {missing}; see build/browser/render.log:\n{run.stdout[-3000:]}"
    return HTML, SLIDES


def _stale(folder: Path, suffix: str) -> list[str]:
    return [notebook.name for notebook in course_notebooks()
            if not (page := folder / (notebook.stem + suffix)).exists()
            or page.stat().st_mtime < notebook.stat().st_mtime]
