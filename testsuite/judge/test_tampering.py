"""The review names code that tampers with the interpreter; honest notebooks have none."""

import nbformat
import pytest

from grader.judge.tampering import find_tampering
from testsuite.helpers import EXAMPLES

CASES = {
    "exec = lambda *a: None": "shadows the built-in `exec`",
    "def open(path):\n    pass": "shadows the built-in `open`",
    "import builtins": "imports `builtins`",
    "import sys\nsys.modules['torch'] = None": "uses sys.modules",
    "import gc\ngc.get_objects()": "imports `gc`",
    "import sys\nframe = sys._getframe(1)": "uses frame inspection",
    "import ctypes": "imports `ctypes`",
    "get_ipython().events.register('pre_run_cell', print)": "calls `get_ipython()`",
    "import json\njson.dumps = str": "replaces `json.dumps` of a library module",
    "import torch\ntorch.save = print": "replaces `torch.save` of a library module",
    "import torch\ntorch.nn.Module.__call__ = print": "replaces `torch.nn.Module.__call__`",
    "def f(g):\n    return g.__globals__": "a function's globals",
    "import sys\nsys.settrace(print)": "tracing",
    "from IPython import get_ipython": "imports `IPython`",
    "from IPython.core import interactiveshell": "imports `IPython`",
    "from importlib import reload": "imports `importlib`",
    "import IPython.display\nIPython.get_ipython().events": "IPython's shell",
}
HABITS = [  # what students write for live output: not tampering
    "from IPython.display import display, clear_output\nclear_output(wait=True)",
    "import IPython.display\nIPython.display.display(1)",
    "from IPython import display\ndisplay.clear_output()",
    "from IPython.core.display import HTML",
]


@pytest.mark.parametrize("source", CASES)
def test_tampering_is_named(source: str) -> None:
    findings = find_tampering(source)
    assert any(CASES[source] in finding for finding in findings), findings


@pytest.mark.parametrize("source", HABITS)
def test_display_helpers_are_not_tampering(source: str) -> None:
    assert find_tampering(source) == []


def test_honest_notebooks_have_no_findings() -> None:
    for name in ("solution.ipynb", "blank.ipynb", "partly_wrong.ipynb"):
        notebook = nbformat.read(EXAMPLES / name, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert find_tampering(cell.source) == [], (name, cell.source[:80])
