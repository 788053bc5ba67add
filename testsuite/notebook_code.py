"""Reuse the master notebook's reference code in benchmarks and tests, without copying it."""

import ast
import inspect
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


def class_definition(nb_path: Path | str, name: str) -> ast.ClassDef:
    """The AST of the class ``name`` defined in a code cell of the notebook."""
    notebook = nbformat.read(str(nb_path), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type != "code" or f"class {name}" not in cell.source:
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                return node
    raise LookupError(f"no class {name} in {nb_path}")


def same_class(nb_path: Path | str, trusted: type) -> bool:
    """Whether the notebook defines ``trusted``'s class with identical code and docstrings."""
    given = class_definition(nb_path, trusted.__name__)
    return ast.dump(given) == ast.dump(ast.parse(inspect.getsource(trusted)).body[0])
