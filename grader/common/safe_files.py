"""Read what a sandbox wrote without following a link the submission could have placed.

Only regular files, opened component by component with ``O_NOFOLLOW``, up to a size cap.
"""

import contextlib
import os
import stat
from pathlib import Path


class UnsafeFile(OSError):
    """A sandbox file that is a link, not a regular file, or larger than its cap."""


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@contextlib.contextmanager
def open_dir(base: Path, *parts: str):
    """A descriptor of ``base/parts...``, refusing a symlink at every step below ``base``."""
    fd = os.open(base, _DIR_FLAGS)
    try:
        for part in parts:
            if part in ("", ".", "..") or "/" in part:
                raise UnsafeFile(f"unsafe name {part!r}")
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def read_regular(dir_fd: int, name: str, cap: int) -> bytes:
    """The bytes of the regular file ``name`` in ``dir_fd`` (no links, no FIFOs, at most cap)."""
    if name in ("", ".", "..") or "/" in name:
        raise UnsafeFile(f"unsafe name {name!r}")
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        raise UnsafeFile(f"{name}: {error.strerror or error}") from error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{name} is not a regular file")
        if info.st_size > cap:
            raise UnsafeFile(f"{name} is larger than {cap:,} bytes")
        chunks, left = [], cap + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > cap:
            raise UnsafeFile(f"{name} is larger than {cap:,} bytes")
        return data
    finally:
        os.close(fd)


def read_file(base: Path, relative: str, cap: int) -> bytes:
    """``base/relative`` read safely (see ``read_regular``); ``relative`` uses '/' separators."""
    *folders, name = relative.split("/")
    try:
        with open_dir(base, *folders) as fd:
            return read_regular(fd, name, cap)
    except UnsafeFile:
        raise
    except OSError as error:
        raise UnsafeFile(f"{relative}: {error.strerror or error}") from error


def regular_files(base: Path, folder: str, max_files: int) -> list[str]:
    """Names of the regular files in ``base/folder`` (no links), at most ``max_files``."""
    try:
        with open_dir(base, *filter(None, folder.split("/"))) as fd:
            names = sorted(os.listdir(fd))
            if len(names) > max_files:
                raise UnsafeFile(f"{folder}/ holds {len(names)} entries (at most {max_files})")
            return [
                name
                for name in names
                if stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
            ]
    except UnsafeFile:
        raise
    except OSError as error:
        raise UnsafeFile(f"{folder}: {error.strerror or error}") from error
