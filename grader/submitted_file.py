"""Read a submission file without executing or modifying it.

Accepted: a notebook (``.ipynb``) or the zip that the notebook's export cell or ``export_pdf.sh``
makes (one notebook, optionally a PDF). Anything else is reported as invalid with the reason.
"""

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

MAX_BYTES = 50_000_000  # a notebook with every figure is a few MB


class InvalidSubmission(ValueError):
    """The file cannot be graded; the message says why, in words a student understands."""


@dataclass
class SubmittedFile:
    """A parsed submission: its label for the grade table, the notebook and its PDF, if any."""

    name: str
    source: Path
    notebook: nbformat.NotebookNode
    pdf: bytes | None = None


def parse_notebook(raw: bytes, origin: str) -> nbformat.NotebookNode:
    """Parse and validate notebook JSON."""
    if len(raw) > MAX_BYTES:
        raise InvalidSubmission(f"{origin} is larger than {MAX_BYTES // 1_000_000} MB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidSubmission(f"{origin} is not a notebook: invalid JSON ({error})") from error
    if not isinstance(data, dict) or "cells" not in data:
        raise InvalidSubmission(f"{origin} is not a Jupyter notebook (no 'cells')")
    try:
        notebook = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(notebook)
    except Exception as error:
        reason = str(error).splitlines()[0][:200]
        raise InvalidSubmission(f"{origin} is not a valid Jupyter notebook: {reason}") from error
    return notebook


def _from_zip(path: Path) -> tuple[nbformat.NotebookNode, bytes | None]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [
                m for m in archive.infolist() if not m.is_dir() and "__MACOSX" not in m.filename
            ]
            if sum(m.file_size for m in members) > MAX_BYTES:
                raise InvalidSubmission(
                    f"{path.name} unpacks to more than {MAX_BYTES // 1_000_000} MB"
                )
            notebooks = [m for m in members if m.filename.endswith(".ipynb")]
            if len(notebooks) != 1:
                raise InvalidSubmission(f"{path.name} holds {len(notebooks)} notebooks, expected 1")
            notebook = parse_notebook(
                archive.read(notebooks[0]), f"{notebooks[0].filename} in {path.name}"
            )
            pdfs = [m for m in members if m.filename.endswith(".pdf")]
            return notebook, archive.read(pdfs[0]) if pdfs else None
    except zipfile.BadZipFile as error:
        raise InvalidSubmission(f"{path.name} is not a valid zip file") from error


def read_submitted_file(path: Path) -> SubmittedFile:
    """Parse ``path`` (read-only); raises ``InvalidSubmission`` with the reason."""
    if not path.is_file():
        raise InvalidSubmission(f"{path} does not exist or is not a file")
    if path.suffix.lower() == ".zip":
        notebook, pdf = _from_zip(path)
    elif path.suffix.lower() == ".ipynb":
        notebook, pdf = parse_notebook(path.read_bytes(), path.name), None
    else:
        raise InvalidSubmission(f"{path.name} is not a notebook (.ipynb) or a submission zip")
    return SubmittedFile(name=path.stem, source=path, notebook=notebook, pdf=pdf)
