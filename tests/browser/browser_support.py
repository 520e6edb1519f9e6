"""What the browser tests share: paths, the offline browser context, failure artifacts, the JupyterLab server.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# OPTIMLAB_BROWSER_NOTEBOOKS points the suite at another folder of notebooks (a frozen copy, or one with a notebook
# broken on purpose); its pages are then rendered into build/browser/rendered/<folder>/ instead of build/.
NOTEBOOKS = Path(os.environ.get("OPTIMLAB_BROWSER_NOTEBOOKS") or ROOT / "notebooks").resolve()
_FOLDER = NOTEBOOKS.relative_to(ROOT).parts if NOTEBOOKS.is_relative_to(ROOT) else NOTEBOOKS.parts[1:]
BUILD = ROOT / "build" if NOTEBOOKS == ROOT / "notebooks" else ROOT / "build/browser/rendered" / "_".join(_FOLDER)
ARTIFACTS = ROOT / "build" / "browser"  # screenshots, console logs, the JupyterLab log, slide screenshots
LAB_ROOT = ARTIFACTS / "lab" / "notebooks"  # JupyterLab's root: a fresh copy of NOTEBOOKS each session
LAB_SETTINGS = ROOT / "jupyter"  # the course's JupyterLab settings, the same ones `make lab` uses

# OPTIMLAB_CHROMIUM: a Chromium other than the one on PATH (a path that does not exist counts as no Chromium).
CHROMIUM = os.environ.get("OPTIMLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM = CHROMIUM if CHROMIUM and Path(CHROMIUM).exists() else None
try:
    import playwright.sync_api  # noqa: F401

    PLAYWRIGHT = True
except ImportError:
    PLAYWRIGHT = False
MISSING = None if CHROMIUM and PLAYWRIGHT else (
    "Chromium not found" if PLAYWRIGHT else "Playwright not installed (pip install -r requirements.txt)")
ENABLE = ("install Chromium (Debian/Ubuntu: apt-get install chromium) or point OPTIMLAB_CHROMIUM at it, "
          "then run make test-browser")


def course_notebooks() -> list[Path]:
    """The numbered notebooks the suite checks (solutions, trials and scratch copies excluded)."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


SLIDES = BUILD / "slides"  # what `make slides` writes (for the course's own notebooks)
HTML = BUILD / "html"  # what `make run` writes
LAB_SAVED: set[str] = set()  # notebooks run without a problem in this session's JupyterLab and saved there


@dataclass
class Offline:
    """A browser context whose requests are limited to ``allowed``; anything else is aborted and recorded."""

    context: Any
    blocked: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def new_page(self) -> Any:
        page = self.context.new_page()
        page.on("console", lambda message: self.console.append(f"[{message.type}] {message.text}"))
        page.on("pageerror", lambda error: self.console.append(f"[pageerror] {error}"))
        return page


def offline_context(browser: Any, allowed: Callable[[str], bool], **options: Any) -> Offline:
    """A new context of ``browser`` in which only URLs for which ``allowed(url)`` is true are fetched."""
    context = browser.new_context(**options)
    offline = Offline(context)

    def route(route: Any) -> None:
        url = route.request.url
        if allowed(url) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            offline.blocked.append(url)
            route.abort()

    context.route("**/*", route)
    return offline


def save_failure(name: str, pages: list[Any], console: list[str]) -> None:
    """Save every page's screenshot and the console log under build/browser/ (called when a test fails)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for number, page in enumerate(pages):
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}-{number}.png"), full_page=False, timeout=30_000)
        except Exception as error:  # a crashed page: the console log still says why
            console.append(f"[screenshot failed] {error}")
    (ARTIFACTS / f"{name}.console.log").write_text("\n".join(console) + "\n", encoding="utf-8")


@dataclass
class Lab:
    """A running JupyterLab server: its URL, token and root folder (a scratch copy of notebooks/)."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self, notebook: str) -> None:
        """Delete the sessions (and so the kernels) of ``notebook``, as File > Close and Shut Down does."""
        for session in self.api("/api/sessions"):
            if session.get("path") == notebook:
                self.api(f"/api/sessions/{session['id']}", method="DELETE")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process(process: subprocess.Popen) -> None:
    """Stop the server and its kernels: SIGTERM to its process group, SIGKILL if it has not gone in 20 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)
    except ProcessLookupError:
        pass


