"""Execute one notebook in a Jupyter kernel, cell by cell, and export its answers as data.

Run as its own process inside the bubblewrap sandbox (``python -m grader.inside.runner SANDBOX
WALL MEMORY PROCESSES FILE_BYTES OUTPUT_BYTES``, with ``{"budgets": ..., "request": ...}`` as
JSON on stdin). It first limits itself and so the kernel it starts, then writes into the
sandbox: ``executed.ipynb`` (outputs capped, stopped cells marked), ``answers/`` (see
``grader.judge.exported_answers``) and ``run.json`` (how it went, cell by cell), and sends them
as a tar stream on its stdout (``ship``): the sandbox's folder is a memory-backed file system
that ends with it, and the trusted side unpacks the stream within caps (``grader.grade.channel``).

Interrupt, note, continue: a cell that uses more than its CPU time (the kernel's process tree,
read from /proc), or more than ``wall_factor`` times it of wall clock (code that only waits), is
interrupted, marked, and the next cell runs. The notebook's budget ends the remaining student
cells, never the exporter, which has a budget of its own. A kernel that dies (or ignores the
interrupt) is restarted and the notebook re-run from the top without that cell, at most
``restarts`` times. The same runner runs the probes, in a sandbox of their own (see
``grader.grade.probe_run``). Nothing here is trusted by the judge.
"""

import asyncio
import copy
import errno
import io
import json
import os
import resource
import stat
import sys
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

# nbformat imports jsonschema, which imports the optional rfc3987-syntax IRI checker when it is
# installed (jupyter's dependencies install it); that module builds a grammar at import, 1.2 s
# of every submission's start-up (bench/runner_startup.py), for a format no notebook uses. A None
# entry makes that import fail, which jsonschema allows for.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import DeadKernelError  # noqa: E402
from nbclient.util import ensure_async  # noqa: E402

from grader.inside import kernel_export  # noqa: E402

NOTEBOOK = "homework.ipynb"
EXECUTED = "executed.ipynb"
RUN_LOG = "run.json"
ANSWERS_DIR = "answers"
MAX_REPORTED_ERRORS = 5
MAX_REPORTED_STOPS = 40
MEMORY_ERRORS = ("MemoryError", "can't allocate memory", "Cannot allocate memory")
POLL_SECONDS = 0.25  # how often a running cell's CPU time is read
INTERRUPT_GRACE = 10.0  # seconds an interrupted cell has to stop before its kernel is killed
NO_REPLY_GRACE = 10.0  # seconds a kernel gone idle on a cell has to send that cell's reply
# ipykernel may log an exception and never answer a cell (code nested too deeply to compile):
# the cell then counts as one that raised, and the same kernel goes on with the next.
NO_REPLY = (
    "the kernel went idle without running this cell (ipykernel could not handle it, e.g. code "
    "nested too deeply to compile)"
)
OTTER_EXPORT = "grader.export("
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Budgets:
    """CPU seconds per cell, for all student cells and for the exporter; restarts; wall factor."""

    cell_seconds: float = 900
    notebook_seconds: float = 3600
    export_seconds: float = 60
    restarts: int = 2
    wall_factor: float = 3.0

    @classmethod
    def from_json(cls, data: dict) -> "Budgets":
        return cls(**{key: value for key, value in data.items() if key in cls.__dataclass_fields__})


@dataclass
class Stop:
    """A student cell that did not run to its end, and why (``kind``: cpu, wall, notebook,
    kernel, not_run)."""

    cell: int
    kind: str
    reason: str


@dataclass
class Attempt:
    """One pass over the notebook in one kernel."""

    stops: list[Stop] = field(default_factory=list)
    died_at: int | None = None  # the cell during which the kernel died
    died_reason: str = ""
    died_kind: str = "kernel"  # or cpu / wall: killed for ignoring the interrupt
    exported: bool = False


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


def _proc_stats() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks of the process and of its reaped children)."""
    stats = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        stats[int(entry.name)] = (int(fields[1]), sum(int(value) for value in fields[11:15]))
    return stats


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used by ``root`` and all its descendants, reaped ones too."""
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
            todo += children.get(pid, [])
    return total / CLOCK_TICKS


def stop_note(seconds: float, kind: str, cpu_used: float | None = None) -> str:
    """Why a cell was stopped, as the student reads it."""
    what = {
        "cpu": "of CPU time, the per-cell limit",
        "notebook": "of CPU time, when the whole notebook's budget was used up",
        "wall": "of wall-clock time, the cap for code that waits",
        "export": "of CPU time, the exporter's limit",
    }[kind]
    used = f" (it had used {cpu_used:.1f} s of CPU time)" if cpu_used is not None else ""
    return f"stopped after {seconds:g} s {what}{used}"


class CappedClient(NotebookClient):
    """A client that keeps at most ``output_budget`` bytes of cell output (errors always kept)
    and stops a cell that runs past its limits (``watch``)."""

    output_budget = 5_000_000
    idle_at: float | None = None  # when the kernel reported idle on the running cell

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

    def _update_display_id(self, display_id, msg):
        """An update rewrites every output that shares its display id: each copy counts
        against the budget, and an update that does not fit is dropped."""
        copies = sum(map(len, self._display_id_map.get(display_id, {}).values()))
        size = copies * len(json.dumps(msg.get("content", {}).get("data", {}), default=str))
        if size > self.output_budget:
            return None
        self.output_budget -= size
        return super()._update_display_id(display_id, msg)

    def keep_widget_state(self) -> None:
        """Save the widgets' last state (tqdm's bars in a notebook are widgets), as
        ``execute()`` does, when it fits in what is left of the output budget."""
        self.set_widgets_metadata()
        widgets = self.nb.metadata.get("widgets")
        if widgets and len(json.dumps(widgets, default=str)) > max(self.output_budget, 0):
            del self.nb.metadata["widgets"]

    def process_message(self, msg, cell, cell_index):
        content = msg.get("content") or {}
        if msg.get("msg_type") == "status" and content.get("execution_state") == "idle":
            self.idle_at = time.monotonic()
        return super().process_message(msg, cell, cell_index)

    def kernel_pid(self) -> int | None:
        return getattr(getattr(self.km, "provisioner", None), "pid", None)

    async def run_cell(self, index: int, cpu: float, wall: float) -> tuple[str, float, float]:
        """Execute one cell within ``cpu`` CPU seconds and ``wall`` wall seconds.

        Returns (how it ended: ``done``, ``cpu``, ``wall`` or ``no_reply``, CPU seconds used,
        wall seconds). Raises DeadKernelError when the kernel died, or was killed for ignoring
        the interrupt.
        """
        pid = self.kernel_pid()
        start_cpu = tree_cpu_seconds(pid) if pid else 0.0
        started = time.monotonic()
        verdict = {"kind": "done", "cpu": 0.0}
        self.last_verdict = verdict
        self.idle_at = None

        async def watch() -> None:
            while True:
                await asyncio.sleep(POLL_SECONDS)
                used = tree_cpu_seconds(pid) - start_cpu if pid else 0.0
                verdict["cpu"] = used
                if self.idle_at is not None and time.monotonic() - self.idle_at > NO_REPLY_GRACE:
                    verdict["kind"] = "no_reply"  # the kernel is well, and waits for the next
                    self.task_poll_for_reply.cancel()
                    return
                if used > cpu or time.monotonic() - started > wall:
                    break
            verdict["kind"] = "cpu" if used > cpu else "wall"
            await ensure_async(self.km.interrupt_kernel())
            await asyncio.sleep(INTERRUPT_GRACE)
            verdict["kind"] += "+killed"
            await ensure_async(self.km.provisioner.kill())

        watcher = asyncio.ensure_future(watch())
        try:
            await self.async_execute_cell(self.nb.cells[index], index)
        except DeadKernelError:  # nbclient's word for a cancelled wait, too
            if verdict["kind"] != "no_reply":
                raise
        finally:
            watcher.cancel()
        if pid:
            verdict["cpu"] = tree_cpu_seconds(pid) - start_cpu
        return verdict["kind"], verdict["cpu"], time.monotonic() - started


def extraction_cell(request: dict) -> nbformat.NotebookNode:
    """A code cell that runs the exporter in its own namespace, after all student cells."""
    source = (
        f"_grader_exporter = {{}}\n"
        f"exec({Path(kernel_export.__file__).read_text()!r}, _grader_exporter)\n"
        f"_grader_exporter['export_answers'](globals(), {ANSWERS_DIR!r}, {request!r})\n"
    )
    return nbformat.v4.new_code_cell(source)


def with_exporter(notebook: nbformat.NotebookNode, request: dict) -> nbformat.NotebookNode:
    """Blank otter's export cells (no zips or PDFs while grading; the cell numbers stay the
    student's) and append the exporter."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and OTTER_EXPORT in cell.source:
            cell.source = "# [grader: otter's export cell is not run while grading]"
    notebook.cells.append(extraction_cell(request))
    return notebook


def cell_errors(notebook: nbformat.NotebookNode, skip: set[int] = frozenset()) -> list[str]:
    """One line per code cell that raised, e.g. 'cell 12: NameError: name 'x' is not defined'."""
    errors = []
    for index, cell in enumerate(notebook.cells):
        if index in skip:
            continue
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


def _note(cell: nbformat.NotebookNode, text: str) -> None:
    """Mark a cell in the executed notebook (the student and the TA see why it stopped)."""
    cell.setdefault("outputs", []).append(
        nbformat.v4.new_output("stream", name="stderr", text=f"[grader: {text}]\n")
    )


def _kernel_end(client: CappedClient) -> str:
    """How the kernel process ended: 'exit code 3' or 'signal 9'."""
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    code = process.poll() if process is not None else None
    if code is None:
        return "it stopped answering"
    return f"signal {-code}" if code < 0 else f"exit code {code}"


async def _attempt(
    notebook: nbformat.NotebookNode,
    budgets: Budgets,
    skip: dict[int, Stop],
    output_bytes: int,
    sandbox: Path,
    deadline: float,
    left: dict[str, float],
    memory: int,
) -> Attempt:
    """One pass: every student cell not in ``skip`` under its limits, then the exporter."""
    client = CappedClient(
        notebook,
        timeout=None,
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(sandbox)}},
    )
    client.output_budget = output_bytes
    attempt = Attempt()
    exporter = len(notebook.cells) - 1
    async with client.async_setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            if index in skip:  # it killed the kernel, or was stopped, in an earlier pass
                _note(cell, f"not run again: {skip[index].reason}")
                continue
            limits = _limits(budgets, left, deadline, index == exporter)
            if limits is None:
                reason = "the whole notebook's time budget was used up before this cell"
                attempt.stops.append(Stop(index, "not_run", reason))
                _note(cell, f"not run: {reason}")
                continue
            cpu, wall, kind = limits
            try:
                ended, used, took = await client.run_cell(index, cpu, wall)
            except DeadKernelError:
                attempt.died_at = index
                attempt.died_kind, attempt.died_reason = _death(client, kind, cpu, wall, memory)
                break
            if index != exporter:
                left["cpu"] -= used
                left["wall"] -= took
            if ended == "no_reply":
                cell.outputs.append(
                    nbformat.v4.new_output("error", ename="NoReply", evalue=NO_REPLY, traceback=[])
                )
            elif ended != "done":
                which = kind if ended == "cpu" else "wall"
                limit, used = (cpu, None) if ended == "cpu" else (wall, used)
                note = stop_note(round(limit), which, used)
                attempt.stops.append(Stop(index, which, note))
                _note(cell, f"this cell was {note}; the notebook went on with the next cell")
        else:
            attempt.exported = True
        client.keep_widget_state()
    return attempt


def _limits(
    budgets: Budgets, left: dict[str, float], deadline: float, exporter: bool
) -> tuple[float, float, str] | None:
    """(CPU seconds, wall seconds, which limit) for the next cell; None: the budget is used up."""
    if exporter:
        return budgets.export_seconds, budgets.export_seconds * budgets.wall_factor, "export"
    wall_left = min(deadline - time.monotonic(), left["wall"])
    if left["cpu"] <= 0 or wall_left <= 0:
        return None
    cpu = min(budgets.cell_seconds, left["cpu"])
    kind = "notebook" if left["cpu"] < budgets.cell_seconds else "cpu"
    return cpu, min(cpu * budgets.wall_factor, wall_left), kind


def _death(
    client: CappedClient, kind: str, cpu: float, wall: float, memory: int
) -> tuple[str, str]:
    """Why the kernel ended during a cell: killed for ignoring the interrupt, or it died."""
    ended = getattr(client, "last_verdict", {}).get("kind", "")
    if ended.endswith("+killed"):
        limit, which = (cpu, kind) if ended.startswith("cpu") else (wall, "wall")
        return which, f"{stop_note(round(limit), which)} and did not stop when interrupted"
    end = _kernel_end(client)
    return "kernel", f"the kernel died ({end}: a crash, os._exit, or {memory_note(memory)})"


async def run_async(
    sandbox: Path, wall: float, payload: dict, memory: int, output_bytes: int
) -> dict:
    budgets = Budgets.from_json(payload.get("budgets", {}))
    original = with_exporter(nbformat.read(sandbox / NOTEBOOK, as_version=4), payload["request"])
    started = time.monotonic()
    reserve = budgets.export_seconds * budgets.wall_factor + 30  # start-up and export
    deadline = started + max(1.0, wall - reserve)  # the sandbox's own end comes after it
    # Student cells' time, over all passes: CPU seconds, and wall seconds (without start-ups).
    left = {"cpu": budgets.notebook_seconds, "wall": budgets.notebook_seconds * budgets.wall_factor}
    skip: dict[int, Stop] = {}
    restarts = 0
    while True:
        notebook = copy.deepcopy(original)
        attempt = await _attempt(
            notebook, budgets, skip, output_bytes, sandbox, deadline, left, memory
        )
        exporter = len(notebook.cells) - 1
        if attempt.died_at is None or attempt.died_at == exporter:
            break
        skip[attempt.died_at] = Stop(attempt.died_at, attempt.died_kind, attempt.died_reason)
        skip |= {stop.cell: stop for stop in attempt.stops if stop.kind != "not_run"}
        if restarts >= budgets.restarts:
            break
        restarts += 1
    return finish(sandbox, notebook, attempt, skip, restarts, started, memory)


def finish(
    sandbox: Path,
    notebook: nbformat.NotebookNode,
    attempt: Attempt,
    skip: dict[int, Stop],
    restarts: int,
    started: float,
    memory: int,
) -> dict:
    """Write executed.ipynb and run.json; returns the run log."""
    stops = sorted([*skip.values(), *attempt.stops], key=lambda stop: stop.cell)
    stopped = {stop.cell for stop in stops}
    errors = cell_errors(notebook, stopped)
    log: dict = {"status": "ok", "message": "", "exported": attempt.exported}
    if any(stop.kind == "kernel" for stop in stops):
        log["status"] = "error"
    elif stops:
        log["status"] = "timeout"
    if not attempt.exported:
        where = "while exporting" if attempt.died_at is not None else ""
        reason = attempt.died_reason or "the exporter did not finish"
        log.update(status="error", message=f"{reason} {where}".strip()[:300])
    memory_errors = [e for e in errors if any(m in e for m in MEMORY_ERRORS)]
    if memory_errors and log["status"] == "ok":
        log.update(status="error", message=f"{memory_note(memory)}: {memory_errors[0]}"[:300])
    log["stopped"] = [asdict(stop) for stop in stops][:MAX_REPORTED_STOPS]
    log["restarts"] = restarts
    log["seconds"] = round(time.monotonic() - started, 1)
    log["cell_errors"] = errors[:MAX_REPORTED_ERRORS]
    notebook.cells.pop()  # the exporter cell: graders and students need not see it
    release_space(sandbox)  # room for the outputs even when the notebook filled its disk
    nbformat.write(notebook, sandbox / EXECUTED)
    (sandbox / RUN_LOG).write_text(json.dumps(log))
    return log


def run(sandbox: Path, wall: float, payload: dict, memory: int, output_bytes: int) -> dict:
    """Execute the sandbox notebook; returns the run log (also written to run.json)."""
    return asyncio.run(run_async(sandbox, wall, payload, memory, output_bytes))


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
        run(Path(folder), float(seconds), json.load(sys.stdin), int(memory), int(output_bytes))
    except OSError as error:
        if error.errno not in DISK_ERRORS:
            raise
        failure = {"status": "error", "message": f"the submission filled its disk: {error}"}
    finally:  # whatever happened, what was written leaves (the trusted side judges it)
        ship(Path(folder), channel, failure)
