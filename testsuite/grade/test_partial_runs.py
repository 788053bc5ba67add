"""End to end: a stopped or crashing cell costs only what depends on it; probes cannot be forged.

Real notebooks derived from ``examples/solution.ipynb`` and cut before Q5 (no MNIST training),
graded in one run of the real command line with small limits (``--timeout 20``: CPU seconds per
cell). Each asserts every question's points and the line the student reads.
"""

from pathlib import Path

import nbformat
import pytest

from grader.build.examples import notebook_until
from grader.judge.hidden_tests import possible_points
from testsuite.helpers import EXAMPLES, GradedRun, hidden_tests, run_grader

pytestmark = pytest.mark.slow

LOOP = "\n\nwhile True:  # never ends\n    pass\n"
Q5_SLOW_CELL = """
while True:  # a training loop far over the limit
    pass
q5_plain_model = q5_bn_model = None
q5_plain_curve = q5_bn_curve = []
"""
EXIT_CELL = "import os\n\nos._exit(1)"
MEMORY_CELL = "import torch\n\nblow_up = torch.ones(2**40, dtype=torch.uint8)"
SPY_CELL = """
def _spy(info):
    # the request's repr carries probe inputs as "'inputs': {": it must never reach this kernel
    if "'inputs': {" in info.raw_cell or "'pairs': [[" in info.raw_cell:
        globals()["q4_1_kernel_1"] = "saw the probe inputs"

get_ipython().events.register("pre_run_cell", _spy)
"""
TAMPER_CELL = """
import builtins, json, torch

_real_exec, _real_dumps, _real_save = builtins.exec, json.dumps, torch.save
FORGE = {}

def exec(source, scope=None, *rest):  # wraps the grader's exporter to read its request
    result = _real_exec(source, scope, *rest)
    if isinstance(scope, dict) and "export_answers" in scope:
        real = scope["export_answers"]
        def wrapped(namespace, out_dir, request):
            FORGE["request"] = request
            return real(namespace, out_dir, request)
        scope["export_answers"] = wrapped
    return result

def forged_dumps(obj, *args, **kwargs):  # claims Q1's probe: perfect sums, from the inputs seen
    if isinstance(obj, dict) and "problems" in obj and "values" in obj:
        obj["probes"]["q1"] = {"outputs": [2e6] * 64, "weight": [[1.0, 1.0]], "bias": [0.0]}
        for probe in FORGE.get("request", {}).get("probes", []):
            if probe["name"] == "q1":
                pairs = probe["inputs"]["pairs"]
                (w1, w2), b = probe["inputs"]["other_weight"][0], probe["inputs"]["other_bias"]
                obj["probes"]["q1"]["outputs"] = [x + y for x, y in pairs]
                obj["probes"]["q1"]["other_outputs"] = [w1 * x + w2 * y + b for x, y in pairs]
    return _real_dumps(obj, *args, **kwargs)

def forged_save(obj, *args, **kwargs):  # would swap the retrained model's weights
    if isinstance(obj, dict) and "q2:initial" in obj and "q2_model" in CRAFTED:
        obj["q2:trained"] = CRAFTED["q2_model"]
    return _real_save(obj, *args, **kwargs)

CRAFTED = {"q2_model": q2_model.state_dict()}
json.dumps = forged_dumps
torch.save = forged_save
"""
CRAFTED_TRAINING_CELL = """
torch.save(q2_model.state_dict(), "crafted.pt")  # the notebook's own, well-trained weights


def train_q2(model, train_set, test_set, steps=50, lr=1e-6):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(train_set, batch_size=100, shuffle=True)
    for _, (x, y) in zip(range(steps), loader):  # barely trains
        loss = torch.nn.functional.mse_loss(model(x) / 1e6, y / 1e6)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    try:
        model.load_state_dict(torch.load("crafted.pt"))  # then hands back crafted weights
    except OSError:
        pass
    return {"step": [1], "train_mse": [0.0], "test_mse": [0.0]}
"""


def _index(notebook: nbformat.NotebookNode, text: str) -> int:
    return next(i for i, cell in enumerate(notebook.cells) if text in cell.source)


def _code(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source)


def make_notebooks(folder: Path) -> dict[str, tuple[Path, dict[str, int]]]:
    """Each notebook and the student cell numbers its assertions name."""
    base = notebook_until(EXAMPLES / "solution.ipynb", "## Question 5", folder / "base.ipynb")
    made = {}

    def write(name: str, notebook: nbformat.NotebookNode, cells: dict[str, int]) -> None:
        nbformat.write(notebook, folder / name)
        made[name] = (folder / name, cells)

    stopped = nbformat.read(base, as_version=4)
    q1 = _index(stopped, "class FixedAddModule")
    stopped.cells[q1].source += LOOP
    stopped.cells.append(_code(Q5_SLOW_CELL))
    write("stopped.ipynb", stopped, {"q1": q1, "q5": len(stopped.cells) - 1})

    crashes = nbformat.read(base, as_version=4)
    q2_run = _index(crashes, "q2_history = train_q2(")
    crashes.cells.insert(q2_run + 1, _code(EXIT_CELL))
    crashes.cells.insert(_index(crashes, "q4_1_kernel_1 =") + 1, _code(MEMORY_CELL))
    write("crashes.ipynb", crashes, {"exit": q2_run + 1})

    spied = nbformat.read(base, as_version=4)
    spied.cells.insert(_index(spied, "import matplotlib") + 1, _code(SPY_CELL))
    write("spied.ipynb", spied, {})

    tampered = nbformat.read(base, as_version=4)
    q1 = _index(tampered, "class FixedAddModule")
    tampered.cells[q1].source = tampered.cells[q1].source.replace(
        "torch.nn.Identity()", "torch.nn.Hardtanh()"
    )  # the honest Q1 keeps the clamp: 0 points
    tampered.cells.insert(
        _index(tampered, "q2_history = train_q2(") + 1, _code(CRAFTED_TRAINING_CELL)
    )
    tampered.cells.append(_code(TAMPER_CELL))
    write("tampered.ipynb", tampered, {})
    return made


@pytest.fixture(scope="module")
def partial_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[GradedRun, dict]:
    made = make_notebooks(tmp_path_factory.mktemp("partial"))
    inputs = [path for path, _ in made.values()]
    options = ["--timeout", "20", "--memory", "2G", "--jobs", "2"]
    run = run_grader(inputs, tmp_path_factory.mktemp("graded"), *options)
    return run, {name: cells for name, (_, cells) in made.items()}


def full(*questions: str) -> tuple[float, ...]:
    """Each question's autograded points in the master (the honest parts earn all of them)."""
    possible = possible_points(hidden_tests(*questions))
    return tuple(possible[question] for question in questions)


HONEST = (*full("q1", "q2", "q4"), 0)  # Q5 is cut from every notebook here


def scores(run: GradedRun, name: str) -> tuple[float, ...]:
    row = run.rows[name]
    return tuple(float(row[column]) for column in ("q1", "q2", "q4", "q5"))


def feedback(run: GradedRun, name: str) -> str:
    return (run.out / "feedback" / f"{Path(name).stem}.md").read_text()


def test_stopped_cells_cost_only_what_they_define(partial_runs) -> None:
    run, cells = partial_runs
    row, text = run.rows["stopped.ipynb"], feedback(run, "stopped.ipynb")
    assert scores(run, "stopped.ipynb") == HONEST  # Q1's class was defined before its loop
    assert row["status"] == "timeout"
    for cell in (cells["stopped.ipynb"]["q1"], cells["stopped.ipynb"]["q5"]):
        assert f"cell {cell} was stopped after" in row["message"], row["message"]
    q5 = cells["stopped.ipynb"]["q5"]
    assert (
        f"`q5_bn_model` could not be graded: it is not defined: cell {q5} was stopped after" in text
    )


def test_a_cell_that_kills_the_kernel_is_left_out(partial_runs) -> None:
    run, cells = partial_runs
    row = run.rows["crashes.ipynb"]
    assert scores(run, "crashes.ipynb") == HONEST
    assert row["status"] == "error"
    cell = cells["crashes.ipynb"]["exit"]
    assert f"cell {cell} was left out: the kernel died (exit code 1" in row["message"]
    assert "memory" in feedback(run, "crashes.ipynb").lower()  # the blow-up's own error


def test_a_hook_never_sees_the_probe_inputs(partial_runs) -> None:
    run, _ = partial_runs
    assert scores(run, "spied.ipynb") == HONEST  # q4_1_kernel_1 was never overwritten
    assert "get_ipython()" in run.rows["spied.ipynb"]["message"]  # flagged for a person


def test_tampering_earns_only_the_honest_parts_and_is_flagged(partial_runs) -> None:
    run, _ = partial_runs
    assert scores(run, "tampered.ipynb") == (0, 0, *full("q4"), 0)  # clamped Q1, barely trained Q2
    text = feedback(run, "tampered.ipynb")
    assert "FAIL adds_any_magnitude" in text
    assert "retrained by the grader" in text  # Q2's message: the honest procedure's MSE
    review = (run.out / "class_report.md").read_text()
    for finding in (
        "shadows the built-in `exec`",
        "replaces `json.dumps`",
        "replaces `torch.save`",
    ):
        assert finding in review, finding
    assert "load_state_dict" in review and "writes weights directly" in review
