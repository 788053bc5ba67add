"""The written items' marks: the marking page's store merged with ``manual.csv``.

The marking page (``homework-grader mark``) keeps its marks in ``<out>/marks.sqlite``; a TA who
grades in a spreadsheet fills ``manual.csv``. When both hold a value for the same answer,
``manual.csv`` wins: the sheet is only ever filled by hand, so a value there is a deliberate
override (a regrade, a correction); the class report lists every such override.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from grader.common.results import GradeRow
from grader.report.written import RubricItem

PAGE = "marking page"
SHEET = "manual.csv"


class StoredMark(Protocol):
    """What the marking page's store gives per (submission, item): grader.mark.store.Mark."""

    submission: str
    item: str
    points: float
    applied: tuple[RubricItem, ...]
    comment: str
    grader: str
    when: str


@dataclass(frozen=True)
class WrittenMark:
    """One written answer's points as the report uses them, and where they come from."""

    points: float
    source: str  # PAGE or SHEET
    applied: tuple[RubricItem, ...] = ()
    comment: str = ""
    grader: str = ""
    replaced: float | None = None  # the marking page's points that manual.csv overrode


@dataclass
class Merged:
    marks: dict[str, dict[str, WrittenMark]]  # submission -> item -> mark
    overrides: list[str]  # "submission, item: manual.csv 1 replaces the marking page's 0.5"
    ignored: list[str]  # stored marks for submissions or items this report does not have


def stored_marks(out: Path) -> Mapping[tuple[str, str], StoredMark]:
    """The marking page's marks in ``out``; none when it was never used (or is not installed)."""
    try:
        from grader.mark.store import MarkStore
    except ImportError:  # the marking page is not part of this installation
        return {}
    store = MarkStore.in_out(out)
    if store is None:
        return {}
    try:
        return store.marks()
    finally:
        store.close()


def _page_mark(stored: StoredMark, maximum: float) -> WrittenMark:
    points = min(max(float(stored.points), 0.0), maximum)  # the store clamps too; never trust
    return WrittenMark(
        points, PAGE, tuple(stored.applied), stored.comment or "", stored.grader or ""
    )


def merge(
    rows: list[GradeRow],
    items: Mapping[str, float],
    stored: Mapping[tuple[str, str], Any],
    sheet: Mapping[str, Mapping[str, float]],
) -> Merged:
    """Marks per submission: the store's, each replaced by manual.csv's value where it has one.

    Store marks name a submission by its file name or its key (``GradeRow.key``).
    """
    names = {name: row.submission for row in rows for name in (row.submission, row.key) if name}
    merged: dict[str, dict[str, WrittenMark]] = {}
    ignored = []
    for (submission, item), mark in stored.items():
        if submission not in names or item not in items:
            ignored.append(f"{submission}, {item}")
            continue
        merged.setdefault(names[submission], {})[item] = _page_mark(mark, items[item])
    overrides = []
    for submission, values in sheet.items():
        for item, points in values.items():
            page = merged.get(submission, {}).get(item)
            if page and page.points == points:
                continue  # the same value in both: the page's mark explains it
            replaced = page.points if page else None
            if page:
                overrides.append(
                    f"{submission}, {item}: manual.csv {points:g} replaces the marking page's "
                    f"{page.points:g}"
                )
            merged.setdefault(submission, {})[item] = WrittenMark(
                points,
                SHEET,
                comment=page.comment if page else "",
                grader=page.grader if page else "",
                replaced=replaced,
            )
    return Merged(merged, overrides, sorted(ignored))
