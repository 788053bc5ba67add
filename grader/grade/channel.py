"""The trusted side of the runner's output channel: a tar stream on its stdout, unpacked capped.

The sandbox's folder is a memory-backed file system that ends with the sandbox, so its outputs
(``run.json``, ``executed.ipynb``, ``answers/``) leave it as a tar stream
(``grader.inside.runner.ship``). Nothing in it is trusted: only regular files with the runner's
names are written, each cut at ``MAX_MEMBER_BYTES`` (the readers' own caps are smaller and say
"larger than"), at most ``MAX_MEMBERS`` of them and ``MAX_CHANNEL_BYTES`` read in all; past
that the pipe is closed. The readers of ``grader.common.safe_files`` then read the folder.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

MAX_CHANNEL_BYTES = 256 * 2**20
MAX_MEMBER_BYTES = 64 * 2**20 + 1
MAX_MEMBERS = 64
TOP_NAMES = ("run.json", "executed.ipynb", "answers")


class ChannelFull(OSError):
    """The stream carried more than ``MAX_CHANNEL_BYTES``."""


class _Capped:
    """A read-only stream that fails once more than ``cap`` bytes have been read."""

    def __init__(self, stream: BinaryIO, cap: int) -> None:
        self.stream, self.left = stream, cap

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size if size >= 0 else self.left + 1)
        self.left -= len(data)
        if self.left < 0:
            raise ChannelFull(f"more than {MAX_CHANNEL_BYTES:,} bytes of output")
        return data


def _target(folder: Path, member: tarfile.TarInfo) -> Path | None:
    """Where a member goes, or None for anything but a regular file with a runner's name."""
    parts = PurePosixPath(member.name).parts
    if not member.isreg() or not parts or parts[0] not in TOP_NAMES or len(parts) > 4:
        return None
    if member.name.startswith("/") or any(part in ("", ".", "..") for part in parts):
        return None
    if (parts[0] == "answers") == (len(parts) == 1):  # answers/... only, run.json etc. alone
        return None
    return folder.joinpath(*parts)


def receive(stream: BinaryIO, folder: Path) -> str:
    """Unpack the stream into ``folder`` (fresh, the trusted side's); returns what went wrong."""
    count = 0
    try:
        with tarfile.open(fileobj=_Capped(stream, MAX_CHANNEL_BYTES), mode="r|") as archive:
            for member in archive:
                count += 1
                if count > MAX_MEMBERS:
                    return f"more than {MAX_MEMBERS} output files"
                target = _target(folder, member)
                if target is None or target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                with target.open("xb") as sink:
                    shutil.copyfileobj(_Prefix(source, MAX_MEMBER_BYTES), sink)
    except (tarfile.TarError, OSError, EOFError) as error:
        return f"the runner's output was cut short: {error}" if count else ""
    finally:
        stream.close()  # a runner still writing gets EPIPE instead of waiting
    return ""


class _Prefix:
    """The first ``cap`` bytes of a stream."""

    def __init__(self, stream, cap: int) -> None:
        self.stream, self.left = stream, cap

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.stream.read(min(size if size >= 0 else self.left, self.left))
        self.left -= len(data)
        return data
