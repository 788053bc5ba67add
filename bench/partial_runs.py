"""What interrupt-note-continue, restarts and the probes' own kernels cost per submission.

Each case runs the real runner in the real sandbox (``GradingSetup`` as ``grade`` builds it),
in one process and one after the other, so the figures share the machine's load:
- ``small``: a two-cell notebook (x = 1; y = 2): starting the sandbox, the kernel, exporting;
- ``stopped``: the same with an endless loop between them, under a per-cell limit of LIMIT CPU
  seconds: its cost minus ``small`` is the limit plus what stopping and noting costs;
- ``restart``: the same with ``os._exit(1)`` instead of the loop: one restart and re-run;
- ``probe q1`` / ``probe q2``: one question's probes in their own sandbox on the definitions of
  ``examples/solution.ipynb`` (what grading now adds per submission; q2 includes the retraining).

Usage: .venv/bin/python bench/partial_runs.py [ROUNDS] [LIMIT]   (defaults: 2 rounds, 5 s)
"""

import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from grader.course import Course  # noqa: E402
from grader.grade import grading  # noqa: E402
from grader.judge import protocol  # noqa: E402

CASES = {
    "small": ["x = 1", "y = 2"],
    "stopped": ["x = 1", "while True:\n    pass", "y = 2"],
    "restart": ["x = 1", "import os\nos._exit(1)", "y = 2"],
}


def timed(action) -> tuple[float, object]:
    """(wall seconds, result). The sandbox's processes are not this one's to reap, so their CPU
    time does not show in this process's RUSAGE_CHILDREN: wall clock, at the load printed."""
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def run_case(setup: grading.GradingSetup, cells: list[str], tmp: Path) -> grading.NotebookRun:
    folder = tmp / f"case-{os.urandom(4).hex()}"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    grading._fill_sandbox(folder, notebook, setup, public_tests=False)
    request = {"values": ["x", "y"], "models": [], "files": [], "layer_args": {}, "probes": []}
    return grading._execute(folder, setup, request, setup.settings.budgets())


def run_probe(setup: grading.GradingSetup, question: str, tmp: Path):
    notebook = nbformat.read(ROOT / "examples" / "solution.ipynb", as_version=4)
    request = protocol.export_request(setup.questions)
    names = {probe.name for probe in setup.questions[question].PROBES}
    probes = [probe for probe in request["probes"] if probe["name"] in names]
    return grading._run_probe(tmp, question, notebook, setup, request, probes)


def main(rounds: int, limit: int) -> None:
    print(f"{os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    course = Course.load(ROOT)
    with tempfile.TemporaryDirectory(prefix="bench-out-") as out:
        setup = grading.GradingSetup(course=course, out_dir=Path(out))
        setup.settings = replace(setup.settings, cell_seconds=limit)
        setup.prepare()
        times: dict[str, list[float]] = {}
        for _ in range(rounds):
            with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
                os.chmod(tmp, 0o711)
                for name, cells in CASES.items():
                    wall, run = timed(lambda c=cells: run_case(setup, c, Path(tmp)))
                    assert run.exported, (name, run)
                    times.setdefault(name, []).append(wall)
                    if name != "small":
                        print(f"  {name}: {json.dumps(run.stopped)}")
                for question in ("q1", "q2"):
                    wall, data = timed(lambda q=question: run_probe(setup, q, Path(tmp)))
                    assert data.probes, (question, data.problems)
                    times.setdefault(f"probe {question}", []).append(wall)
    small = sorted(times["small"])[len(times["small"]) // 2]
    for name, values in times.items():
        median = sorted(values)[len(values) // 2]
        listed = ", ".join(f"{wall:.1f}" for wall in values)
        extra = f"  (+{median - small:.1f} s over small)" if name != "small" else ""
        print(f"{name:>9}: median {median:.1f} s{extra}   [{listed} s]")
    print(f"per-cell limit {limit} s CPU (wall cap {setup.settings.wall_factor:g}x)")
    print(f"load after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    args = [int(arg) for arg in sys.argv[1:3]]
    main(*(args + [2, 5][len(args) :]))
