"""What the student uploads: NAME.pdf, submission/ (NAME.ipynb + NAME.pdf) and submission.zip.

The zip is deterministic: the same two files give the same bytes (fixed times and modes).
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

from pdf_export.messages import ExportError

FIXED_TIME = (2000, 1, 1, 0, 0, 0)
MIN_CHARS = 20  # a PDF with less text than this is (almost) blank


def check_pdf(pdf: bytes, work: Path) -> None:
    """ExportError when the PDF has (almost) no text (checked when pdftotext is installed)."""
    if shutil.which("pdftotext") is None:
        return
    (work / "check.pdf").write_bytes(pdf)
    found = subprocess.run(["pdftotext", "-q", str(work / "check.pdf"), "-"], capture_output=True)
    if len(b"".join(found.stdout.split())) < MIN_CHARS:
        raise ExportError("the PDF has (almost) no text; is the notebook saved and non-empty?")


def page_count(pdf: Path) -> int | None:
    """The PDF's number of pages (None without pdfinfo)."""
    if shutil.which("pdfinfo") is None:
        return None
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    pages = [line.split()[1] for line in info.splitlines() if line.startswith("Pages:")]
    return int(pages[0]) if pages else None


def write_zip(target: Path, files: dict[str, bytes]) -> None:
    """A flat zip of ``files`` ({name: bytes}), in that order, the same bytes every time."""
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def write_submission(out_dir: Path, name: str, notebook: bytes, pdf: bytes) -> Path:
    """Write NAME.pdf, a fresh submission/ and submission.zip into out_dir; returns the folder."""
    files = {f"{name}.ipynb": notebook, f"{name}.pdf": pdf}
    (out_dir / f"{name}.pdf").write_bytes(pdf)
    folder = out_dir / "submission"
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)
    else:
        folder.unlink(missing_ok=True)
    folder.mkdir()
    for filename, data in files.items():
        (folder / filename).write_bytes(data)
    write_zip(out_dir / "submission.zip", files)
    return folder
