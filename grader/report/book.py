"""The gradebook: every row with its autograded points, written marks and the policy applied.

Plain data that the writers (``grader.report.gradebook``) and the class report read.
"""

from dataclasses import dataclass, field

from grader.common.results import GradeRow
from grader.report.marks import WrittenMark
from grader.report.policy import Applied, Policy, apply_policy, excuse_for, not_graded


def points_text(value: float) -> str:
    return f"{value:g}"


@dataclass
class Gradebook:
    """The rows with their autograded points, written marks and the submission policy."""

    rows: list[GradeRow]
    possible: dict[str, float]  # autograded question -> points
    written: dict[str, float] = field(default_factory=dict)  # written item -> points
    marks: dict[str, dict[str, WrittenMark]] = field(default_factory=dict)  # submission -> item
    titles: dict[str, str] = field(default_factory=dict)  # written item -> what students read
    policy: Policy = field(default_factory=Policy)
    excused: dict[str, str] = field(default_factory=dict)  # key or file name -> reason
    overrides: list[str] = field(default_factory=list)  # manual.csv values over the page's
    canvas: str = ""  # what happened to the Canvas import (for the class report and the CLI)

    def __post_init__(self) -> None:
        self.rows = sorted(self.rows, key=lambda row: (row.submission, row.key))

    def mark(self, row: GradeRow, item: str) -> WrittenMark | None:
        return self.marks.get(row.submission, {}).get(item)

    def excuse(self, row: GradeRow) -> str | None:
        return excuse_for(row, self.excused)

    def needs_marks(self, row: GradeRow) -> bool:
        """Whether the row's written answers count (not when the policy scores it 0 anyway)."""
        return not not_graded(row, self.policy, self.excuse(row))

    def unmarked(self) -> dict[str, list[str]]:
        """Written item -> the submissions still without a mark for it."""
        return {
            item: [
                row.submission
                for row in self.rows
                if self.needs_marks(row) and self.mark(row, item) is None
            ]
            for item in self.written
        }

    def complete(self) -> bool:
        return not any(self.unmarked().values())

    def applied(self, row: GradeRow) -> Applied:
        autograded = self.earned(row, "autograded") or 0.0
        manual_points = self.earned(row, "manual") or 0.0
        return apply_policy(row, autograded + manual_points, self.policy, self.excuse(row))

    def earned(self, row: GradeRow, column: str) -> float | None:
        """Points of one point column: a question, a written item, 'autograded', 'manual',
        'total' (after the submission policy); None for a written item not marked yet."""
        if column in self.possible:
            result = row.questions.get(column)
            return result.earned if result else 0.0  # not judged: 0
        if column in self.written:
            mark = self.mark(row, column)
            return mark.points if mark else None
        if column == "autograded":
            return sum(self.earned(row, name) or 0.0 for name in self.possible)
        if column == "manual":
            marks = [self.mark(row, item) for item in self.written]
            given = [mark.points for mark in marks if mark is not None]
            return sum(given) if given else None
        return self.applied(row).total

    def point_columns(self) -> dict[str, float]:
        """Every column that holds points, with its maximum."""
        columns = dict(self.possible)
        if self.written:
            columns["autograded"] = sum(self.possible.values())
            columns |= self.written
            columns["manual"] = sum(self.written.values())
        columns["total"] = sum(self.possible.values()) + sum(self.written.values())
        return columns

    def columns(self) -> list[str]:
        extra = ["deduction", "policy", "late", "status", "message"]
        return ["submission", *self.point_columns(), *extra]

    def values(self, row: GradeRow) -> dict[str, str]:
        values = {"submission": row.submission}
        for column in self.point_columns():
            earned = self.earned(row, column)
            values[column] = "" if earned is None else points_text(earned)
        applied = self.applied(row)
        return values | {
            "deduction": points_text(applied.deduction) if applied.deduction else "",
            "policy": "; ".join(applied.reasons),
            "late": "yes" if row.late else "no",
            "status": row.status,
            "message": row.message,
        }
