"""A notebook's own work per question: its code cells and its written answers, starter removed.

Sections are the parts of the notebook under the starter notebook's own headings (``## Question
N: ...`` starts question ``qN``; any other heading of the starter, such as ``## Submission``, ends
it), so a heading a student adds does not move cells. A cell identical to a starter cell of the
same kind (the question's text, a locked helper, ``checker.check("q1")``) is the starter's, not
the student's; what remains of the template inside an answer cell is removed later, passage by
passage (``fingerprints.Fingerprinter``).

Notebooks are read as plain JSON with every field checked: an executed notebook is the
submission's output and may be anything.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

QUESTION_HEADING = re.compile(r"^#{1,6}\s*Question\s+(\d+)\b", re.IGNORECASE)
HEADING = re.compile(r"^#{1,6}\s+\S.*$", re.MULTILINE)
MAX_SECTION_CHARS = 200_000  # per question and kind: what a hostile notebook can make us read


class NotebookUnreadable(ValueError):
    """The file is not a notebook this report can read (the reason is the message)."""


@dataclass(frozen=True)
class Cell:
    index: int  # position in its notebook
    kind: str  # "code" or "markdown"
    source: str


@dataclass
class Section:
    """One question's cells of one notebook."""

    code: list[Cell] = field(default_factory=list)
    text: list[Cell] = field(default_factory=list)

    def of(self, cell_type: str) -> list[Cell]:
        return self.code if cell_type == "code" else self.text


def _source(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    raise NotebookUnreadable("a cell's source is neither text nor a list of lines")


def read_cells(path: Path) -> list[Cell]:
    """The code and markdown cells of a notebook file, in order."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise NotebookUnreadable(f"not readable as notebook JSON: {error}") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise NotebookUnreadable("no list of cells")
    found = []
    for index, cell in enumerate(cells):
        kind = cell.get("cell_type") if isinstance(cell, dict) else None
        if kind in ("code", "markdown"):
            found.append(Cell(index, kind, _source(cell.get("source", ""))))
    return found


def section_headings(starter: list[Cell]) -> dict[str, str | None]:
    """The starter's heading lines that open a section, each with its question (None: none).

    A question heading opens that question; another heading no deeper than the question
    headings (``## Submission``) ends it; deeper ones (a prompt's ``### Hints``) change nothing.
    """
    lines = [
        line.strip()
        for cell in starter
        if cell.kind == "markdown"
        for line in HEADING.findall(cell.source)
    ]
    questions = {line: QUESTION_HEADING.match(line) for line in lines}
    depth = min((_depth(line) for line, match in questions.items() if match), default=6)
    return {
        line: f"q{int(match[1])}" if match else None
        for line, match in questions.items()
        if match or _depth(line) <= depth
    }


def _depth(heading: str) -> int:
    return len(heading) - len(heading.lstrip("#"))


def split_sections(cells: list[Cell], headings: dict[str, str | None]) -> dict[str, Section]:
    """Each question's cells; a markdown cell holding a heading belongs to the section it opens."""
    sections: dict[str, Section] = {}
    question: str | None = None
    for cell in cells:
        if cell.kind == "markdown":
            for line in HEADING.findall(cell.source):
                question = headings.get(line.strip(), question)
        if question is None:
            continue
        section = sections.setdefault(question, Section())
        (section.code if cell.kind == "code" else section.text).append(cell)
    return sections


def _key(cell: Cell) -> tuple[str, str]:
    return cell.kind, cell.source.strip()


def _capped(cells: list[Cell]) -> list[Cell]:
    kept, total = [], 0
    for cell in cells:
        if total + len(cell.source) > MAX_SECTION_CHARS:
            break
        kept.append(cell)
        total += len(cell.source)
    return kept


def own_sections(cells: list[Cell], starter: list[Cell]) -> dict[str, Section]:
    """Per question, the notebook's cells that differ from every starter cell (size capped)."""
    starter_keys = {_key(cell) for cell in starter}
    own = {c.index for c in cells if _key(c) not in starter_keys and c.source.strip()}
    sections = split_sections(cells, section_headings(starter))  # headings decide, own or not
    return {
        question: Section(
            code=_capped([c for c in section.code if c.index in own]),
            text=_capped([c for c in section.text if c.index in own]),
        )
        for question, section in sections.items()
    }


def starter_sections(starter: list[Cell]) -> dict[str, Section]:
    """The starter notebook's own sections (every question's template)."""
    return split_sections(starter, section_headings(starter))
