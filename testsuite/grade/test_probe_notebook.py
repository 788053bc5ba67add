"""The probes' notebook: only the definitions of the set-up and the question's section."""

import nbformat

from grader.grade.probe_notebook import binds, definitions, probe_notebook, section_cells
from testsuite.helpers import EXAMPLES

HOSTILE_TOP_LEVEL = """
import json
import torch
from torch import nn

get_ipython().events.register("pre_run_cell", lambda info: print(info.raw_cell))
json.dumps = lambda *args, **kwargs: "{}"
exec = lambda *args, **kwargs: None
CRAFTED = q2_model.state_dict()
model = Net()
torch.manual_seed(0)
for step in range(10**9):
    pass
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
criterion = nn.MSELoss()
WIDTH: int = 64
sneaky = torch.__dict__
shell = __import__("os").system("true")

def train_q2(model, train_set, test_set):
    return {}

class Net(nn.Module):
    pass
"""


def test_only_definitions_and_simple_constants_are_kept() -> None:
    kept = definitions(HOSTILE_TOP_LEVEL)
    assert kept == [
        "import json",
        "import torch",
        "from torch import nn",
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')",
        "criterion = nn.MSELoss()",
        "WIDTH: int = 64",
        "def train_q2(model, train_set, test_set):\n    return {}",
        "class Net(nn.Module):\n    pass",
    ]


def test_unparsable_cells_and_magics() -> None:
    assert definitions("def broken(:\n") == []
    assert definitions("%matplotlib inline\nimport torch\n!pip install x") == ["import torch"]
    assert definitions("import otter\nchecker = otter.Notebook('homework.ipynb')") == []


def test_sections_of_the_solution() -> None:
    notebook = nbformat.read(EXAMPLES / "solution.ipynb", as_version=4)
    q1 = section_cells(notebook, "q1")
    q2 = section_cells(notebook, "q2")
    assert "class FixedAddModule" in notebook.cells[q1[-1]].source
    assert q1[:2] == q2[:2]  # the set-up comes first in both
    assert not set(q1[2:]) & set(q2[2:])
    sources = "\n".join(cell.source for cell in probe_notebook(notebook, "q2").cells)
    assert "def build_q2_model" in sources and "def train_q2" in sources
    assert "class FixedAddModule" not in sources and "q2_history" not in sources
    everything = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    assert section_cells(notebook, "q9") == everything  # no check cell: every code cell


def test_binds_names() -> None:
    assert binds("q5_bn_model = build()", "q5_bn_model")
    assert binds("a, (b, c) = 1, (2, 3)", "c")
    assert binds("def q5_train(): pass", "q5_train")
    assert not binds("print(q5_bn_model)", "q5_bn_model")


def test_only_what_the_definitions_name_is_imported() -> None:
    notebook = nbformat.read(EXAMPLES / "solution.ipynb", as_version=4)
    q1 = [cell.source.splitlines()[0] for cell in probe_notebook(notebook, "q1").cells]
    assert q1 == [
        "import torch",
        "class AddModule(torch.nn.Module):",
        "class FixedAddModule(torch.nn.Module):",
    ]  # no seaborn, matplotlib or example tensors: each costs the probe kernel's start-up
