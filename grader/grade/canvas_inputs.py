"""Canvas in: expand a bulk download into per-student submissions.

Canvas names each file of a "Download Submissions" zip ``<name>[_LATE]_<user id>_<submission
id>_<uploaded file name>``. Students upload both their notebook and its PDF; the notebook is graded
and the PDF is kept for the people grading the written answers.
"""

import shutil
import tempfile
import zipfile
from pathlib import Path

from grader.common.canvas_names import CANVAS_NAME, parse_canvas_name
from grader.grade.submitted_file import InvalidSubmission, archive_members

MAX_DOWNLOAD_BYTES = 4_000_000_000  # unpacked, on disk: a class of notebooks, PDFs and zips


def _download_members(path: Path) -> list[zipfile.ZipInfo] | None:
    """The members of a Canvas bulk download, or None when ``path`` is not one within limits."""
    if path.suffix.lower() != ".zip" or not path.is_file() or not zipfile.is_zipfile(path):
        return None
    if parse_canvas_name(path):  # one student's upload, out of a download: theirs to name
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive_members(archive, path.name, MAX_DOWNLOAD_BYTES)
    except (InvalidSubmission, zipfile.BadZipFile, OSError):
        return None  # graded as a submission zip, which then reports what is wrong with it
    names = [Path(member.filename).name for member in members]
    if not names or not all(CANVAS_NAME.match(name) for name in names):
        return None
    return members


def is_canvas_download(path: Path) -> bool:
    """A zip within the archive limits whose files all carry Canvas's student prefix."""
    return _download_members(path) is not None


def unpack(download: Path, into: Path) -> list[Path]:
    """Extract a bulk download (flat, names only: no path tricks, no overwrites) and list it."""
    into.mkdir(parents=True, exist_ok=True)
    files = []
    with zipfile.ZipFile(download) as archive:
        for member in _download_members(download) or []:
            name = Path(member.filename).name
            target = into / name
            copy = 1
            while target.exists():  # two members with one base name: keep both
                copy += 1
                target = into / f"{Path(name).stem}-{copy}{Path(name).suffix}"
            with archive.open(member) as source, target.open("xb") as sink:
                shutil.copyfileobj(source, sink)
            files.append(target)
    return sorted(files)


def expand_inputs(paths: list[Path], scratch: Path) -> list[Path]:
    """Folders become their files and Canvas bulk downloads their members; the rest stays.

    Only a zip named on the command line can be a bulk download, and never one that carries a
    student's Canvas prefix (``grade unpacked/*.zip``): members of a download and files in a
    folder are graded as they are, never expanded.
    """
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            expanded += sorted(p for p in path.iterdir() if p.is_file())
        elif is_canvas_download(path):
            expanded += unpack(path, Path(tempfile.mkdtemp(prefix="canvas-", dir=scratch)))
        else:
            expanded.append(path)
    return expanded
