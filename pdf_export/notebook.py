"""The saved notebook as JSON: checked to be a notebook, and how its cells were run.

Only the standard library: this runs before nbconvert is imported.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdf_export.messages import ExportError

Notebook = dict[str, Any]


class MalformedNotebook(Exception):
    """The notebook's JSON lacks a part the transforms need (a preprocessor raises it)."""


def text_of(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Saved:
    """The notebook as saved when the export began: the PDF and the submission both come from
    this one snapshot."""

    data: bytes
    name: str  # NAME of NAME.ipynb
    shown: str  # the path the student gave, for messages
    folder: Path  # where the images it links are found

    def text(self) -> str:
        return self.data.decode("utf-8")

    def first_line(self, number: int) -> str:
        """The first non-blank line of cell ``number`` (from 1)."""
        source = text_of(json.loads(self.data)["cells"][number - 1].get("source", ""))
        return next((line for line in source.splitlines() if line.strip()), "")


def parse(data: bytes, shown: str) -> Notebook:
    """The notebook in ``data``, or an ExportError naming ``shown`` if it is not one."""
    try:
        notebook = json.loads(data.decode("utf-8"))
        if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
            raise ValueError("no list of cells")
        if not all(isinstance(cell, dict) for cell in notebook["cells"]):
            raise ValueError("a cell is not an object")
        return notebook
    except (ValueError, UnicodeDecodeError) as e:
        raise ExportError(
            f"'{shown}' is not a valid notebook file ({e}); open it in Jupyter and save it again"
        ) from e


def run_warnings(notebook: Notebook) -> list[str]:
    """What a grader should know about how the notebook was run (empty: all in order)."""
    code = [
        (i + 1, cell.get("execution_count"))
        for i, cell in enumerate(notebook["cells"])
        if cell.get("cell_type") == "code" and text_of(cell.get("source", "")).strip()
    ]
    ran = [(cell, count) for cell, count in code if count is not None]
    if code and not ran:
        return [
            "the notebook was never run: the PDF has no outputs or figures. Run all cells"
            " (Kernel > Restart & Run All), save, and export again"
        ]
    found = []
    not_run = [cell for cell, count in code if count is None]
    if not_run:
        found.append(f"{len(not_run)} code cell(s) never ran: cell(s) {short_list(not_run)}")
    late = [
        f"cell {cell} (In [{count}]) after cell {prev} (In [{prev_count}])"
        for (prev, prev_count), (cell, count) in itertools.pairwise(ran)
        if count <= prev_count
    ]
    if late:
        found.append(
            "cells were run out of order: "
            + "; ".join(late[:5])
            + (f" and {len(late) - 5} more" if len(late) > 5 else "")
            + ". Restart the kernel, run all cells, save, and export again"
        )
    return found


def short_list(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(map(str, numbers[:limit]))
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")
