"""The notebook a probe runs on: only the definitions its question needs, read with ``ast``.

A probe (Q1's secret inputs, Q2's retraining) must not run where the student's top-level code
ran: that code could have registered an IPython hook that reads the probe's inputs, replaced
``exec`` or ``json.dumps`` to rewrite its results, or left files and processes behind. So each
question's probes run in a sandbox of their own (a fresh folder, kernel, /tmp and PID namespace:
nothing of the student's run survives into it), on a notebook built here, in the trusted
process, without running anything: the set-up's and the question's section's imports, ``def``s,
``class``es and simple constants. Tampering then has to live inside the very functions being
graded, where the review (``grader.judge.tampering``) shows it to a person.

Sections: the set-up is every code cell before the first level-2 heading (``## ...``); the
section of question ``qN`` is every code cell after the previous ``.check("...")`` cell up to
its own ``.check("qN")`` cell (every code cell after the set-up where that cell is missing).
"""

import ast
import re

import nbformat

from grader.common.cell_source import without_magics

CHECK_CALL = re.compile(r"""\.check\(\s*["']([\w-]+)["']\s*\)""")
SECTION_HEADING = re.compile(r"^##\s", re.MULTILINE)
# Top-level code that never runs in a probe's kernel, even as part of a kept statement.
UNSAFE_NAMES = {
    "builtins", "__builtins__", "sys", "gc", "ctypes", "inspect", "importlib", "IPython",
    "get_ipython", "otter", "exec", "eval", "compile", "open", "globals", "locals", "vars",
    "getattr", "setattr", "delattr", "__import__", "subprocess", "os", "signal",
}  # fmt: skip
PURE_CALLS = {"int", "float", "str", "bool", "tuple", "list", "dict", "set", "frozenset", "range"}


def _is_heading(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "markdown" and bool(SECTION_HEADING.search(cell.source))


def section_cells(notebook: nbformat.NotebookNode, question: str) -> list[int]:
    """Indices of the code cells of the set-up and of ``question``'s section, in order."""
    cells = notebook.cells
    headings = [
        i for i, c in enumerate(cells) if _is_heading(c)
    ]  # fmt: skip
    first_heading = headings[0] if headings else len(cells)
    setup = [i for i in range(first_heading) if cells[i].cell_type == "code"]
    start = first_heading
    chosen = [i for i in range(start, len(cells)) if cells[i].cell_type == "code"]  # no check cell
    for index in range(first_heading, len(cells)):
        cell = cells[index]
        if cell.cell_type != "code":
            continue
        match = CHECK_CALL.search(cell.source)
        if match and match.group(1) == question:
            chosen = [i for i in range(start, index) if cells[i].cell_type == "code"]
            break
        if match:
            start = index + 1
    return setup + chosen


def _imported_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return names


def _root(node: ast.AST) -> str | None:
    """The name an attribute chain starts from: ``torch`` for ``torch.nn.MSELoss``."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_simple_constant(node: ast.Assign | ast.AnnAssign, modules: set[str]) -> bool:
    """``NAME = value`` whose calls only build library objects (``torch.device(...)``,
    ``nn.MSELoss()``, ``int(...)``), never the student's own functions or classes."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = [t for target in targets for t in ast.walk(target) if not isinstance(t, ast.Tuple)]
    if not names or not all(isinstance(t, (ast.Name, ast.Store)) for t in names):
        return False
    if node.value is None:
        return False
    for part in ast.walk(node.value):
        if isinstance(part, ast.Attribute) and part.attr.startswith("__"):
            return False
        if isinstance(part, (ast.Lambda, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
            return False
        if isinstance(part, ast.Call):
            root = _root(part.func)
            bare = isinstance(part.func, ast.Name)
            allowed = PURE_CALLS if bare else modules
            if root not in allowed:
                return False
    return True


def _kept(node: ast.stmt, modules: set[str]) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        module = getattr(node, "module", None) or ""
        return not any(
            name.split(".")[0] in {"otter"} for name in [module, *(a.name for a in node.names)]
        )
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        return not (used & UNSAFE_NAMES) and _is_simple_constant(node, modules)
    return False


def definitions(source: str, modules: set[str] | None = None) -> list[str]:
    """The kept top-level statements of one cell, as source (none if it does not parse)."""
    try:
        tree = ast.parse(without_magics(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    modules = (modules or set()) | _imported_names(tree)
    return [ast.unparse(node) for node in tree.body if _kept(node, modules)]


def probe_notebook(notebook: nbformat.NotebookNode, question: str) -> nbformat.NotebookNode:
    """A notebook of one cell per kept definition of ``question``'s set-up and section."""
    modules: set[str] = set()
    sources = []
    for index in section_cells(notebook, question):
        source = notebook.cells[index].source
        try:
            modules |= _imported_names(ast.parse(without_magics(source)))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        sources += definitions(source, modules)
    cells = [nbformat.v4.new_code_cell(source) for source in _needed_imports(sources)]
    return nbformat.v4.new_notebook(cells=cells)


def _needed_imports(sources: list[str]) -> list[str]:
    """Every ``def`` and ``class``, and only the constants and imports they name, directly or
    through a kept constant (each import costs the probe's kernel start-up time)."""
    trees = [ast.parse(source).body[0] for source in sources]
    names = [_names(tree) for tree in trees]
    definition = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    kept = {i for i, tree in enumerate(trees) if isinstance(tree, definition)}
    while True:
        used = set().union(*(names[i] for i in kept))
        more = {
            i
            for i, tree in enumerate(trees)
            if i not in kept and not isinstance(tree, definition) and _bound(tree) & used
        }
        if not more:
            return [source for i, source in enumerate(sources) if i in kept]
        kept |= more


def _names(node: ast.AST) -> set[str]:
    return {part.id for part in ast.walk(node) if isinstance(part, ast.Name)}


def _bound(node: ast.stmt) -> set[str]:
    """The names an import or a constant binds."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}


def binds(source: str, name: str) -> bool:
    """Whether a cell's code assigns, defines or imports ``name`` anywhere (read with ``ast``)."""
    try:
        tree = ast.parse(without_magics(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return name in source
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
        defined = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        if defined and node.name == name:
            return True
        if isinstance(node, ast.alias) and (node.asname or node.name) == name:
            return True
    return False
