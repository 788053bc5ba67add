"""The programs each route needs (xelatex and pandoc, or Chromium), checked before any work so
that a missing one gives one clear message with how to install it on this platform.

Only the standard library (and playwright, for --web): this runs before nbconvert is imported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from pdf_export.messages import PROG, ExportError

SYSTEM_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def has_module(name: str) -> bool:
    """Whether this Python can import ``name`` (found without importing it: that is slow)."""
    return importlib.util.find_spec(name) is not None


def latex_install_hint() -> str:
    """How to install LaTeX and pandoc on this platform."""
    system = platform.system()
    if system == "Darwin":
        return "install MacTeX (https://tug.org/mactex/), then run: brew install pandoc"
    if system == "Windows" or system.startswith(("MINGW", "MSYS", "CYGWIN")):
        return (
            "install MiKTeX (https://miktex.org/download) and pandoc"
            " (https://pandoc.org/installing.html), then open a new terminal"
        )
    sudo = "" if is_root() else "sudo "
    return (
        f"run: {sudo}apt-get install pandoc texlive-xetex texlive-fonts-recommended"
        " texlive-plain-generic   (Debian/Ubuntu; other Linux: your distribution's"
        " TeX Live XeTeX and pandoc packages)"
    )


def chromium_install_hint() -> str:
    download = f"run once, with internet: {sys.executable} -m playwright install chromium"
    if platform.system() != "Linux":
        return download
    sudo = "" if is_root() else "sudo "
    return (
        f"run: {sudo}apt-get install chromium   (Debian/Ubuntu; or set"
        f" CHROMIUM=/path/to/chromium), or once, with internet: {sys.executable}"
        " -m playwright install chromium"
    )


def check_latex() -> None:
    """Raise ExportError when xelatex or pandoc is missing."""
    missing = [tool for tool in ("xelatex", "pandoc") if shutil.which(tool) is None]
    hint = f"{latex_install_hint()}. Or try: {PROG} --web (needs Chromium instead)."
    if len(missing) == 1:
        raise ExportError(
            f"making the PDF needs {missing[0]}, which is not installed. To install it, {hint}"
        )
    if missing:
        raise ExportError(
            f"making the PDF needs {missing[0]} and {missing[1]}, which are not installed."
            f" To install them, {hint}"
        )


def has_fvextra() -> bool:
    """Whether LaTeX has fvextra (the homework template needs it); True if unknown."""
    if shutil.which("kpsewhich") is None:
        return True
    found = subprocess.run(["kpsewhich", "fvextra.sty"], capture_output=True, check=False)
    return found.returncode == 0


def system_browser() -> str | None:
    """The Chromium to use on Linux ($CHROMIUM, else an installed one); None elsewhere."""
    if platform.system() != "Linux":
        return None  # elsewhere playwright's own download
    if os.environ.get("CHROMIUM"):
        chromium = os.environ["CHROMIUM"]
        found = shutil.which(chromium)
        if found is None:
            raise ExportError(f"CHROMIUM={chromium} is not a program")
        return found
    return next(filter(None, map(shutil.which, SYSTEM_BROWSERS)), None)


def playwright_has_chromium() -> bool:
    """Whether playwright has downloaded its own Chromium (python -m playwright install)."""
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            return os.path.exists(p.chromium.executable_path)
    except Exception:  # no driver, no browser folder, ...: there is no usable download
        return False


def check_web() -> str | None:
    """The system browser for --web (None: playwright's own); ExportError if there is none."""
    if not has_module("playwright"):
        raise ExportError(
            f"--web needs the Python package playwright: {sys.executable} -m pip install"
            " 'nbconvert[webpdf]'"
        )
    browser = system_browser()
    if browser is None and not playwright_has_chromium():
        raise ExportError(
            f"--web needs Chromium, which is not installed. To install it,"
            f" {chromium_install_hint()}. Or drop --web to use LaTeX."
        )
    return browser


def link_browser_for_playwright(folder: Path, browser: str) -> None:
    """Make ``folder`` a playwright download folder whose headless shell is ``browser``.

    Playwright finds browsers only in its own download folder; with this one (and
    PLAYWRIGHT_BROWSERS_PATH set to it) nbconvert webpdf runs offline with the system browser.
    """
    import playwright

    registry = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    browsers = json.loads(registry.read_text())["browsers"]
    revision = next(b["revision"] for b in browsers if b["name"] == "chromium-headless-shell")
    arch = "linux-arm64" if platform.machine() in ("aarch64", "arm64") else "linux64"
    shell = folder / f"chromium_headless_shell-{revision}" / f"chrome-headless-shell-{arch}"
    shell.mkdir(parents=True)
    target = Path(browser)  # its folder's links resolved, not its own (a snap needs its name)
    (shell / "chrome-headless-shell").symlink_to(target.parent.resolve() / target.name)
