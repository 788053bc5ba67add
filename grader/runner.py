"""Execute one student notebook in a Jupyter kernel and export its answers as data.

Run as its own process (``python -m grader.runner SANDBOX TIMEOUT`` with the export request as
JSON on stdin, so student code cannot read the grader's probe inputs from a file before the
exporter runs), usually as an unprivileged user. It writes into the sandbox:
``executed.ipynb``, ``answers/`` (see ``grader.exported_answers``) and ``run.json`` (how it went).
Nothing here is trusted by the judge: student code runs in the kernel this process starts.
"""

import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from grader import kernel_export

NOTEBOOK = "homework.ipynb"
EXECUTED = "executed.ipynb"
RUN_LOG = "run.json"
KERNEL_PID = "kernel.pid"
ANSWERS_DIR = "answers"
MAX_REPORTED_ERRORS = 5


def extraction_cell(request: dict) -> nbformat.NotebookNode:
    """A code cell that runs the exporter in its own namespace, after all student cells."""
    source = (
        f"_grader_exporter = {{}}\n"
        f"exec({Path(kernel_export.__file__).read_text()!r}, _grader_exporter)\n"
        f"_grader_exporter['export_answers'](globals(), {ANSWERS_DIR!r}, {request!r})\n"
    )
    return nbformat.v4.new_code_cell(source)


def prepare(notebook: nbformat.NotebookNode, request: dict) -> nbformat.NotebookNode:
    """Drop otter's export cells (no zips or PDFs while grading) and append the exporter."""
    notebook.cells = [
        cell
        for cell in notebook.cells
        if not (cell.cell_type == "code" and "grader.export(" in cell.source)
    ]
    notebook.cells.append(extraction_cell(request))
    return notebook


def cell_errors(notebook: nbformat.NotebookNode) -> list[str]:
    """One line per code cell that raised, e.g. 'cell 12: NameError: name 'x' is not defined'."""
    errors = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}"[:300])
    return errors


def run(sandbox: Path, timeout: int, request: dict) -> dict:
    """Execute the sandbox notebook; returns the run log (also written to run.json)."""
    notebook = prepare(nbformat.read(sandbox / NOTEBOOK, as_version=4), request)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(sandbox)}},
    )
    # The kernel runs in its own session: record its pid so a timeout can kill it too.
    client.on_notebook_start = lambda **_: (sandbox / KERNEL_PID).write_text(
        str(client.km.provisioner.pid)
    )
    started = time.monotonic()
    log: dict = {"status": "ok", "message": ""}
    try:
        client.execute()
    except DeadKernelError as error:
        log = {"status": "error", "message": f"the kernel died (crash or memory): {error}"[:300]}
    except Exception as error:
        log = {"status": "error", "message": f"{type(error).__name__}: {error}"[:300]}
    log["seconds"] = round(time.monotonic() - started, 1)
    log["cell_errors"] = cell_errors(notebook)[:MAX_REPORTED_ERRORS]
    notebook.cells.pop()  # the exporter cell: graders and students need not see it
    nbformat.write(notebook, sandbox / EXECUTED)
    (sandbox / RUN_LOG).write_text(json.dumps(log))
    return log


if __name__ == "__main__":
    os.environ.pop("PYTHONPATH", None)  # the kernel has no business importing the grader
    run(Path(sys.argv[1]), int(sys.argv[2]), json.load(sys.stdin))
