"""Canvas in: expand the bulk downloads the TA names (``grade --canvas submissions.zip``).

Canvas names each file of a "Download Submissions" zip ``<name>[_LATE]_<user id>_<submission
id>_<uploaded file name>``. Students upload both their notebook and its PDF; the notebook is graded
and the PDF is kept for the people grading the written answers.

Which zip is a download is never guessed: every other zip is one submission, whatever its members
are called. Each member of a download is its own input: a member that cannot be taken out safely
(a name leaving the folder, a link, a zip bomb, too large, corrupted) becomes a ``BadMember``
with the reason, which gets its own ``invalid`` row, and every other member is unpacked as if it
were absent.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.grade.submitted_file import MAX_COMPRESSION_RATIO

MAX_DOWNLOAD_BYTES = 4_000_000_000  # unpacked, on disk: a class of notebooks, PDFs and zips
MAX_MEMBER_BYTES = 200_000_000  # one student's upload (a notebook of 50 MB with a PDF, zipped)
MAX_DOWNLOAD_MEMBERS = 20_000


class BadDownload(ValueError):
    """The download as a whole cannot be read (not a zip, a broken directory, too many files)."""


@dataclass(frozen=True)
class BadMember:
    """A member of a download that was not unpacked, and why."""

    name: str  # as the zip names it (shown as text, never used as a path)
    download: Path
    reason: str

    @property
    def base_name(self) -> str:
        """The member's file name alone (Canvas's student prefix, if any, is in it)."""
        return PurePosixPath(self.name.replace("\\", "/")).name or "member"


def member_problem(info: zipfile.ZipInfo) -> str:
    """Why a member must not be unpacked, or ''."""
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (parts[0][1:2] == ":"):
        return f"its name leaves the download's folder: {name!r}"
    if PurePosixPath(name).name in ("", "."):
        return f"it has no file name: {name!r}"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "it is a link"
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > 1_000_000 and ratio > MAX_COMPRESSION_RATIO:
        return f"it is a zip bomb (inflates {ratio:.0f}x)"
    if info.file_size > MAX_MEMBER_BYTES:
        return f"it unpacks to more than {MAX_MEMBER_BYTES // 1_000_000} MB"
    return ""


def _free_target(into: Path, name: str) -> Path:
    """``into/name``, or ``into/<stem>-N<suffix>`` when another member took that name."""
    target, copy = into / name, 1
    while target.exists():
        copy += 1
        target = into / f"{Path(name).stem}-{copy}{Path(name).suffix}"
    return target


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> str:
    """Copy one member out (its CRC checked by ``zipfile``); returns why it failed, or ''."""
    try:
        with archive.open(info) as source, target.open("xb") as sink:
            shutil.copyfileobj(source, sink)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        target.unlink(missing_ok=True)
        return f"it is corrupted in the download ({type(error).__name__}: {error})"
    return ""


def unpack(download: Path, into: Path) -> list[Path | BadMember]:
    """Each member of a bulk download, flat (base names only, no overwrites): its file, or
    a ``BadMember``. Raises ``BadDownload`` when the zip itself cannot be read."""
    try:
        archive = zipfile.ZipFile(download)
    except (zipfile.BadZipFile, OSError) as error:
        raise BadDownload(f"{download.name} is not a readable zip file ({error})") from error
    into.mkdir(parents=True, exist_ok=True)
    found: list[Path | BadMember] = []
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_DOWNLOAD_MEMBERS:
            raise BadDownload(f"{download.name} holds {len(infos)} files")
        budget = MAX_DOWNLOAD_BYTES
        for info in infos:
            if info.is_dir() or "__MACOSX" in info.filename:
                continue
            problem = member_problem(info)
            if not problem and info.file_size > budget:
                problem = f"the download unpacks to more than {MAX_DOWNLOAD_BYTES:,} bytes"
            target = _free_target(into, PurePosixPath(info.filename).name)
            problem = problem or _extract(archive, info, target)
            if problem:
                found.append(BadMember(info.filename, download, problem))
                continue
            budget -= info.file_size
            found.append(target)
    return found


def expand_inputs(
    paths: list[Path], scratch: Path, downloads: list[Path] = ()
) -> list[Path | BadMember]:
    """Folders become their files and the named ``downloads`` their members; the rest stays
    (a zip is one student's submission unless the TA named it a download)."""
    expanded: list[Path | BadMember] = []
    for path in paths:
        expanded += sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for index, download in enumerate(downloads):
        try:
            expanded += unpack(download, scratch / f"canvas-{index}")
        except BadDownload as error:
            expanded.append(BadMember(download.name, download, str(error)))
    return expanded
