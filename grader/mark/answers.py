"""The class to mark: every submission's written answers, read once from ``<out>/executed/``.

Submissions are shown in a blind order (a keyed hash of their keys, stable for a class), under
a number, never their name unless asked. Identical answers (whitespace and case normalised)
form one unit, graded once, unless a TA ungroups them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.report.written import WrittenItem, answer_text, is_unanswered

MAX_NOTEBOOK_BYTES = 25_000_000  # the grader keeps executed notebooks up to 20 MB
log = logging.getLogger(__name__)


def normalise(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


@dataclass(frozen=True)
class Unit:
    """One answer as the TA grades it: a submission, or a group of identical answers."""

    number: int  # the first member's blind number: the unit's id in the page
    members: tuple[str, ...]  # submission keys, in blind order


@dataclass
class Classroom:
    """The answers of a graded class, by item then submission; immutable once read."""

    out: Path
    items: list[WrittenItem]
    order: list[str]  # submission keys, blind order
    answers: dict[str, dict[str, str | None]] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)
    number: dict[str, int] = field(init=False)  # blind number of each submission, from 1
    known: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.number = {key: index + 1 for index, key in enumerate(self.order)}
        self.known = set(self.order)

    def item(self, key: str) -> WrittenItem:
        return next(item for item in self.items if item.key == key)

    def unanswered(self, item: WrittenItem) -> list[str]:
        return [
            key
            for key in self.order
            if is_unanswered(self.answers[item.key].get(key), item) or key in self.unreadable
        ]

    def units(self, item: str, ungrouped: set[str]) -> list[Unit]:
        """The item's units in blind order; an ungrouped submission is a unit of its own."""
        groups: dict[str, list[str]] = {}
        for key in self.order:
            if key not in ungrouped:
                groups.setdefault(normalise(self.answers[item].get(key)), []).append(key)
        number = self.number
        units: list[Unit] = []
        for key in self.order:
            if key in ungrouped:
                units.append(Unit(number[key], (key,)))
                continue
            group = groups[normalise(self.answers[item].get(key))]
            if group[0] == key:
                units.append(Unit(number[key], tuple(group)))
        return units


def blind_order(keys: list[str], salt: str) -> list[str]:
    return sorted(keys, key=lambda key: hashlib.sha256(f"{salt}\0{key}".encode()).hexdigest())


def read_class(out: Path, items: list[WrittenItem], salt: str) -> Classroom:
    """Every executed notebook's answers; a broken or oversized one has none (and is named)."""
    paths = sorted((out / "executed").glob("*.ipynb"))
    room = Classroom(out, items, blind_order([path.stem for path in paths], salt))
    room.answers = {item.key: {} for item in items}
    for path in paths:
        notebook = _read_notebook(path)
        if notebook is None:
            room.unreadable.add(path.stem)
            continue
        for item in items:
            room.answers[item.key][path.stem] = _answer(notebook, item, path)
    return room


def _read_notebook(path: Path) -> nbformat.NotebookNode | None:
    try:
        if path.is_symlink() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError("a link or over 25 MB")
        return nbformat.from_dict(json.loads(path.read_bytes()))
    except (OSError, ValueError, RecursionError) as error:
        log.warning("%s: not read (%s)", path.name, error)
        return None


def _answer(notebook: nbformat.NotebookNode, item: WrittenItem, path: Path) -> str | None:
    try:
        text = answer_text(notebook, item)
    except Exception as error:  # hostile structure: no answer for this item, the rest goes on
        log.warning("%s: %s not read (%s)", path.name, item.key, error)
        return None
    return text if isinstance(text, str) else None
