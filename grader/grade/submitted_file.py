"""Read a submission file without executing or modifying it.

Accepted: a notebook (``.ipynb``) or the zip that the notebook's export cell or ``export_pdf.sh``
makes (one notebook, optionally a PDF). Anything else is reported as invalid with the reason.
"""

import json
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

MAX_BYTES = 50_000_000  # a notebook with every figure is a few MB
MAX_ARCHIVE_MEMBERS = 2_000
MAX_COMPRESSION_RATIO = 200  # a zip bomb compresses far better than notebooks, PDFs and zips


class InvalidSubmission(ValueError):
    """The file cannot be graded; the message says why, in words a student understands."""


@dataclass
class SubmittedFile:
    """A parsed submission: its label for the grade table, the notebook and its PDF, if any."""

    name: str
    source: Path
    notebook: nbformat.NotebookNode
    pdf: bytes | None = None


def archive_members(archive: zipfile.ZipFile, label: str, max_bytes: int) -> list[zipfile.ZipInfo]:
    """The files of a zip, checked before anything is unpacked (sizes are as declared, and
    ``zipfile`` never inflates a member beyond its declared size)."""
    infos = archive.infolist()
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise InvalidSubmission(f"{label} holds {len(infos)} files (at most {MAX_ARCHIVE_MEMBERS})")
    members = []
    for info in infos:
        name = info.filename
        if name.startswith("/") or ".." in name.replace("\\", "/").split("/"):
            raise InvalidSubmission(f"{label} holds a file outside its folder: {name!r}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InvalidSubmission(f"{label} holds a link: {name!r}")
        if info.is_dir() or "__MACOSX" in name:
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1_000_000 and ratio > MAX_COMPRESSION_RATIO:
            raise InvalidSubmission(f"{label} is a zip bomb ({name!r} inflates {ratio:.0f}x)")
        members.append(info)
    if sum(m.file_size for m in members) > max_bytes:
        raise InvalidSubmission(f"{label} unpacks to more than {max_bytes // 1_000_000} MB")
    return members


def parse_notebook(raw: bytes, origin: str) -> nbformat.NotebookNode:
    """Parse and validate notebook JSON."""
    if len(raw) > MAX_BYTES:
        raise InvalidSubmission(f"{origin} is larger than {MAX_BYTES // 1_000_000} MB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidSubmission(f"{origin} is not a notebook: invalid JSON ({error})") from error
    except RecursionError as error:
        raise InvalidSubmission(f"{origin} is nested too deeply to be a notebook") from error
    if not isinstance(data, dict) or "cells" not in data:
        raise InvalidSubmission(f"{origin} is not a Jupyter notebook (no 'cells')")
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate such as "\ud800"
        raise InvalidSubmission(f"{origin} holds text that is not valid Unicode") from error
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
            members = archive_members(archive, path.name, MAX_BYTES)
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
