"""``python -m pdf_export [--web] [--out DIR] [NOTEBOOK]`` (what export_pdf.sh runs).

Exit status 0 when the PDF and the submission are written, 1 with one message otherwise.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pdf_export import tools
from pdf_export.messages import PROG, ExportError, error, warn
from pdf_export.notebook import Saved, parse, run_warnings

MATHJAX = Path("/usr/share/javascript/mathjax/MathJax.js")  # Debian's libjs-mathjax
NO_NBCONVERT = (
    "no Python with nbconvert found. Run 'make' in the repo (it creates .venv), or: pip install"
    " nbconvert, or set PYTHON=/path/to/python"
)

USAGE = """\
Usage: {prog} [--web] [--out DIR] [NOTEBOOK]

Makes a PDF of NOTEBOOK (default: homework.ipynb) with nbconvert and packs it for Canvas.
Save the notebook in Jupyter first: the PDF shows what is saved in the file (run all
cells so that outputs and figures are there). NOTEBOOK itself is never changed.
Warns when the notebook was never run or its cells ran out of order (and says which).
A markdown cell whose math LaTeX cannot typeset is named on stderr and shown as plain text.

Options:
  --web      make the PDF with Chromium (nbconvert webpdf) instead of LaTeX (xelatex);
             needs no LaTeX or pandoc, but a Chromium/Chrome browser.
  --out DIR  where to write the results (default: the notebook's folder).
  -h, --help show this help.

Writes, for NOTEBOOK = NAME.ipynb:
  DIR/NAME.pdf                 the PDF
  DIR/submission/NAME.ipynb    upload BOTH files of this folder to Canvas
  DIR/submission/NAME.pdf      (the folder is replaced on every run)
  DIR/submission.zip           the same two files in one zip

Needs: Python with nbconvert (the repo's .venv, or set PYTHON=/path/to/python), and
  LaTeX route: xelatex + pandoc. Debian/Ubuntu:
      sudo apt-get install pandoc texlive-xetex texlive-fonts-recommended texlive-plain-generic
    macOS: MacTeX (https://tug.org/mactex/) and: brew install pandoc
    Windows: MiKTeX (https://miktex.org/download) and pandoc (https://pandoc.org/installing.html)
  --web route: the Python package playwright (pip install 'nbconvert[webpdf]') and Chromium.
    Debian/Ubuntu: sudo apt-get install chromium libjs-mathjax  (works offline; libjs-mathjax
    renders the math without internet). Elsewhere: python -m playwright install chromium
    (one-time download), or point CHROMIUM=/path/to/chromium at an installed Chromium (Linux)."""


@dataclass(frozen=True)
class Options:
    web: bool = False
    out: str = ""
    notebook: str = ""


def parse_args(args: list[str]) -> Options | None:
    """The options; None when help was asked for. Raises ExportError for bad arguments."""
    web, out, notebook = False, "", ""
    rest = iter(args)
    for arg in rest:
        if arg in ("-h", "--help"):
            return None
        if arg == "--web":
            web = True
        elif arg == "--out":
            value = next(rest, None)
            if value is None:
                raise ExportError("--out needs a folder")
            out = value
        elif arg.startswith("--out="):
            out = arg.removeprefix("--out=")
        elif arg == "--":  # the next argument is the notebook, even if it starts with -
            return Options(web, out, next(rest, "") or notebook or "homework.ipynb")
        elif arg.startswith("-"):
            raise ExportError(f"unknown option '{arg}' (see --help)")
        elif notebook:
            raise ExportError("only one notebook, please (see --help)")
        else:
            notebook = arg
    return Options(web, out, notebook or "homework.ipynb")


def latex_options() -> dict[str, object]:
    if not tools.has_fvextra():
        warn(
            "LaTeX package fvextra not found: long code lines may be cut off in the PDF"
            " (Debian: apt-get install texlive-latex-extra; TeX Live: tlmgr install fvextra)"
        )
        return {}
    # Two xelatex runs (nbconvert's default is three) suffice: the first page's index of
    # answers has a fixed length, so the second run has every page number right.
    return {"template_name": "homework_latex", "latex_count": 2}


def web_options(browser: str | None, work: Path) -> dict[str, object]:
    """WebPDFExporter's settings; a system browser is lent to playwright through ``work``."""
    if browser:
        tools.link_browser_for_playwright(work / "browsers", browser)
        os.environ["PLAYWRIGHT_BROWSERS_PATH"] = str(work / "browsers")
        os.environ["PLAYWRIGHT_SKIP_VALIDATE_HOST_REQUIREMENTS"] = "1"
    options: dict[str, object] = {
        "template_name": "homework_webpdf",
        "page_render_timeout": 1000,
        "disable_sandbox": tools.is_root(),  # Chromium's sandbox fails as root (containers)
    }
    if MATHJAX.is_file():
        options["mathjax_url"] = f"file://{MATHJAX}?config=TeX-AMS_CHTML-full,Safe"
    else:
        warn("math is rendered with MathJax from the internet; offline, install libjs-mathjax")
    return options


def checked_notebook(shown: str) -> Path:
    """The notebook's path, its folder's links resolved; ExportError if it is not a notebook."""
    path = Path(shown)
    if not path.is_file():
        raise ExportError(f"notebook '{shown}' not found (run from its folder or give its path)")
    if not shown.endswith(".ipynb"):
        raise ExportError(f"'{shown}' is not a .ipynb notebook")
    return path.parent.resolve() / f"{path.stem}.ipynb"


def checked_out_dir(out: str, notebook: Path) -> Path:
    """The output folder, made if need be; ExportError if it would replace the notebook."""
    out_dir = Path(out or notebook.parent)
    out_dir.mkdir(parents=True, exist_ok=True)
    submission = out_dir.resolve() / "submission"
    if notebook.is_relative_to(submission):
        raise ExportError(
            f"the notebook is inside '{submission}', which this script replaces;"
            " move it or use --out"
        )
    return out_dir.resolve()


def warn_if_changed(saved: Saved) -> None:
    path = saved.folder / f"{saved.name}.ipynb"
    if not path.is_file() or path.read_bytes() != saved.data:
        warn(
            "the notebook changed while exporting (saved in Jupyter?); the submission has"
            " the version the PDF was made from"
        )


def export(options: Options) -> None:
    """Check the notebook and the tools, then write the PDF and the submission."""
    notebook = checked_notebook(options.notebook)
    if not tools.has_module("nbconvert"):
        raise ExportError(NO_NBCONVERT)
    # Every tool first, so that a missing one gives one clear message before any work.
    browser = tools.check_web() if options.web else tools.check_latex()
    out_dir = checked_out_dir(options.out, notebook)
    from pdf_export.convert import Route, make_pdf  # nbconvert: slow to import
    from pdf_export.submission import check_pdf, page_count, write_submission

    saved = Saved(notebook.read_bytes(), notebook.stem, options.notebook, notebook.parent)
    with tempfile.TemporaryDirectory(prefix="export_pdf.") as tmp:
        work = Path(tmp)
        settings = web_options(browser, work) if options.web else latex_options()
        for message in run_warnings(parse(saved.data, saved.shown)):
            warn(f"{saved.shown}: {message}")
        pdf = make_pdf(Route(options.web, settings), saved, work)
        check_pdf(pdf, work)
    warn_if_changed(saved)
    folder = write_submission(out_dir, saved.name, saved.data, pdf)
    pages = page_count(out_dir / f"{saved.name}.pdf")
    print(f"PDF{f' ({pages} pages)' if pages else ''}: {out_dir / saved.name}.pdf")
    print(f"Upload BOTH files to Canvas: {folder / saved.name}.ipynb and {folder / saved.name}.pdf")
    print(f"(the same two files zipped: {out_dir / 'submission.zip'})")


def main(args: list[str] | None = None) -> int:
    try:
        options = parse_args(sys.argv[1:] if args is None else args)
        if options is None:
            print(USAGE.format(prog=PROG))
            return 0
        export(options)
    except ExportError as e:
        error(str(e))
        return 1
    except BrokenPipeError:  # `--help | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0
