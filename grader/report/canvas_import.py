"""Canvas out: a gradebook import file, matched on each student's Canvas user ID."""

import csv
from pathlib import Path

from grader.common.canvas_names import parse_canvas_name

IMPORT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


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
