"""Write what grading produced: grades.csv, the Canvas import, feedback, the class report.

Names no question: the autograded columns and their points come from the loaded hidden tests
(``possible``), the manual ones from the master notebook (``grader.report.manual``). Rows come
from the
results store, so one run, a resumed run and merged shards write the same files.
"""

import csv
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.common.results import GradeRow
from grader.common.text import terminal_text
from grader.report import manual
from grader.report.canvas_import import write_grade_import
from grader.report.class_report import write_class_report


def points_text(value: float) -> str:
    return f"{value:g}"


@dataclass
class Gradebook:
    """The rows with their autograded and (once people filled them in) manual points."""

    rows: list[GradeRow]
    possible: dict[str, float]  # autograded question -> points
    manual_possible: dict[str, float] = field(default_factory=dict)  # only once filled in
    manual: dict[str, dict[str, float]] = field(default_factory=dict)  # submission -> points

    def __post_init__(self) -> None:
        self.rows = sorted(self.rows, key=lambda row: (row.submission, row.key))

    def earned(self, row: GradeRow, column: str) -> float | None:
        """Points of one point column (a question, a manual item, 'autograded' or 'total')."""
        if column in self.possible:
            result = row.questions.get(column)
            return result.earned if result else 0.0  # not judged: 0
        if column in self.manual_possible:
            return self.manual.get(row.submission, {}).get(column)
        autograded = sum(self.earned(row, name) or 0.0 for name in self.possible)
        if column == "autograded":
            return autograded
        return autograded + sum(self.manual.get(row.submission, {}).values())

    def point_columns(self) -> dict[str, float]:
        """Every column that holds points, with its maximum."""
        columns = dict(self.possible)
        if self.manual_possible:
            columns["autograded"] = sum(self.possible.values())
            columns |= self.manual_possible
        columns["total"] = sum(self.possible.values()) + sum(self.manual_possible.values())
        return columns

    def columns(self) -> list[str]:
        return ["submission", *self.point_columns(), "late", "status", "message"]

    def values(self, row: GradeRow) -> dict[str, str]:
        values = {"submission": row.submission}
        for column in self.point_columns():
            earned = self.earned(row, column)
            values[column] = "" if earned is None else points_text(earned)
        late = "yes" if row.late else "no"
        return values | {"late": late, "status": row.status, "message": row.message}


def write_grades_csv(book: Gradebook, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=book.columns())
        writer.writeheader()
        writer.writerows(book.values(row) for row in book.rows)


def print_table(book: Gradebook, console: Console) -> None:
    title = "Points" if book.manual_possible else "Autograded points"
    table = Table(title=title)
    maxima = book.point_columns()
    for column in book.columns():
        header = f"{column} /{points_text(maxima[column])}" if column in maxima else column
        table.add_column(header, overflow="fold", max_width=60 if column == "message" else None)
    for row in book.rows:
        table.add_row(*map(terminal_text, book.values(row).values()))
    console.print(table)


def feedback_markdown(row: GradeRow, manual_points: dict[str, float] | None = None) -> str:
    """Per-student feedback: every hidden test with its points and, if failed, the reason."""
    lines = [f"# Feedback for {row.submission}", "", f"Status: **{row.status}**"]
    if row.late:
        lines += ["", "Canvas marked this submission late."]
    if row.message:
        lines += ["", row.message]
    for result in row.questions.values():
        lines += [
            "",
            f"## {result.name}: {points_text(result.earned)} / {points_text(result.possible)}",
            "",
        ]
        lines += [
            f"- {'PASS' if case.earned else 'FAIL'} {case.name} "
            f"({points_text(case.earned)}/{points_text(case.points)})"
            + ("" if case.earned else f": {case.message}")
            for case in result.cases
        ]
    if row.stopped:
        lines += [
            "",
            "## Cells that did not run to their end",
            "",
            *(f"- {s}" for s in row.stopped),
        ]
    if row.cell_errors:
        lines += ["", "## Cells that raised errors", "", *(f"- {e}" for e in row.cell_errors)]
    if manual_points:
        lines += ["", "## Graded by a person", ""]
        lines += [f"- {item}: {points_text(value)}" for item, value in manual_points.items()]
    lines += ["", "Written answers are graded by a person from your PDF."]
    return "\n".join(lines) + "\n"


def feedback_name(row: GradeRow) -> str:
    """The row's output key when grading set one, else the submitted file's stem."""
    return row.key or Path(row.submission).stem


def write_feedback(book: Gradebook, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for row in book.rows:
        text = feedback_markdown(row, book.manual.get(row.submission))
        (folder / f"{feedback_name(row)}.md").write_text(text, errors="replace")


def gradebook(
    rows: list[GradeRow], possible: dict[str, float], out: Path, master: Path | None = None
) -> Gradebook:
    """Join manual.csv's values (validated) to the rows; writes the blank sheet when needed.

    Raises ``manual.ManualPointsError`` before any file is written when a value is refused.
    """
    items = manual.manual_items(master) if master else {}
    sheet = out / manual.MANUAL_CSV
    submissions = sorted(row.submission for row in rows)
    points = manual.read_points(sheet, items, submissions)
    if not manual.is_filled(sheet):
        manual.write_blank(sheet, submissions, items)
    return Gradebook(rows, possible, items if points else {}, points)


def write_report(
    rows: list[GradeRow],
    possible: dict[str, float],
    out: Path,
    canvas_assignment: str,
    master: Path | None = None,
) -> Gradebook:
    """grades.csv, canvas_grades.csv, feedback/ and the class report in ``out``."""
    book = gradebook(rows, possible, out, master)
    write_grades_csv(book, out / "grades.csv")
    imported = write_grade_import(
        [(row.submission, book.earned(row, "total") or 0.0) for row in book.rows],
        canvas_assignment,
        out / "canvas_grades.csv",
    )
    if not imported:  # no stale import from an earlier run in the same folder
        (out / "canvas_grades.csv").unlink(missing_ok=True)
    write_feedback(book, out / "feedback")
    write_class_report(book, out)
    return book
