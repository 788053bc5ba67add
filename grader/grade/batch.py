"""Grade a class: collect the inputs, take this shard's share, grade in parallel jobs, resume.

Each input is graded by ``grading.grade_one`` in a worker process with its own thread budget;
the worker stores the result in the results store (``grader.common.store``) as soon as it is
known, so a
killed run loses at most the submissions in flight and a rerun grades only what is missing.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from dataclasses import dataclass, fields
from multiprocessing import get_context
from multiprocessing.queues import Queue
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from grader.common.canvas_names import CanvasFile, parse_canvas_name
from grader.common.names import numbered, output_key
from grader.common.results import GradeRow, Status
from grader.common.store import Record, ResultStore, autograder_digest, file_digest
from grader.common.text import one_line, terminal_text, valid_text
from grader.grade.canvas_inputs import BadMember, expand_inputs
from grader.grade.grading import GradingSetup, grade_one, keep_pdf

PDF_ONLY = "only a PDF was submitted; the notebook is missing"


class Interrupted(Exception):
    """Grading was stopped (Ctrl-C, SIGTERM, SIGHUP); what finished is stored."""


@dataclass(frozen=True)
class Input:
    """One thing to grade, with its Canvas name parsed once and its PDF paired."""

    identity: str  # unique in the run; names its record in the store
    path: Path
    canvas: CanvasFile | None = None
    pdf: Path | None = None  # the student's separately uploaded PDF (Canvas)
    pdf_only: bool = False  # a Canvas PDF whose notebook never came: nothing to run
    problem: str = ""  # a member of a download that could not be unpacked: why
    label: str = ""  # the row's submission name when it is not the file's (a bad member)


def collect_inputs(paths: list[Path], scratch: Path, downloads: list[Path] = ()) -> list[Input]:
    """Files, folders and Canvas bulk downloads -> inputs in a deterministic (name) order."""
    expanded = expand_inputs(paths, scratch, downloads)
    bad = [item for item in expanded if isinstance(item, BadMember)]
    files = [item for item in expanded if not isinstance(item, BadMember)]
    parsed = [(path, parse_canvas_name(path)) for path in files]
    pdfs = {
        canvas.user_id: (path, canvas)
        for path, canvas in parsed
        if canvas and path.suffix.lower() == ".pdf"
    }
    inputs, seen = [], set()
    for path, canvas in parsed:
        if canvas and path.suffix.lower() == ".pdf":
            continue
        pdf = pdfs.pop(canvas.user_id, (None, None))[0] if canvas else None
        inputs.append(Input(numbered(path.name, seen, "#"), path, canvas, pdf))
    for path, canvas in pdfs.values():
        inputs.append(Input(numbered(path.name, seen, "#"), path, canvas, pdf_only=True))
    for member in bad:
        name, canvas = member.base_name, parse_canvas_name(Path(member.base_name))
        reason = f"{member.name} in {member.download.name} was not unpacked: {member.reason}"
        identity = numbered(name, seen, "#")
        inputs.append(Input(identity, member.download, canvas, problem=reason, label=member.name))
    return sorted(inputs, key=lambda item: item.identity)


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 1 <= K <= N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like K/N (e.g. 2/10), not {text!r}") from None
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text}: K must be between 1 and N")
    return index, count


def select_shard(inputs: list[Input], index: int, count: int) -> list[Input]:
    """Shard K of N: every N-th input of the sorted list, starting at the K-th."""
    return inputs[index - 1 :: count]


def available_cpus() -> int:
    """Cores this process may use (a Slurm allocation or taskset included)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_jobs(cpus: int | None = None) -> int:
    """One job per core on small machines; one per 2 cores (2 threads each) from 8 cores."""
    cpus = cpus or available_cpus()
    return cpus if cpus < 8 else cpus // 2


def threads_per_job(jobs: int, cpus: int | None = None) -> int:
    """Each job's share of the cores, so that jobs do not oversubscribe them."""
    return max(1, (cpus or available_cpus()) // jobs)


def cpu_sets(jobs: int, cores: list[int] | None = None) -> list[list[int]]:
    """The cores of each job: disjoint shares of the allowed cores (shared only when there are
    more jobs than cores). A job's sandboxes are pinned to its share and cannot leave it, so a
    submission that starts many threads slows only itself."""
    cores = sorted(cores if cores is not None else os.sched_getaffinity(0))
    if jobs > len(cores):
        return [[cores[index % len(cores)]] for index in range(jobs)]
    return [cores[index::jobs] for index in range(jobs)]


class StoringGrader:
    """Grades inputs and stores each result (in a worker process, or in-process for one job)."""

    def __init__(self, setup: GradingSetup, autograder: str) -> None:
        self.setup = setup
        self.autograder = autograder
        self.store = ResultStore(setup.out_dir)

    def grade(self, item: Input, digest: str) -> GradeRow:
        try:
            row = self._grade(item)
        except Exception as error:  # a grader bug: report it, do not store it (a rerun retries)
            message = f"the grader failed on this input: {type(error).__name__}: {error}"
            return GradeRow(submission=item.path.name, status=Status.ERROR, message=message[:300])
        self.store.put(Record(item.identity, digest, self.autograder, row))
        return row

    def _grade(self, item: Input) -> GradeRow:
        key = output_key(Path(item.identity))  # identities are unique in the whole class
        if item.problem:
            label, message = valid_text(item.label), one_line(item.problem)
            row = GradeRow(submission=label, status=Status.INVALID, key=key, message=message)
        elif item.pdf_only:  # kept: people grade the written answers from it
            row = GradeRow(
                submission=item.path.name, status=Status.INVALID, key=key, message=PDF_ONLY
            )
            keep_pdf(self.setup.out_dir, key, item.path.read_bytes())
        else:
            row = grade_one(item.path, self.setup, key)
            if item.canvas:
                self._attach_pdf(row, item)
        row.late = bool(item.canvas and item.canvas.late)
        return row

    def _attach_pdf(self, row: GradeRow, item: Input) -> None:
        """Keep the student's Canvas PDF beside the row, or say that it is missing."""
        if item.pdf is None:
            row.pdf_missing = True
            row.message = "; ".join(filter(None, [row.message, "no PDF submitted"]))
            return
        keep_pdf(self.setup.out_dir, row.key, item.pdf.read_bytes())


_WORKER: StoringGrader | None = None


_STOP_REQUESTED = False


def _raise_interrupt(*_: object) -> None:
    # Python drops an exception raised where it cannot propagate (an at-fork hook, a
    # finalizer), so the flag keeps the request until the next submission boundary.
    global _STOP_REQUESTED
    _STOP_REQUESTED = True
    raise KeyboardInterrupt


def _stop_if_requested() -> None:
    if _STOP_REQUESTED:
        raise KeyboardInterrupt


def _exit_worker(*_: object) -> None:
    raise SystemExit(143)  # unwinds grade_one (its finally kills the runner), then exits quietly


def _start_worker(setup_args: dict, shares: Queue, autograder: str) -> None:
    """In each worker: its own cores (inherited by its sandboxes), a thread per core, the
    shared setup, and SIGTERM that cleans up."""
    global _WORKER
    signal.signal(signal.SIGTERM, _exit_worker)
    cores = shares.get(timeout=60)
    os.sched_setaffinity(0, cores)
    import torch

    torch.set_num_threads(len(cores))
    _WORKER = StoringGrader(GradingSetup(**setup_args | {"threads": len(cores)}), autograder)


def _grade_in_worker(item: Input, digest: str) -> GradeRow:
    assert _WORKER is not None
    return _WORKER.grade(item, digest)


@dataclass
class Plan:
    """What this run must grade and what the store already holds."""

    inputs: list[Input]
    todo: list[tuple[Input, str]]  # (input, file digest)
    stored: dict[str, GradeRow]
    changed: int

    def summary(self) -> str:
        changed = f" ({self.changed} changed since)" if self.changed else ""
        return f"{len(self.stored)} already graded, {len(self.todo)} to go{changed}"


def plan(inputs: list[Input], store: ResultStore, autograder: str, regrade: bool) -> Plan:
    """Compare each input's content and the autograder with the stored record."""
    todo, stored, changed = [], {}, 0
    for item in inputs:
        digest = item.problem if item.pdf_only or item.problem else file_digest(item.path)
        record = None if regrade else store.get(item.identity)
        if record and record.submission_sha256 == digest and record.autograder == autograder:
            stored[item.identity] = record.row
            continue
        changed += record is not None
        todo.append((item, digest))
    return Plan(inputs, todo, stored, changed)


def _setup_args(setup: GradingSetup) -> dict:
    return {field.name: getattr(setup, field.name) for field in fields(setup) if field.init}


def _results(
    todo: list[tuple[Input, str]], grader: StoringGrader, jobs: int
) -> Iterator[tuple[Input, GradeRow]]:
    """Rows as they finish; one job grades in this process, more in worker processes."""
    if jobs == 1:
        for item, digest in todo:
            yield item, grader.grade(item, digest)
        return
    context = get_context("spawn")  # no fork of a process with torch's thread pools
    shares = context.Queue()
    for cores in cpu_sets(jobs):
        shares.put(cores)
    pool = ProcessPoolExecutor(
        jobs,
        mp_context=context,
        initializer=_start_worker,
        initargs=(_setup_args(grader.setup), shares, grader.autograder),
    )
    finished_all = False
    try:
        items = {pool.submit(_grade_in_worker, *job): job[0] for job in todo}
        pending: set[Future] = set(items)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield items[future], future.result()
        finished_all = True
    finally:
        if not finished_all:  # stopped: SIGTERM makes each worker kill its runner, then exit
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()  # (Python 3.14 has pool.terminate_workers())
        pool.shutdown(wait=True, cancel_futures=True)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def grade_all(
    paths: list[Path],
    setup: GradingSetup,
    *,
    downloads: list[Path] = (),
    jobs: int = 1,
    shard: tuple[int, int] = (1, 1),
    regrade: bool = False,
    console: Console | None = None,
) -> list[GradeRow]:
    """Grade this shard's inputs that the store lacks; returns the rows of all of them.

    ``downloads`` are Canvas bulk downloads (each member its own input); every zip in ``paths``
    is one submission. Raises ``Interrupted`` on Ctrl-C, SIGTERM or SIGHUP after stopping the
    jobs in flight.
    """
    console = console or Console(stderr=True)
    grader = StoringGrader(setup, autograder_digest(setup.tests_dir, setup.course.questions_dir))
    with tempfile.TemporaryDirectory(prefix="inputs-") as scratch:
        inputs = select_shard(collect_inputs(paths, Path(scratch), downloads), *shard)
        work = plan(inputs, grader.store, grader.autograder, regrade)
        where = f"shard {shard[0]}/{shard[1]}: " if shard[1] > 1 else ""
        console.print(f"{where}{len(inputs)} input(s): {work.summary()}")
        rows = dict(work.stored)
        global _STOP_REQUESTED
        _STOP_REQUESTED = False
        previous = {sig: signal.signal(sig, _raise_interrupt) for sig in _STOP_SIGNALS}
        try:
            _run(work, grader, min(jobs, max(1, len(work.todo))), rows, console)
        except BrokenProcessPool:
            raise Interrupted(
                f"a grading process died (out of memory?): {len(rows)} of {len(inputs)} graded "
                f"and stored in {setup.out_dir}; run the same command again to grade the rest"
            ) from None
        except KeyboardInterrupt:
            raise Interrupted(
                f"stopped: {len(rows)} of {len(inputs)} graded and stored in {setup.out_dir}; "
                "run the same command again to grade the rest"
            ) from None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return [rows[item.identity] for item in inputs]


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _run(work: Plan, grader: StoringGrader, jobs: int, rows: dict, console: Console) -> None:
    failed = 0
    results = _results(work.todo, grader, jobs)
    # closing(): a stop while this loop runs still terminates the workers at once
    with closing(results), _progress(console) as progress:
        task = progress.add_task("grading", total=len(work.todo), failed=0)
        for item, row in results:
            rows[item.identity] = row
            failed += row.status != Status.OK
            progress.update(task, advance=1, failed=failed)
            line = f"{row.submission}: {row.status}, {row.total:g} points"
            progress.console.print(terminal_text(line))
            _stop_if_requested()
