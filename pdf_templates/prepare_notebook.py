"""Prepare the private copy of a notebook that export_pdf.sh converts (never the original).

Usage: python prepare_notebook.py COPY.ipynb TITLE SHOWN_NAME [--split-long-lines]

- Sets metadata.title (the PDF's title) to TITLE unless the notebook has a title.
- --split-long-lines (LaTeX route): cuts code and output lines longer than MAX_LINE characters
  into pieces. LaTeX cannot even measure a line of about 3000 characters ("Dimension too large"),
  e.g. a pasted data blob; the pieces are then wrapped on the page like any long line.
Exits with one clear message if the file is not a notebook.
"""

from __future__ import annotations

import json
import sys
from typing import Any

MAX_LINE = 1000


def split_long_lines(text: str | list[str]) -> str:
    """Text with every line cut into pieces of at most MAX_LINE characters."""
    if isinstance(text, list):
        text = "".join(text)
    lines = []
    for line in text.split("\n"):
        lines += [line[i : i + MAX_LINE] for i in range(0, len(line), MAX_LINE)] or [""]
    return "\n".join(lines)


def split_cell(cell: dict[str, Any]) -> None:
    """Split the long lines of a code cell's source and text outputs, in place."""
    cell["source"] = split_long_lines(cell.get("source", ""))
    for output in cell.get("outputs", []):
        if "text" in output:
            output["text"] = split_long_lines(output["text"])
        data = output.get("data", {})
        if "text/plain" in data:
            data["text/plain"] = split_long_lines(data["text/plain"])
        if "traceback" in output:
            output["traceback"] = [split_long_lines(line) for line in output["traceback"]]


def main(path: str, title: str, shown: str, *options: str) -> None:
    try:
        with open(path, encoding="utf-8") as f:
            notebook = json.load(f)
        notebook.setdefault("metadata", {}).setdefault("title", title)
        cells = [cell for cell in notebook["cells"] if cell.get("cell_type") == "code"]
        if "--split-long-lines" in options:
            for cell in cells:
                split_cell(cell)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        sys.exit(
            f"export_pdf.sh: error: '{shown}' is not a valid notebook file ({e!r});"
            " open it in Jupyter and save it again"
        )
    with open(path, "w", encoding="utf-8") as f:
        json.dump(notebook, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
