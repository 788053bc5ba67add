"""Write what grading produced: grades.csv, a printed table and one feedback file per submission."""

import csv
import re
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.results import GradeRow


def columns(questions: list[str]) -> tuple[str, ...]:
    """grades.csv columns: one per autograded question (from the loaded hidden tests)."""
    return ("submission", *questions, "total", "status", "message")


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_text(text: str) -> Text:
    """Submission-controlled text for the terminal: no control characters, never markup."""
    clean = CONTROL.sub("?", str(text)).encode("utf-8", "replace").decode("utf-8")
    return Text(clean)


def _points(value: float) -> str:
    return f"{value:g}"


def row_values(row: GradeRow, questions: list[str]) -> dict[str, str]:
    """One grades.csv row; questions of a submission that was not judged score 0."""
    values = {"submission": row.submission}
    for name in questions:
        result = row.questions.get(name)
        values[name] = _points(result.earned if result else 0.0)
    values |= {"total": _points(row.total), "status": row.status, "message": row.message}
    return values


def write_grades_csv(rows: list[GradeRow], path: Path, questions: list[str]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns(questions))
        writer.writeheader()
        writer.writerows(row_values(row, questions) for row in rows)


def print_table(rows: list[GradeRow], possible: dict[str, float], console: Console) -> None:
    """``possible``: points per question (``judge.possible_points``), in column order."""
    questions = list(possible)
    possible = possible | {"total": sum(possible.values())}
    table = Table(title="Autograded points")
    for column in columns(questions):
        header = f"{column} /{_points(possible[column])}" if column in possible else column
        table.add_column(header, overflow="fold", max_width=60 if column == "message" else None)
    for row in rows:
        table.add_row(*map(terminal_text, row_values(row, questions).values()))
    console.print(table)


def feedback_markdown(row: GradeRow) -> str:
    """Per-student feedback: every hidden test with its points and, if failed, the reason."""
    lines = [f"# Feedback for {row.submission}", "", f"Status: **{row.status}**"]
    if row.message:
        lines += ["", row.message]
    for result in row.questions.values():
        lines += [
            "",
            f"## {result.name}: {_points(result.earned)} / {_points(result.possible)}",
            "",
        ]
        lines += [
            f"- {'PASS' if case.earned else 'FAIL'} {case.name} "
            f"({_points(case.earned)}/{_points(case.points)})"
            + ("" if case.earned else f": {case.message}")
            for case in result.cases
        ]
    if row.cell_errors:
        lines += [
            "",
            "## Cells that raised errors",
            "",
            *(f"- {error}" for error in row.cell_errors),
        ]
    lines += [
        "",
        "Written answers are graded by a person from your PDF.",
    ]
    return "\n".join(lines) + "\n"


def write_feedback(rows: list[GradeRow], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        key = row.key or Path(row.submission).stem
        (folder / f"{key}.md").write_text(feedback_markdown(row), errors="replace")
