"""Points that people give in a spreadsheet (``manual.csv``): an empty sheet, reading it back.

The columns are the master notebook's written items (``grader.report.written``), each with its
points. The sheet is written once, one row per submission, and never overwritten once a value is
in it. Marks given on the marking page need no column here; a value in the sheet overrides the
page's for that answer (``grader.report.marks``).
"""

import csv
from pathlib import Path

from grader.report.written import written_items

MANUAL_CSV = "manual.csv"
SUBMISSION = "submission"


class ManualPointsError(ValueError):
    """A value in manual.csv that cannot be used; the message names its row and column."""


def manual_items(master: Path) -> dict[str, float]:
    """The written items with their points, in notebook order."""
    return {item.key: item.max_points for item in written_items(master)}


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def is_filled(path: Path) -> bool:
    """Whether a person has put any value into the sheet."""
    if not path.is_file():
        return False
    _, rows = _read_rows(path)
    return any(
        (value or "").strip() for row in rows for key, value in row.items() if key != SUBMISSION
    )


def write_blank(path: Path, submissions: list[str], items: dict[str, float]) -> bool:
    """Write the empty sheet unless a filled one exists; returns whether it was written."""
    if not items or is_filled(path):
        return False
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([SUBMISSION, *items])
        writer.writerows([submission, *[""] * len(items)] for submission in submissions)
    return True


def read_points(
    path: Path, items: dict[str, float], submissions: list[str]
) -> dict[str, dict[str, float]]:
    """Filled values per submission and item; raises ManualPointsError naming row and column."""
    if not path.is_file():
        return {}
    columns, rows = _read_rows(path)
    unknown = [column for column in columns if column not in (SUBMISSION, *items)]
    if SUBMISSION not in columns or unknown:
        raise ManualPointsError(
            f"{path}: the columns must be {SUBMISSION!r} and {', '.join(items)} "
            f"(unexpected: {', '.join(unknown) or 'no submission column'})"
        )
    known, points = set(submissions), {}
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        name = row[SUBMISSION]
        for item, maximum in items.items():
            text = (row.get(item) or "").strip()
            if not text:
                continue
            where = f"{path} line {number} ({name}), column {item}"
            if name not in known:
                raise ManualPointsError(f"{where}: no graded submission is called {name!r}")
            try:
                value = float(text)
            except ValueError:
                raise ManualPointsError(f"{where}: {text!r} is not a number") from None
            if not 0 <= value <= maximum:
                raise ManualPointsError(f"{where}: {text} is outside 0..{maximum:g}")
            points.setdefault(name, {})[item] = value
    return points
