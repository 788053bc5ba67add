"""Canvas's names for the files of a "Download Submissions" zip.

Each file is ``<name>[_LATE]_<user id>_<submission id>_<uploaded file name>``.
"""

import re
from dataclasses import dataclass
from pathlib import Path

CANVAS_NAME = re.compile(
    r"^(?P<student>[^_]+)(?P<late>_LATE)?_(?P<user_id>\d+)_(?P<sub_id>\d+)_(?P<file>.+)$"
)


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
