"""The hand-out's submission policy: what late work and a missing PDF cost, and who is excused.

The course sets it in its ``course.toml`` (defaults below when the file or a key is
missing)::

    [submission_policy]
    late = "not graded"   # or the points deducted, e.g. 2; 0: late work costs nothing
    missing_pdf = 1       # points deducted when the PDF is missing; or "not graded"

``report`` applies it after the marks: the deduction never takes a total below 0. A TA excuses
one submission from the policy (an extension, a PDF that Canvas lost) with
``homework-grader excuse --out DIR KEY --reason TEXT``, recorded in ``DIR/excused.csv``.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from grader.common.results import GradeRow
from grader.course import COURSE_FILE

SECTION = "submission_policy"
NOT_GRADED = "not graded"
EXCUSED_CSV = "excused.csv"
EXCUSED_COLUMNS = ("submission", "reason", "when")

Cost = float | str  # points deducted, or NOT_GRADED


class PolicyError(ValueError):
    """course.toml's submission policy or excused.csv cannot be used; the message says why."""


@dataclass(frozen=True)
class Policy:
    late: Cost = NOT_GRADED
    missing_pdf: Cost = 1.0


@dataclass(frozen=True)
class Applied:
    """The policy's effect on one submission's total."""

    total: float
    deduction: float
    reasons: tuple[str, ...]


def _cost(value: object, key: str) -> Cost:
    if isinstance(value, str) and value.strip().casefold() == NOT_GRADED:
        return NOT_GRADED
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise PolicyError(
        f"[{SECTION}] {key} = {value!r}: use {NOT_GRADED!r} or the points deducted (0 or more)"
    )


def policy_file(master: Path) -> Path:
    """The ``course.toml`` of the course holding ``master``: the nearest at or above it."""
    folders = master.resolve().parents
    return next((f / COURSE_FILE for f in folders if (f / COURSE_FILE).is_file()), folders[0])


def load_policy(settings: Path) -> Policy:
    """The policy in ``settings`` (course.toml); the defaults for what it does not say."""
    if not settings.is_file():
        return Policy()
    try:
        section = tomllib.loads(settings.read_text()).get(SECTION, {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise PolicyError(f"{settings}: not valid TOML ({error})") from None
    unknown = set(section) - {"late", "missing_pdf"}
    if unknown:
        raise PolicyError(f"{settings}: [{SECTION}] has unknown keys {', '.join(sorted(unknown))}")
    defaults = Policy()
    return Policy(
        late=_cost(section.get("late", defaults.late), "late"),
        missing_pdf=_cost(section.get("missing_pdf", defaults.missing_pdf), "missing_pdf"),
    )


def _points(value: float) -> str:
    return f"{value:g} point" + ("" if value == 1 else "s")


def describe(policy: Policy) -> str:
    """One line for the class report and the README's wording."""

    def cost(value: Cost) -> str:
        return "not graded (0 points)" if value == NOT_GRADED else f"-{_points(float(value))}"

    return f"late: {cost(policy.late)}; no PDF: {cost(policy.missing_pdf)}"


def apply_policy(row: GradeRow, total: float, policy: Policy, excuse: str | None) -> Applied:
    """The total after the policy, what it took off and why (the student reads the reasons)."""
    breaches = [
        (cost, why)
        for cost, why, breached in (
            (policy.late, "submitted late", row.late),
            (policy.missing_pdf, "no PDF submitted", row.pdf_missing),
        )
        if breached and cost != 0
    ]
    if not breaches:
        return Applied(total, 0.0, ())
    if excuse is not None:
        what = " and ".join(why for _, why in breaches)
        return Applied(total, 0.0, (f"{what}, excused by the course staff: {excuse}",))
    reasons, after = [], total
    for cost, why in breaches:
        if cost == NOT_GRADED:
            reasons.append(f"{why}: not graded, 0 points (the course's submission policy)")
            after = 0.0
        else:
            reasons.append(f"{why}: -{_points(float(cost))} (the course's submission policy)")
            after = max(0.0, after - float(cost))
    return Applied(after, total - after, tuple(reasons))


def not_graded(row: GradeRow, policy: Policy, excuse: str | None) -> bool:
    """Whether the policy scores this submission 0 whatever its marks (nothing to mark)."""
    if excuse is not None:
        return False
    return (row.late and policy.late == NOT_GRADED) or (
        row.pdf_missing and policy.missing_pdf == NOT_GRADED
    )


# --- excuses -----------------------------------------------------------------------------------


def read_excused(out: Path) -> dict[str, str]:
    """Excused submission (its key or file name) -> the reason."""
    path = out / EXCUSED_CSV
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"submission", "reason"} <= set(reader.fieldnames):
            raise PolicyError(f"{path}: the columns must be {', '.join(EXCUSED_COLUMNS)}")
        return {row["submission"]: row["reason"] or "" for row in reader if row["submission"]}


def _write_excused(out: Path, excused: dict[str, tuple[str, str]]) -> None:
    path = out / EXCUSED_CSV
    temporary = path.with_suffix(".tmp")
    with temporary.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXCUSED_COLUMNS)
        writer.writerows((key, reason, when) for key, (reason, when) in sorted(excused.items()))
    temporary.replace(path)  # a killed command leaves the old file whole


def set_excuse(out: Path, key: str, reason: str | None) -> None:
    """Excuse ``key`` with ``reason`` (replacing an earlier excuse), or withdraw it (None)."""
    path = out / EXCUSED_CSV
    rows: dict[str, tuple[str, str]] = {}
    if path.is_file():
        with path.open(newline="") as handle:
            rows = {
                row["submission"]: (row.get("reason") or "", row.get("when") or "")
                for row in csv.DictReader(handle)
                if row.get("submission")
            }
    if reason is None:
        rows.pop(key, None)
    else:
        rows[key] = (reason, datetime.now(UTC).isoformat(timespec="seconds"))
    _write_excused(out, rows)


def excuse_for(row: GradeRow, excused: dict[str, str]) -> str | None:
    """The row's excuse, looked up by its key or its submitted file's name."""
    for name in (row.key, row.submission):
        if name and name in excused:
            return excused[name]
    return None
