"""Code that tampers with the interpreter, found with ``ast`` for a person to look at.

The probes run in a kernel of their own (``grader.grade.probe_notebook``), so what a notebook
does to its own interpreter cannot reach them unless it hides inside the graded functions or
class bodies. This review names such code wherever it is: shadowed built-ins (``exec``,
``eval``, ``open``, ...), ``builtins`` and ``sys.modules``, the garbage collector, frames,
``ctypes``, IPython's hooks, signal handlers and tracing, and functions of a library module
replaced by assignment (``json.dumps = ...``, ``torch.save = ...``). It changes no points.
"""

import ast

from grader.common.cell_source import without_magics

SHADOWED = {
    "exec", "eval", "compile", "open", "__import__", "globals", "locals", "vars",
    "getattr", "setattr", "delattr", "__builtins__", "breakpoint",
}  # fmt: skip
MODULES = {"builtins", "gc", "ctypes", "inspect", "importlib", "IPython", "signal"}
OUTPUT_ONLY = ("IPython.display", "IPython.core.display")  # display(), clear_output(): a habit
ATTRIBUTES = {
    "modules": "sys.modules",
    "_getframe": "frame inspection",
    "currentframe": "frame inspection",
    "f_back": "frame inspection",
    "f_globals": "frame inspection",
    "f_locals": "frame inspection",
    "tb_frame": "frame inspection",
    "settrace": "tracing",
    "setprofile": "tracing",
    "addaudithook": "an audit hook",
    "pre_run_cell": "an IPython hook",
    "post_run_cell": "an IPython hook",
    "pre_execute": "an IPython hook",
    "post_execute": "an IPython hook",
    "register_magic_function": "an IPython hook",
    "input_transformers_post": "an IPython hook",
    "input_transformers_cleanup": "an IPython hook",
    "ast_transformers": "an IPython hook",
    "__builtins__": "builtins",
    "__globals__": "a function's globals",
    "__code__": "a function's code",
    "get_ipython": "IPython's shell",
}
CALLS = {"get_ipython": "IPython's shell", "setattr": "setattr on a module"}


def _bound_names(node: ast.AST) -> list[str]:
    """Names a statement binds: targets, ``def``/``class`` names, import aliases."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return [node.id]
    return []


def _imported_modules(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return names


def _imported_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    """Dotted names an import reaches: ``from IPython import display`` -> IPython.display."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [f"{node.module or ''}.{alias.name}" for alias in node.names]


def _reaches_internals(name: str) -> bool:
    output_only = any(name == safe or name.startswith(safe + ".") for safe in OUTPUT_ONLY)
    return name.split(".")[0] in MODULES and not output_only


def _finding(node: ast.AST, tree: ast.Module, modules: set[str]) -> str | None:
    """What tampering one node does, or None."""
    shadowed = [name for name in _bound_names(node) if name in SHADOWED]
    if shadowed:
        return f"shadows the built-in `{shadowed[0]}`"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        used = [name.split(".")[0] for name in _imported_names(node) if _reaches_internals(name)]
        if used:
            return f"imports `{used[0]}`"
    if isinstance(node, ast.Attribute) and node.attr in ATTRIBUTES:
        return f"uses {ATTRIBUTES[node.attr]} (`.{node.attr}`)"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CALLS:
        return f"calls `{node.func.id}()` ({CALLS[node.func.id]})"
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
        for target in targets:
            root = target
            while isinstance(root, ast.Attribute):
                root = root.value
            if target is not root and isinstance(root, ast.Name) and root.id in modules:
                return f"replaces `{ast.unparse(target)}` of a library module"
    return None


def find_tampering(source: str) -> list[str]:
    """``line N: `code` shadows the built-in `exec```-style findings in one cell."""
    try:
        tree = ast.parse(without_magics(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # unparsable code is reported by the questions' own reviews
    modules = _imported_modules(tree)
    findings: dict[tuple[int, int], str] = {}
    for node in ast.walk(tree):
        found = _finding(node, tree, modules)
        if found and hasattr(node, "lineno"):
            text = ast.unparse(node).splitlines()[0]
            text = text if len(text) <= 60 else text[:57] + "..."
            findings[(node.lineno, node.col_offset)] = f"line {node.lineno}: `{text}` {found}"
    return [findings[key] for key in sorted(findings)]
