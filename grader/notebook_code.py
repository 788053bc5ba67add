"""Reuse the master notebook's reference code in benchmarks and tests, without copying it."""

from pathlib import Path
from typing import Any

import nbformat

MASTER_NOTEBOOK = Path(__file__).resolve().parent.parent / "solutions" / "homework.ipynb"


def tagged_sources(nb_path: Path | str, tag: str) -> list[str]:
    """Sources of the code cells that carry ``tag`` in their metadata, in notebook order."""
    notebook = nbformat.read(str(nb_path), as_version=4)
    return [
        cell.source
        for cell in notebook.cells
        if cell.cell_type == "code" and tag in cell.metadata.get("tags", [])
    ]


def exec_tagged_cells(nb_path: Path | str, tag: str) -> dict[str, Any]:
    """Execute the tagged cells in one fresh namespace and return it."""
    sources = tagged_sources(nb_path, tag)
    if not sources:
        raise LookupError(f"no code cell tagged {tag!r} in {nb_path}")
    namespace: dict[str, Any] = {"__name__": f"notebook_{tag.replace('-', '_')}"}
    for source in sources:
        exec(compile(source, f"{nb_path}[{tag}]", "exec"), namespace)
    return namespace
