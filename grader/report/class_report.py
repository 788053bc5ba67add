"""The class at a glance: per-column statistics, histograms and who needs a person.

Writes into the output folder ``class_report.md`` (tables and the plots), ``class_stats.csv``
(the same numbers for a spreadsheet) and ``plots/<column>.png``. Every submission counts, one
that could not be graded with 0 points; written items count the submissions marked so far, and
the report says what is still to mark, what the submission policy did and why, and whether the
Canvas import is complete.
"""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: files only, no display backend

from grader.common.results import GradeRow, Status
from grader.report.book import Gradebook
from grader.report.policy import describe

STATS_COLUMNS = ("column", "possible", "n", "mean", "median", "full", "partial", "zero")


@dataclass
class ColumnStats:
    column: str
    possible: float
    values: list[float]

    @property
    def row(self) -> dict[str, str]:
        values, top = self.values, self.possible
        full = sum(value >= top for value in values)
        zero = sum(value == 0 for value in values)
        return {
            "column": self.column,
            "possible": f"{top:g}",
            "n": str(len(values)),
            "mean": f"{statistics.fmean(values):.2f}" if values else "",
            "median": f"{statistics.median(values):g}" if values else "",
            "full": str(full),
            "partial": str(len(values) - full - zero),
            "zero": str(zero),
        }


def column_stats(book: Gradebook) -> list[ColumnStats]:
    stats = []
    for column, possible in book.point_columns().items():
        earned = (book.earned(row, column) for row in book.rows)
        stats.append(ColumnStats(column, possible, [v for v in earned if v is not None]))
    return stats


def needs_a_person(row: GradeRow) -> list[str]:
    """Why a person should look at this submission (empty: nothing to look at)."""
    reasons = []
    if row.status != Status.OK:
        reasons.append(f"{row.status}: {row.message}" if row.message else str(row.status))
    reasons += [f"review: {flag}" for flag in row.review]
    if row.pdf_missing:
        reasons.append("no PDF submitted")
    if row.late:
        reasons.append("late")
    return reasons


def plot_histogram(stats: ColumnStats, path: Path) -> None:
    """Bars: how many submissions earned each number of points."""
    counts = Counter(stats.values)
    figure = Figure(figsize=(5, 3))
    axes = figure.subplots()
    axes.bar(
        [float(v) for v in counts], list(counts.values()), width=min(0.4, stats.possible / 4 or 0.4)
    )
    axes.set_xlim(-0.5, stats.possible + 0.5)
    axes.set_xlabel(f"points (of {stats.possible:g})")
    axes.set_ylabel("submissions")
    axes.set_title(f"{stats.column}: {len(stats.values)} submission(s)")
    axes.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
    ]


def _first(names: list[str], shown: int = 10) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def still_to_mark(book: Gradebook) -> list[str]:
    """Per written item: how many are marked, and who is still waiting."""
    if not book.written:
        return []
    unmarked = book.unmarked()
    needed = sum(book.needs_marks(row) for row in book.rows)
    rows = [
        [item, book.titles.get(item, item), f"{needed - len(names)} / {needed}", _first(names)]
        for item, names in unmarked.items()
    ]
    left = sum(len(names) for names in unmarked.values())
    lines = [
        f"## Still to mark ({left} written answer(s))",
        "",
        *_markdown_table(["item", "title", "marked", "not marked yet"], rows),
        "",
    ]
    if book.overrides:
        lines += ["manual.csv overrides the marking page for:", ""]
        lines += [f"- {override}" for override in book.overrides] + [""]
    return lines


def policy_lines(book: Gradebook) -> list[str]:
    """The course's submission policy and every submission it changed or excused."""
    applied = [(row, book.applied(row)) for row in book.rows]
    applied = [(row, result) for row, result in applied if result.reasons]
    return [
        f"## Submission policy ({len(applied)})",
        "",
        f"Course policy: {describe(book.policy)}. Excuse one submission with "
        "`homework-grader excuse --out DIR KEY --reason TEXT`.",
        "",
        *(f"- **{row.submission}**: {'; '.join(result.reasons)}" for row, result in applied),
        "",
    ]


def write_class_report(book: Gradebook, out: Path, sections: Sequence[str] = ()) -> None:
    """``sections``: Markdown lines appended to the report (e.g. the similarity section)."""
    stats = column_stats(book)
    with (out / "class_stats.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=STATS_COLUMNS)
        writer.writeheader()
        writer.writerows(column.row for column in stats)
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    for column in stats:
        plot_histogram(column, plots / f"{column.column}.png")
    flagged = [(row, needs_a_person(row)) for row in book.rows]
    flagged = [(row, reasons) for row, reasons in flagged if reasons]
    lines = [
        "# Class report",
        "",
        f"{len(book.rows)} submission(s); one that could not be graded counts 0 points.",
        *([f"Canvas import: {book.canvas}"] if book.canvas else []),
        "",
        *_markdown_table(list(STATS_COLUMNS), [list(c.row.values()) for c in stats]),
        "",
        *still_to_mark(book),
        *policy_lines(book),
        f"## Needs a person ({len(flagged)})",
        "",
        *(f"- **{row.submission}**: {'; '.join(reasons)}" for row, reasons in flagged),
        "",
        "## Histograms",
        "",
        *(f"![{c.column}](plots/{c.column}.png)" for c in stats),
        *(["", *sections] if sections else []),
    ]
    (out / "class_report.md").write_text("\n".join(lines) + "\n")
