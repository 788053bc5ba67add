"""Write what grading produced: grades.csv, the Canvas import, feedback, the class report.

Names no question: the autograded columns and their points come from the loaded hidden tests
(``possible``), the written items from the master notebook (``grader.report.written``), their
marks from the marking page's store and ``manual.csv`` (``grader.report.marks``), and the
submission policy from the course settings (``grader.report.policy``), applied last. Rows come
from the results store, so one run, a resumed run and merged shards write the same files.
"""

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from grader.common.results import GradeRow
from grader.common.text import terminal_text
from grader.report import manual
from grader.report.book import Gradebook, points_text
from grader.report.canvas_import import write_grade_import
from grader.report.class_report import write_class_report
from grader.report.marks import SHEET, merge, stored_marks
from grader.report.policy import (
    Policy,
    load_policy,
    policy_file,
    read_excused,
)

CANVAS_CSV = "canvas_grades.csv"


def write_grades_csv(book: Gradebook, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=book.columns())
        writer.writeheader()
        writer.writerows(book.values(row) for row in book.rows)


def print_table(book: Gradebook, console: Console) -> None:
    """The terminal's summary: grades.csv without the written items' own columns."""
    title = "Points" if book.written else "Autograded points"
    table = Table(title=title)
    maxima = book.point_columns()
    shown = [c for c in book.columns() if c not in book.written and c != "deduction"]
    for column in shown:
        header = f"{column} /{points_text(maxima[column])}" if column in maxima else column
        wide = column in ("message", "policy")
        table.add_column(header, overflow="fold", max_width=60 if wide else None)
    for row in book.rows:
        values = book.values(row)
        table.add_row(*(terminal_text(values[column]) for column in shown))
    console.print(table)


def _signed(value: float) -> str:
    return f"{value:+g}"


def written_feedback(book: Gradebook, row: GradeRow) -> list[str]:
    """Each written item: points, the rubric items applied (text, points) and the comment."""
    lines = ["", "## Written answers, graded by a person"]
    for item, maximum in book.written.items():
        mark = book.mark(row, item)
        title = book.titles.get(item, item)
        if mark is None:
            why = "not marked yet" if book.needs_marks(row) else "not marked (see the policy)"
            lines += ["", f"### {title}: {why} (of {points_text(maximum)})"]
            continue
        lines += ["", f"### {title}: {points_text(mark.points)} / {points_text(maximum)}", ""]
        lines += [f"- {rubric.text} ({_signed(rubric.points)})" for rubric in mark.applied]
        if mark.source == SHEET:
            lines.append("- Points given by hand (manual.csv).")
        if mark.comment:
            lines += ["", f"Comment: {mark.comment}"]
    return lines


def total_line(book: Gradebook, row: GradeRow) -> str:
    """'Total: **x / 11**', saying when written answers are still to be marked."""
    maximum = points_text(book.point_columns()["total"])
    total = points_text(book.earned(row, "total") or 0.0)
    line = f"Total: **{total} / {maximum}**"
    unmarked = [item for item in book.written if book.mark(row, item) is None]
    if not unmarked or not book.needs_marks(row):
        return line
    return f"{line} (not final: {len(unmarked)} written answer(s) not marked yet)"


def feedback_markdown(row: GradeRow, book: Gradebook | None = None) -> str:
    """Per-student feedback: every hidden test with its points and, if failed, the reason; with
    a gradebook also the written answers' marks, the submission policy and the total."""
    lines = [f"# Feedback for {row.submission}", "", f"Status: **{row.status}**"]
    if book is not None:
        lines += ["", total_line(book, row)]
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
    if book is not None and book.written:
        lines += written_feedback(book, row)
    else:
        lines += ["", "Written answers are graded by a person from your PDF."]
    reasons = book.applied(row).reasons if book is not None else ()
    if reasons:
        lines += ["", "## Submission policy", "", *(f"- {reason}" for reason in reasons)]
    return "\n".join(lines) + "\n"


def feedback_name(row: GradeRow) -> str:
    """The row's output key when grading set one, else the submitted file's stem."""
    return row.key or Path(row.submission).stem


def write_feedback(book: Gradebook, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for row in book.rows:
        text = feedback_markdown(row, book)
        (folder / f"{feedback_name(row)}.md").write_text(text, errors="replace")


def _titles(master: Path | None) -> dict[str, str]:
    from grader.report.written import written_items

    return {item.key: item.title for item in written_items(master)} if master else {}


def gradebook(
    rows: list[GradeRow],
    possible: dict[str, float],
    out: Path,
    master: Path | None = None,
    stored: Mapping[tuple[str, str], Any] | None = None,
) -> Gradebook:
    """Join the marks (store and manual.csv, validated), the policy and the excuses to the rows;
    writes the blank manual.csv when needed. ``stored``: the marking page's marks (default:
    read from ``out``).

    Raises ``ManualPointsError`` or ``PolicyError`` before any file is written when a value is
    refused.
    """
    items = manual.manual_items(master) if master else {}
    sheet = out / manual.MANUAL_CSV
    submissions = sorted(row.submission for row in rows)
    points = manual.read_points(sheet, items, submissions)
    rules = load_policy(policy_file(master)) if master else Policy()
    excused = read_excused(out)
    if not manual.is_filled(sheet):
        manual.write_blank(sheet, submissions, items)
    merged = merge(rows, items, stored_marks(out) if stored is None else stored, points)
    return Gradebook(
        rows,
        possible,
        written=items,
        marks=merged.marks,
        titles=_titles(master),
        policy=rules,
        excused=excused,
        overrides=merged.overrides,
    )


def write_canvas_import(book: Gradebook, assignment: str, path: Path, partial: bool) -> str:
    """The Canvas import, once every written answer is marked (or ``partial``); says what it did."""
    missing = sum(len(names) for names in book.unmarked().values())
    if missing and not partial:
        path.unlink(missing_ok=True)  # no stale import from an earlier run
        return (
            f"not written: {missing} written answer(s) are not marked yet. Mark them "
            "(homework-grader mark) or pass --partial to post totals that count them as 0."
        )
    totals = [(row.submission, book.earned(row, "total") or 0.0) for row in book.rows]
    students = write_grade_import(totals, assignment, path)
    if not students:
        path.unlink(missing_ok=True)
        return "not written: no submission has a Canvas file name."
    if missing:
        return (
            f"PARTIAL: {students} student(s), {missing} written answer(s) not marked yet count "
            "as 0 (--partial). Post the complete import once marking is done."
        )
    return f"complete: {students} student(s), out of {points_text(book.point_columns()['total'])}."


def write_report(
    rows: list[GradeRow],
    possible: dict[str, float],
    out: Path,
    canvas_assignment: str,
    master: Path | None = None,
    *,
    partial: bool = False,
    stored: Mapping[tuple[str, str], Any] | None = None,
    starter: Path | None = None,
) -> Gradebook:
    """grades.csv, canvas_grades.csv, feedback/ and the class report in ``out``.

    With the ``starter`` notebook, also the similarity report (``out/similarity/``, a section
    of the class report), made from the notebooks in ``out/executed/``.
    """
    book = gradebook(rows, possible, out, master, stored)
    write_grades_csv(book, out / "grades.csv")
    book.canvas = write_canvas_import(book, canvas_assignment, out / CANVAS_CSV, partial)
    write_feedback(book, out / "feedback")
    write_class_report(book, out, write_similarity(book.rows, out, starter) if starter else [])
    return book


def write_similarity(rows: list[GradeRow], out: Path, starter: Path) -> list[str]:
    """The similarity report of the rows' executed notebooks; its class report section."""
    from grader.report.similarity import Submission, write_similarity_report

    submissions = [Submission(feedback_name(row), row.submission) for row in rows]
    return write_similarity_report(out, submissions, starter)
