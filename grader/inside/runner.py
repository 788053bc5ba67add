"""Execute one student notebook in a Jupyter kernel and export its answers as data.

Run as its own process inside the bubblewrap sandbox (``python -m grader.inside.runner SANDBOX
TIMEOUT
MEMORY PROCESSES FILE_BYTES OUTPUT_BYTES`` with the export request as JSON on stdin, so student
code cannot read the grader's probe inputs from a file before the exporter runs). It first limits
itself and so the kernel it starts, then writes into the sandbox: ``executed.ipynb`` (outputs
capped), ``answers/`` (see ``grader.judge.exported_answers``) and ``run.json`` (how it went),
and sends them as a tar stream on its stdout (``ship``): the sandbox's folder is a memory-backed
file system that ends with it, and the trusted side unpacks the stream within caps
(``grader.grade.channel``). Nothing here is trusted by the judge: student code runs in the
kernel this process starts.
"""

import errno
import io
import json
import os
import resource
import stat
import sys
import tarfile
import time
from pathlib import Path
from typing import BinaryIO

# nbformat imports jsonschema, which imports the optional rfc3987-syntax IRI checker when it is
# installed (jupyter's dependencies install it); that module builds a grammar at import, 1.2 s
# of every submission's start-up (bench/runner_startup.py), for a format no notebook uses. A None
# entry makes that import fail, which jsonschema allows for.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellTimeoutError, DeadKernelError  # noqa: E402

from grader.inside import kernel_export  # noqa: E402

NOTEBOOK = "homework.ipynb"
EXECUTED = "executed.ipynb"
RUN_LOG = "run.json"
ANSWERS_DIR = "answers"
MAX_REPORTED_ERRORS = 5
MEMORY_ERRORS = ("MemoryError", "can't allocate memory", "Cannot allocate memory")


def apply_limits(memory: int, processes: int, file_bytes: int) -> None:
    """Limit this process and everything it starts: memory, processes, file size, no core dumps.

    RLIMIT_DATA counts heap and anonymous mappings (what tensors use) but not mapped libraries,
    so torch still imports under a small limit. RLIMIT_NPROC counts the processes of this user
    namespace, i.e. of this sandbox only.
    """
    limits = [(resource.RLIMIT_DATA, memory), (resource.RLIMIT_FSIZE, file_bytes)]
    limits.append((resource.RLIMIT_CORE, 0))
    if processes > 0:  # 0: not sandboxed, where the count would include all the user's processes
        limits.append((resource.RLIMIT_NPROC, processes))
    for limit, value in limits:
        resource.setrlimit(limit, (value, value))


class CappedClient(NotebookClient):
    """A client that keeps at most ``output_budget`` bytes of cell output (errors always kept)."""

    output_budget = 5_000_000

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        if msg.get("msg_type") == "error":
            content["traceback"] = content.get("traceback", [])[-20:]
            content["evalue"] = str(content.get("evalue", ""))[:2000]
            return super().output(outs, msg, display_id, cell_index)
        size = len(json.dumps(content, default=str))
        if size > self.output_budget and msg.get("msg_type") == "stream" and self.output_budget > 0:
            content["text"] = str(content.get("text", ""))[: self.output_budget]  # keep the start
            super().output(outs, msg, display_id, cell_index)
            self.output_budget = 0
        if size > self.output_budget:
            if self.output_budget >= 0:
                outs.append(
                    nbformat.v4.new_output(
                        "stream", name="stderr", text="[grader: further output not kept]\n"
                    )
                )
                self.output_budget = -1
            return None
        self.output_budget -= size
        return super().output(outs, msg, display_id, cell_index)


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


def memory_note(memory: int) -> str:
    return f"the notebook exceeded the memory limit ({memory / 2**30:g} GiB)"


DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
RESERVE = ".grader-reserve"  # space the runner keeps for its outputs (a notebook may delete it)
RESERVE_BYTES = 16 * 2**20


def reserve_space(folder: Path) -> None:
    with (folder / RESERVE).open("wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, RESERVE_BYTES)


def release_space(folder: Path) -> None:
    (folder / RESERVE).unlink(missing_ok=True)


def run(sandbox: Path, timeout: int, request: dict, memory: int, output_bytes: int) -> dict:
    """Execute the sandbox notebook; returns the run log (also written to run.json)."""
    notebook = prepare(nbformat.read(sandbox / NOTEBOOK, as_version=4), request)
    client = CappedClient(
        notebook,
        timeout=timeout,
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(sandbox)}},
    )
    client.output_budget = output_bytes
    started = time.monotonic()
    log: dict = {"status": "ok", "message": ""}
    try:
        client.execute()
    except CellTimeoutError:
        log = {"status": "timeout", "message": f"a cell ran longer than {timeout} s"}
    except DeadKernelError as error:
        reason = f"the kernel died (a crash, or {memory_note(memory)}): {error}"
        log = {"status": "error", "message": reason[:300]}
    except Exception as error:
        log = {"status": "error", "message": f"{type(error).__name__}: {error}"[:300]}
    log["seconds"] = round(time.monotonic() - started, 1)
    log["cell_errors"] = cell_errors(notebook)[:MAX_REPORTED_ERRORS]
    memory_errors = [e for e in cell_errors(notebook) if any(m in e for m in MEMORY_ERRORS)]
    if memory_errors and log["status"] == "ok":
        log = {**log, "status": "error", "message": f"{memory_note(memory)}: {memory_errors[0]}"}
    notebook.cells.pop()  # the exporter cell: graders and students need not see it
    release_space(sandbox)  # room for the outputs even when the notebook filled its disk
    nbformat.write(notebook, sandbox / EXECUTED)
    (sandbox / RUN_LOG).write_text(json.dumps(log))
    return log


def private_channel() -> BinaryIO:
    """This process's stdout, kept for ``ship``; fd 1 becomes stderr for all it starts (the
    kernel included), so that nothing but the runner writes to the channel by accident."""
    channel = os.dup(1)  # not inherited by the kernel (descriptors are non-inheritable)
    os.dup2(2, 1)
    return os.fdopen(channel, "wb")


def ship(folder: Path, channel: BinaryIO, log: dict | None = None) -> None:
    """Send run.json (``log`` when it could not be written), executed.ipynb and the regular
    files under answers/ as one tar stream; links and special files are left out."""
    with tarfile.open(fileobj=channel, mode="w|") as archive:
        if log is not None:
            data = json.dumps(log).encode()
            info = tarfile.TarInfo(RUN_LOG)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        names = [] if log is not None else [RUN_LOG]
        names.append(EXECUTED)
        for root, _, files in os.walk(folder / ANSWERS_DIR):
            names += [str(Path(root, name).relative_to(folder)) for name in sorted(files)]
        for name in names:
            path = folder / name
            try:
                if stat.S_ISREG(os.lstat(path).st_mode):
                    archive.add(path, arcname=name, recursive=False)
            except OSError:
                continue  # missing, or changed under us: the trusted side says what is missing
    channel.flush()  # tarfile leaves a stream it was given open, and so unflushed


if __name__ == "__main__":
    folder, seconds, memory, processes, file_bytes, output_bytes = sys.argv[1:7]
    apply_limits(int(memory), int(processes), int(file_bytes))
    os.environ.pop("PYTHONPATH", None)  # the kernel has no business importing the grader
    channel = private_channel()
    failure = None
    try:
        reserve_space(Path(folder))
        run(Path(folder), int(seconds), json.load(sys.stdin), int(memory), int(output_bytes))
    except OSError as error:
        if error.errno not in DISK_ERRORS:
            raise
        failure = {"status": "error", "message": f"the submission filled its disk: {error}"}
    finally:  # whatever happened, what was written leaves (the trusted side judges it)
        ship(Path(folder), channel, failure)
