"""Zips that are the same bytes for the same content (fixed times, modes and order)."""

import zipfile
from pathlib import Path

FIXED_TIME = (2000, 1, 1, 0, 0, 0)


def add_member(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    """Add ``data`` as ``name`` with a fixed time and mode (0755 when ``executable``)."""
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.external_attr = (0o755 if executable else 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def tree_files(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else the files under it (no caches), sorted."""
    if path.is_file():
        return [path]
    return sorted(
        file
        for file in path.rglob("*")
        if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc"
    )
