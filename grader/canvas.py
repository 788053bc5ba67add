"""Canvas in and out: expand a bulk download into per-student submissions, write a grade import.

Canvas names each file of a "Download Submissions" zip ``<name>[_LATE]_<user id>_<submission
id>_<uploaded file name>``. Students upload both their notebook and its PDF; the notebook is graded
and the PDF is kept for the people grading the written answers.
"""

import csv
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

CANVAS_NAME = re.compile(
    r"^(?P<student>[^_]+)(?P<late>_LATE)?_(?P<user_id>\d+)_(?P<sub_id>\d+)_(?P<file>.+)$"
)
IMPORT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


@dataclass
class CanvasFile:
    """One file of a Canvas bulk download, with the student it belongs to."""

    path: Path
    student: str
    user_id: str
    late: bool


def parse_canvas_name(path: Path) -> CanvasFile | None:
    match = CANVAS_NAME.match(path.name)
    if not match:
        return None
    return CanvasFile(path, match["student"], match["user_id"], bool(match["late"]))


def is_canvas_download(path: Path) -> bool:
    """A zip whose members all carry Canvas's student prefix (an export zip has none)."""
    if path.suffix.lower() != ".zip" or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = [Path(name).name for name in archive.namelist() if not name.endswith("/")]
    return bool(names) and all(CANVAS_NAME.match(name) for name in names)


def unpack(download: Path, into: Path) -> list[Path]:
    """Extract a bulk download (flat, names only: no path tricks) and list its files."""
    into.mkdir(parents=True, exist_ok=True)
    files = []
    with zipfile.ZipFile(download) as archive:
        for member in archive.infolist():
            name = Path(member.filename).name
            if member.is_dir() or not name:
                continue
            (into / name).write_bytes(archive.read(member))
            files.append(into / name)
    return sorted(files)


def expand_inputs(paths: list[Path], scratch: Path) -> list[Path]:
    """Folders become their files and Canvas bulk downloads their members; the rest stays."""
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            expanded += sorted(p for p in path.iterdir() if p.is_file())
        elif is_canvas_download(path):
            expanded += unpack(path, Path(tempfile.mkdtemp(prefix="canvas-", dir=scratch)))
        else:
            expanded.append(path)
    return expanded


def write_grade_import(rows: list[tuple[str, float]], assignment: str, path: Path) -> int:
    """Canvas gradebook import (matched on Canvas user ID); returns how many students it holds.

    ``rows`` pairs a submitted file name with its points; files without a Canvas name are skipped,
    and no file is written when none has one.
    """
    students = [
        (canvas, points)
        for file_name, points in rows
        if (canvas := parse_canvas_name(Path(file_name))) is not None
    ]
    if students:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([*IMPORT_COLUMNS, assignment])
            for canvas, points in students:
                writer.writerow([canvas.student, canvas.user_id, "", "", "", f"{points:g}"])
    return len(students)
