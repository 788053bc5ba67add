"""The written items of the homework and their rubrics, read from the master notebook.

A written item is one of the master's ``manual: true`` questions (otter assign format):

- its ``# BEGIN QUESTION`` config gives the key (``name``) and the points (``points``);
- its ``# BEGIN PROMPT`` markdown cell is the template students start from. It opens with a bold
  label, ``**Q1 (a) answer:**``: the label is how the answer is found again in a student's
  notebook, wherever they moved the cell (the PDF export labels the same cells the same way);
- its ``# BEGIN SOLUTION`` block holds the reference answer (markdown) and one markdown cell with
  a fenced ``yaml`` block: ``title``, optional ``figure`` (a file the kernel exports, shown beside
  the answer) and ``rubric``, a list of ``{key, points, text}``. otter assign strips the solution
  block from the student notebook, so neither the reference nor the rubric reaches students.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

# The bold label that opens an answer cell; pdf_export/preprocessors.py's ANSWER_LABEL.
ANSWER_LABEL = re.compile(r"^\s*\*\*([^*\n]{1,80}?):?\*\*")
QUESTION = re.compile(r"^(q\d+)")
RUBRIC_BLOCK = re.compile(r"^```ya?ml[ \t]*\n(.*?)^```", re.S | re.M)
BEGIN_QUESTION = "# BEGIN QUESTION"


class RubricError(ValueError):
    """The master notebook's written items or rubrics are malformed; the message says where."""


@dataclass(frozen=True)
class RubricItem:
    key: str  # stable id within the item, e.g. "correct", "partial"
    points: float  # may be negative (a deduction) or positive
    text: str  # the sentence the student reads


@dataclass(frozen=True)
class WrittenItem:
    key: str  # e.g. "q1_explanation"; a column of grades.csv
    question: str  # "q1"
    title: str  # what the TA sees, e.g. "Q1: why AddModule cannot add"
    max_points: float
    reference: str  # reference answer (Markdown, may hold $math$)
    template: str  # the placeholder text students start from
    rubric: tuple[RubricItem, ...]
    figure: str | None  # file exported by the kernel to show beside it (Q5), else None

    @property
    def label(self) -> str:
        """The bold label that opens the answer cell, e.g. 'Q1 (a) answer'."""
        return answer_label(self.template) or ""


def answer_label(source: str) -> str | None:
    """The bold label an answer cell opens with, else None."""
    match = ANSWER_LABEL.match(source)
    return match.group(1).strip() if match else None


def without_label(source: str) -> str:
    return ANSWER_LABEL.sub("", source, count=1).strip()


def normalised(text: str) -> str:
    """Whitespace, case and Markdown emphasis ignored: how answers are compared."""
    return " ".join(re.sub(r"[*_]", " ", text).split()).casefold()


# --- reading the master ------------------------------------------------------------------------


@dataclass
class _Parts:
    """What one manual question's cells hold, gathered while walking the master."""

    config: dict[str, Any]
    template: str = ""
    reference: list[str] = field(default_factory=list)
    rubric: dict[str, Any] | None = None


def _cell_text(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _manual_questions(master: Path) -> list[_Parts]:
    """Every ``manual: true`` question with its prompt, solution and rubric cells."""
    found: list[_Parts] = []
    current: _Parts | None = None
    block = ""
    for cell in nbformat.read(master, as_version=4).cells:
        text = _cell_text(cell)
        if cell.cell_type == "raw":
            marker = text.strip()
            if marker.startswith(BEGIN_QUESTION):
                config = yaml.safe_load(marker.removeprefix(BEGIN_QUESTION)) or {}
                current = _Parts(config) if config.get("manual") else None
                if current:
                    found.append(current)
            elif marker == "# END QUESTION":
                current = None
            elif marker in ("# BEGIN PROMPT", "# BEGIN SOLUTION"):
                block = marker.split()[-1]
            elif marker in ("# END PROMPT", "# END SOLUTION"):
                block = ""
            continue
        if current is None or cell.cell_type != "markdown":
            continue
        if block == "PROMPT":
            current.template = text
        elif block == "SOLUTION":
            rubric = RUBRIC_BLOCK.search(text)
            if rubric:
                current.rubric = _load_yaml(rubric.group(1), current.config)
            else:
                current.reference.append(without_label(text))
    return found


def _load_yaml(text: str, config: dict[str, Any]) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RubricError(f"{config.get('name')}: the rubric is not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise RubricError(f"{config.get('name')}: the rubric block must be a YAML mapping")
    return data


def _rubric_items(name: str, entries: Any, maximum: float) -> tuple[RubricItem, ...]:
    if not isinstance(entries, list) or not entries:
        raise RubricError(f"{name}: 'rubric' must be a non-empty list of {{key, points, text}}")
    items = []
    for entry in entries:
        if not isinstance(entry, dict) or not {"key", "points", "text"} <= set(entry):
            raise RubricError(f"{name}: rubric entry {entry!r} needs key, points and text")
        if not isinstance(entry["key"], str):  # YAML reads yes/no/on/off as booleans
            raise RubricError(f"{name}: rubric key {entry['key']!r} must be text: quote it")
        points = float(entry["points"])
        if not -maximum <= points <= maximum:
            raise RubricError(f"{name}: rubric item {entry['key']!r} is outside ±{maximum:g}")
        items.append(RubricItem(str(entry["key"]), points, str(entry["text"]).strip()))
    keys = [item.key for item in items]
    if len(set(keys)) != len(keys):
        raise RubricError(f"{name}: rubric keys must be unique ({', '.join(keys)})")
    return tuple(items)


def _written_item(parts: _Parts) -> WrittenItem:
    name = str(parts.config.get("name", ""))
    question = QUESTION.match(name)
    maximum = float(parts.config.get("points") or 0)
    if not question or maximum <= 0:
        raise RubricError(f"{name!r}: a written item needs a name qN... and points above 0")
    if answer_label(parts.template) is None:
        raise RubricError(f"{name}: its prompt cell must open with a bold label, **Qn answer:**")
    if parts.rubric is None:
        raise RubricError(f"{name}: no ```yaml rubric block in its solution")
    figure = parts.rubric.get("figure")
    return WrittenItem(
        key=name,
        question=question.group(1),
        title=str(parts.rubric.get("title") or name),
        max_points=maximum,
        reference="\n\n".join(parts.reference),
        template=parts.template,
        rubric=_rubric_items(name, parts.rubric.get("rubric"), maximum),
        figure=str(figure) if figure else None,
    )


def written_items(master: Path) -> list[WrittenItem]:
    """The master's written items in notebook order; raises RubricError naming the item."""
    items = [_written_item(parts) for parts in _manual_questions(master)]
    labels = [normalised(item.label) for item in items]
    if len(set(labels)) != len(labels):
        raise RubricError("two written items share an answer label: " + ", ".join(labels))
    return items


# --- a student's answers -----------------------------------------------------------------------


def answer_text(notebook: nbformat.NotebookNode, item: WrittenItem) -> str | None:
    """The student's Markdown answer for the item (label removed), None if the cell is missing.

    The answer cell is the markdown cell that opens with the item's label, wherever it is. A
    student who copied it gets the answered copies joined, in notebook order.
    """
    label = normalised(item.label)
    answers = [
        without_label(text)
        for cell in notebook.get("cells", [])
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown"
        for text in [_cell_text(cell)]
        if normalised(answer_label(text) or "") == label
    ]
    if not answers:
        return None
    answered = [answer for answer in answers if not is_unanswered(answer, item)]
    return "\n\n".join(answered) if answered else answers[0]


def is_unanswered(answer: str | None, item: WrittenItem) -> bool:
    """Missing, empty, or the template text (whitespace, case and emphasis normalised)."""
    if answer is None:
        return True
    text = normalised(without_label(answer))
    return not text or text == normalised(without_label(item.template))
