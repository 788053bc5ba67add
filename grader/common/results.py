"""What grading produces, shared by the judge, the orchestration and the reports.

Plain dataclasses that round-trip through JSON (``to_json``/``from_json``), so a result can be
stored as soon as it is known and merged later (resume, shards).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """How grading one submission ended."""

    OK = "ok"  # executed and judged (cells may still have raised errors)
    ERROR = "error"  # the kernel crashed, hit a limit, or its answers could not be read
    TIMEOUT = "timeout"  # ran longer than the time limit
    INVALID = "invalid"  # not a gradable file (not a notebook, broken JSON, PDF only, ...)


@dataclass
class CaseResult:
    """One hidden test case."""

    name: str
    points: float
    earned: float
    message: str


@dataclass
class QuestionResult:
    """All hidden cases of one question."""

    name: str
    possible: float
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def earned(self) -> float:
        return sum(case.earned for case in self.cases)


@dataclass
class GradeRow:
    """The outcome for one submission file."""

    submission: str  # the submitted file's name, as the TA knows it
    status: Status
    message: str = ""
    key: str = ""  # safe, unique name for this submission's files in --out (feedback/, ...)
    questions: dict[str, QuestionResult] = field(default_factory=dict)
    cell_errors: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)  # for a person to look at; no points change
    stopped: list[str] = field(default_factory=list)  # cells stopped, left out or not run, why
    late: bool = False  # Canvas marked the submission late
    pdf_missing: bool = False  # a Canvas submission without its PDF (written answers)

    @property
    def total(self) -> float:
        return sum(result.earned for result in self.questions.values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GradeRow:
        questions = {
            name: QuestionResult(
                name=question["name"],
                possible=question["possible"],
                cases=[CaseResult(**case) for case in question["cases"]],
            )
            for name, question in data.get("questions", {}).items()
        }
        return cls(
            submission=data["submission"],
            status=Status(data["status"]),
            message=data.get("message", ""),
            key=data.get("key", ""),
            questions=questions,
            cell_errors=list(data.get("cell_errors", [])),
            review=list(data.get("review", [])),
            stopped=list(data.get("stopped", [])),
            late=bool(data.get("late", False)),
            pdf_missing=bool(data.get("pdf_missing", False)),
        )
