"""How the export talks to students: one-line warnings and errors on stderr, under the name of
the command they ran (export_pdf.sh sets ``PDF_EXPORT_PROG``)."""

from __future__ import annotations

import os
import sys

PROG = os.environ.get("PDF_EXPORT_PROG") or "python -m pdf_export"


class ExportError(Exception):
    """A problem that stops the export; its text is the whole message for the student."""


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
