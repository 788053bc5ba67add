"""The markdown cells that LaTeX cannot typeset (after xelatex failed on the whole notebook).

Each markdown cell is typeset from its own file, so that a runaway argument ($\\frac{1}{$) ends,
with an error, at the end of its cell, and markers in the log tell which cell each error is in.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import nbformat
from nbconvert import LatexExporter

from pdf_export.preprocessors import NumberMarkdownCells, transforms

TEMPLATES = Path(__file__).resolve().parent / "templates"
CELL_FILE = re.compile(r"%HWCELL-BEGIN (\d+)\n(.*?)%HWCELL-END \1", re.S)


def latex_with_cells_apart(
    notebook: nbformat.NotebookNode, name: str, verbatim: Iterable[int], work: Path
) -> None:
    """Write work/notebook.tex in which every markdown cell is \\input from its own file."""
    steps = [*transforms(name, latex=True, verbatim=verbatim), NumberMarkdownCells()]
    defaults = LatexExporter.class_traits()["default_preprocessors"].default()
    exporter = LatexExporter(
        template_name="homework_latex",
        extra_template_basedirs=[str(TEMPLATES)],
        default_preprocessors=[*steps, *defaults],
    )
    body, resources = exporter.from_notebook_node(notebook)
    for filename, data in resources.get("outputs", {}).items():
        (work / filename).parent.mkdir(parents=True, exist_ok=True)
        (work / filename).write_bytes(data)

    def apart(match: re.Match[str]) -> str:
        number = match.group(1)
        (work / f"hwcell{number}.tex").write_text(match.group(2), encoding="utf-8")
        return f"\\typeout{{HWCELL {number}}}\\input{{hwcell{number}.tex}}\\typeout{{HWCELL -}}"

    (work / "notebook.tex").write_text(CELL_FILE.sub(apart, body), encoding="utf-8")


def cells_with_latex_errors(
    notebook: nbformat.NotebookNode, name: str, verbatim: Iterable[int]
) -> dict[int, str]:
    """{cell number: first LaTeX error} of the markdown cells that LaTeX cannot typeset, with
    the cells ``verbatim`` already shown as plain text."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        latex_with_cells_apart(notebook, name, verbatim, work)
        subprocess.run(
            ["xelatex", "-interaction=nonstopmode", "-no-pdf", "notebook.tex"],
            cwd=work,
            capture_output=True,
            timeout=300,
        )
        log = (work / "notebook.log").read_text(encoding="utf-8", errors="replace")
    found: dict[int, str] = {}
    cell = None
    for line in log.splitlines():
        if line.startswith("HWCELL "):
            cell = None if line == "HWCELL -" else int(line.split()[1])
        elif line.startswith("! ") and cell is not None:
            found.setdefault(cell, line[2:].strip())
    return found
