"""Notebook -> PDF bytes with nbconvert: the route's exporter with this route's preprocessors
applied first, and the LaTeX route's second chances for markdown cells LaTeX cannot typeset."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import PDFExporter, WebPDFExporter
from nbconvert.exporters import Exporter

from pdf_export.latex_errors import TEMPLATES, cells_with_latex_errors
from pdf_export.messages import PROG, ExportError, warn
from pdf_export.notebook import MalformedNotebook, Saved
from pdf_export.preprocessors import transforms
from pdf_export.tools import chromium_install_hint

ATTEMPTS = 4  # conversions at most: one LaTeX error can hide another


@dataclass(frozen=True)
class Route:
    """LaTeX (PDFExporter) or Chromium (``web``: WebPDFExporter), with its exporter's traits."""

    web: bool
    options: dict[str, Any] = field(default_factory=dict)

    def exporter(self, name: str, verbatim: Iterable[int] = ()) -> Exporter:
        kind = WebPDFExporter if self.web else PDFExporter
        steps = transforms(name, latex=not self.web, verbatim=verbatim)
        defaults = kind.class_traits()["default_preprocessors"].default()
        return kind(
            default_preprocessors=[*steps, *defaults],
            extra_template_basedirs=[str(TEMPLATES)],
            **self.options,
        )


@contextlib.contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Send what is written to stdout and stderr, by nbconvert and by the programs it runs
    (pandoc, xelatex, Chromium), to ``log``: the student sees it only when it explains a
    failure."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as file:
        os.dup2(file.fileno(), 1)
        os.dup2(file.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


class ConversionFailed(Exception):
    """nbconvert (or a program it ran) failed; ``log`` is what they wrote."""

    def __init__(self, log: str) -> None:
        super().__init__("nbconvert failed")
        self.log = log
        self.latex_errors = re.search(r"^! ", log, re.M) is not None


def read(saved: Saved) -> nbformat.NotebookNode:
    """The saved notebook as nbformat's version 4 (MalformedNotebook if it cannot be read)."""
    try:
        return nbformat.reads(saved.text(), as_version=4)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise MalformedNotebook(repr(e)) from e


def export_once(route: Route, saved: Saved, verbatim: set[int], log: Path) -> bytes:
    """One conversion of the saved notebook, the cells ``verbatim`` shown as plain text."""
    resources = {
        "metadata": {"path": str(saved.folder)},
        "unique_key": "notebook",
        "output_files_dir": "notebook_files",
    }
    pdf = None
    with output_to(log):
        try:
            exporter = route.exporter(saved.name, verbatim)
            notebook = read(saved)
            pdf, _ = exporter.from_notebook_node(notebook, resources=resources)
        except MalformedNotebook as e:
            raise ExportError(f"'{saved.shown}' is not a valid notebook file ({e})") from e
        except Exception:
            traceback.print_exc()  # into the log, as nbconvert's command line does
    text = log.read_text(encoding="utf-8", errors="replace")
    if pdf is None:
        raise ConversionFailed(text)
    if not pdf:
        tail = "\n".join(text.splitlines()[-5:])
        raise ExportError(f"nbconvert reported success but wrote no PDF; see: {tail}")
    return pdf


def failure(shown: str, log: str) -> ExportError:
    """The useful part of a failed conversion's log: LaTeX errors with context, else its end."""
    lines = log.splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("! ")]
    if errors:
        shown_lines = sorted({j for i in errors for j in range(i, min(i + 4, len(lines)))})
        detail = [
            "LaTeX errors (the line after 'l.NNN' shows the text that caused it):",
            *[lines[j] for j in shown_lines][:24],
            "Fix that text in the notebook (often math between $ signs in a markdown cell),"
            f" or try: {PROG} --web",
        ]
    else:
        detail = lines[-25:]
    if "No suitable chromium" in log:
        detail.append(f"No browser found for --web. To install one, {chromium_install_hint()}.")
    return ExportError("\n".join([f"nbconvert could not make the PDF of '{shown}':", *detail]))


def latex_culprits(saved: Saved, verbatim: set[int], log: Path) -> dict[int, str]:
    """{cell: error} of the markdown cells LaTeX cannot typeset; empty if none is to blame."""
    try:
        with output_to(log):
            notebook = read(saved)
            return cells_with_latex_errors(notebook, saved.name, verbatim)
    except Exception:  # the search itself failed: no cell to blame, report the first failure
        return {}


def make_pdf(route: Route, saved: Saved, work: Path) -> bytes:
    """The PDF of the saved notebook (logs go to ``work``).

    When LaTeX fails, the markdown cells it cannot typeset become verbatim text, named on
    stderr, and the conversion runs again.
    """
    verbatim: set[int] = set()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return export_once(route, saved, verbatim, work / f"nbconvert-{attempt}.log")
        except ConversionFailed as e:
            retry = not route.web and e.latex_errors and attempt < ATTEMPTS
            bad = latex_culprits(saved, verbatim, work / "cells.log") if retry else {}
            if not bad:
                raise failure(saved.shown, e.log) from e
        for number, error in sorted(bad.items()):
            warn(
                f"LaTeX cannot typeset markdown cell {number} of '{saved.shown}' ({error});"
                f" it starts: {saved.first_line(number)[:100]!r}. The PDF shows that cell as"
                " plain text: fix its math (between $ signs) and export again, or use --web"
            )
        verbatim |= bad.keys()
    raise AssertionError("the last attempt returns or raises")
