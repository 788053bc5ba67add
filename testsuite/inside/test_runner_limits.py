"""The runner stops a cell past its limit and goes on; a cell that kills the kernel is left out.

The runner is run here without the sandbox, as its own process, on a small notebook: the
budgets are tiny so the whole run takes seconds of CPU time (three kernels are started).
"""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader.inside import runner
from testsuite.helpers import ROOT

CELLS = [
    "x = 1",
    "while True:\n    pass",  # stopped (CPU time, or the wall cap on a loaded machine)
    "import os\nos._exit(3)",  # kills the kernel: left out, the notebook is run again
    "y = 2",
    "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n"
    "    time.sleep(0.01)",  # ignores the interrupt: killed, left out, run again
    "z = 3",
]
BUDGETS = {"cell_seconds": 1, "notebook_seconds": 60, "export_seconds": 30}
BUDGETS |= {"restarts": 2, "wall_factor": 2}
REQUEST = {"values": ["x", "y", "z"], "models": [], "files": [], "layer_args": {}, "probes": []}


def run_runner(folder: Path, cells: list[str], budgets: dict) -> dict:
    folder.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(notebook, folder / runner.NOTEBOOK)
    payload = json.dumps({"budgets": budgets, "request": REQUEST})
    limits = [str(6 * 2**30), "0", str(10**9), str(10**6)]
    subprocess.run(
        [sys.executable, "-m", "grader.inside.runner", str(folder), "600", *limits],
        input=payload.encode(), cwd=ROOT, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return json.loads((folder / runner.RUN_LOG).read_text())


@pytest.mark.slow
def test_stopped_and_killing_cells_cost_only_themselves(tmp_path: Path) -> None:
    log = run_runner(tmp_path / "run", CELLS, BUDGETS)
    stops = {stop["cell"]: stop for stop in log["stopped"]}
    assert sorted(stops) == [1, 2, 4] and log["restarts"] == 2, log
    assert stops[1]["kind"] in {"cpu", "wall"}
    assert stops[1]["reason"] in {
        "stopped after 1 s of CPU time, the per-cell limit",
        *(f"stopped after 2 s of wall-clock time, the cap for code that waits (it had used "
          f"{tenths / 10:.1f} s of CPU time)" for tenths in range(0, 11)),
    }  # fmt: skip
    assert stops[2]["kind"] == "kernel" and "exit code 3" in stops[2]["reason"]
    assert stops[4]["kind"] == "wall" and "did not stop when interrupted" in stops[4]["reason"]
    assert log["status"] == "error" and log["exported"] is True  # a kernel died: error
    export = json.loads((tmp_path / "run" / "answers" / "export.json").read_text())
    assert export["values"] == {"x": 1, "y": 2, "z": 3}
    executed = nbformat.read(tmp_path / "run" / runner.EXECUTED, as_version=4)
    notes = [o.get("text", "") for o in executed.cells[2].outputs]
    assert any("not run again: the kernel died (exit code 3" in note for note in notes), notes


@pytest.mark.slow
def test_the_notebook_budget_ends_the_student_cells_not_the_exporter(tmp_path: Path) -> None:
    cells = ["x = 1", "while True:\n    pass", "y = 2", "z = 3"]
    budgets = BUDGETS | {"cell_seconds": 30, "notebook_seconds": 1}
    log = run_runner(tmp_path / "run", cells, budgets)
    stops = {stop["cell"]: stop["kind"] for stop in log["stopped"]}
    assert stops[1] in {"notebook", "wall"} and stops[2] == stops[3] == "not_run", log
    export = json.loads((tmp_path / "run" / "answers" / "export.json").read_text())
    assert export["values"] == {"x": 1}


@pytest.mark.slow
def test_progress_bar_widgets_keep_their_final_state(tmp_path: Path) -> None:
    """tqdm's notebook bar is a widget: its last text lives in the notebook's widget state,
    which the PDF export prints in place of the bar."""
    cells = ["from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='steps'):\n    pass"]
    run_runner(tmp_path / "run", cells, BUDGETS)
    executed = nbformat.read(tmp_path / "run" / runner.EXECUTED, as_version=4)
    assert "widget-view+json" in json.dumps(executed.cells[0].outputs)
    states = json.dumps(executed.metadata["widgets"])
    assert "3/3" in states and "0/3" not in states


FLOODS = [
    # nbclient writes an update into every output sharing its display id: 200 x 20 MB
    "from IPython.display import display, update_display\n"
    "for _ in range(200):\n    display('x', display_id='flood')\n"
    "for _ in range(3):\n"
    "    update_display({'text/plain': 'y' * 20_000_000}, display_id='flood', raw=True)",
    # 100 MB of widget state, which the executed notebook would keep
    "import ipywidgets\nkept = [ipywidgets.Textarea(value='z' * 1_000_000) for _ in range(100)]",
    "x = 1",
]


@pytest.mark.slow
def test_display_updates_and_widget_state_stay_inside_the_output_cap(tmp_path: Path) -> None:
    log = run_runner(tmp_path / "run", FLOODS, BUDGETS)
    assert log["status"] == "ok" and not log["cell_errors"], log
    assert (tmp_path / "run" / runner.EXECUTED).stat().st_size < 2 * 10**6  # the cap: 1 MB
    export = json.loads((tmp_path / "run" / "answers" / "export.json").read_text())
    assert export["values"]["x"] == 1


@pytest.mark.slow
def test_a_cell_the_kernel_never_answers_costs_only_itself(tmp_path: Path) -> None:
    """ipykernel fails on code nested too deeply to compile and sends no reply: the cell counts
    as one that raised, and the same kernel runs the next (before: the wall cap, then a
    restart; 45 min with the default limits)."""
    cells = ["x = " + "(" * 50 + "1" + "+1" * 10_000 + ")" * 50, "y = 2"]
    log = run_runner(tmp_path / "run", cells, BUDGETS | {"cell_seconds": 60})
    assert log["status"] == "ok" and log["restarts"] == 0 and not log["stopped"], log
    assert log["cell_errors"] == [f"cell 0: NoReply: {runner.NO_REPLY}"[:300]]
    export = json.loads((tmp_path / "run" / "answers" / "export.json").read_text())
    assert export["values"]["y"] == 2
