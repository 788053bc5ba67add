"""Grade submissions: parse, run each in its own bubblewrap sandbox, judge, keep the outputs.

One bad submission never stops the others: every input gets a row with a status (``ok``,
``error``, ``timeout``, ``invalid``) and a one-line reason, and a last-resort guard turns any
failure nobody foresaw into that submission's ``error`` row. Inputs are only ever read.
"""

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import nbformat

from grader.common.names import output_key
from grader.common.results import GradeRow, QuestionResult, Status
from grader.common.safe_files import UnsafeFile, read_file
from grader.common.text import one_line, valid_text
from grader.course import Course
from grader.grade.data import default_data_dir, verify_data_dir
from grader.grade.probe_notebook import binds, probe_notebook
from grader.grade.sandbox import DataMount, Limits, Sandbox
from grader.grade.submitted_file import InvalidSubmission, SubmittedFile, read_submitted_file
from grader.inside import runner
from grader.inside.kernel_export import FILES_DIR
from grader.judge import protocol
from grader.judge.exported_answers import (
    ExportedAnswers,
    ExportUnreadable,
    parse_exported_answers,
    read_export_files,
)
from grader.judge.hidden_tests import judge, load_hidden_tests
from grader.settings import Settings, run_wall_seconds

MAX_RUN_LOG_BYTES = 64_000
MAX_EXECUTED_BYTES = 20_000_000  # the executed notebook kept in --out (outputs are capped too)


@dataclass
class GradingSetup:
    """Everything shared by the submissions of one grading run (``prepare`` does the work)."""

    course: Course
    out_dir: Path
    settings: Settings = field(default_factory=Settings)
    data_dir: Path | None = None  # default: the course's data variable, else its default
    sandbox: bool = True  # False only where something else isolates each submission
    threads: int = 1  # OMP/MKL/OpenBLAS threads of each submission
    tests_dir: Path | None = None  # default: the course's built hidden tests
    public_tests_dir: Path | None = None  # default: the course's public tests

    def __post_init__(self) -> None:
        self.tests_dir = Path(self.tests_dir or self.course.hidden_tests)
        self.public_tests_dir = Path(self.public_tests_dir or self.course.public_tests)
        if self.data_dir is None:
            self.data_dir = default_data_dir(self.course.data)

    @property
    def timeout(self) -> int:
        """Seconds one cell may run."""
        return self.settings.cell_seconds

    @cached_property
    def hidden_tests(self) -> dict:
        return load_hidden_tests(self.tests_dir)

    @cached_property
    def questions(self) -> dict:
        """The course's module of each autograded question that has one."""
        return protocol.question_modules(self.course, self.hidden_tests)

    @cached_property
    def isolation(self) -> Sandbox:
        """How this run's submissions are sandboxed."""
        limits = Limits.from_settings(self.settings, self.threads)
        data = self.course.data
        mount = DataMount(self.data_dir, data.folder, data.variable) if data else None
        return Sandbox(data=mount, limits=limits, enabled=self.sandbox)

    @property
    def warning(self) -> str:
        return self.isolation.warning

    def prepare(self) -> "GradingSetup":
        """Verify the data, check the sandbox, load the hidden tests and the judge's data, once.

        Raises ``grader.grade.data.DataUnavailable`` or
        ``grader.grade.sandbox.SandboxUnavailable`` with a one-line message.
        """
        if getattr(self, "_prepared", False):
            return self
        if self.data_dir is not None:
            self.data_dir = Path(self.data_dir).absolute()
        verify_data_dir(self.course.data, self.data_dir)
        with tempfile.TemporaryDirectory(prefix="sandbox-check-") as scratch:
            os.chmod(scratch, 0o711)
            self.isolation.check(Path(scratch))
        protocol.prepare_all(self.questions, self.data_dir)
        self._prepared = True
        return self


def grade_one(path: Path, setup: GradingSetup, key: str | None = None) -> GradeRow:
    """Grade one submission file; never raises for anything the submission holds or does.

    ``key`` names its files in --out (default ``output_key(path)``; ``unique_keys`` for a run).
    """
    setup.prepare()
    key = key or output_key(path)
    try:
        row = _grade(path, setup, key)
    except Exception as error:  # the last-resort guard: a row, never a stopped batch
        row = GradeRow(
            submission=path.name,
            status=Status.ERROR,
            key=key,
            message=one_line(f"grading failed: {type(error).__name__}: {error}"),
        )
    if setup.warning:
        row.message = "; ".join(filter(None, [f"warning: {setup.warning}", row.message]))
    row.submission, row.message = valid_text(row.submission), valid_text(row.message)
    row.cell_errors = [valid_text(error) for error in row.cell_errors]
    row.review = [valid_text(flag) for flag in row.review]
    return row


def _grade(path: Path, setup: GradingSetup, key: str) -> GradeRow:
    try:
        submission = read_submitted_file(path)
    except InvalidSubmission as error:
        return GradeRow(
            submission=path.name, status=Status.INVALID, key=key, message=one_line(error)
        )
    request = protocol.export_request(setup.questions)
    with tempfile.TemporaryDirectory(prefix="grade-", ignore_cleanup_errors=True) as tmp:
        os.chmod(tmp, 0o711)  # the sandbox user may enter, not list: its folder's name is random
        folder = Path(tmp) / f"sandbox-{os.urandom(8).hex()}"
        _fill_sandbox(folder, submission.notebook, setup, public_tests=True)
        notebook_request = {**request, "probes": []}  # probes run apart, in probe_run
        run = _execute(folder, setup, notebook_request, setup.settings.budgets())
        answers, problem = _read_answers(folder) if run.exported else ({}, "")
        _keep_outputs(folder, submission, answers, key, setup.out_dir)
        probed = _run_probes(Path(tmp), submission.notebook, setup, request) if answers else []
    row = GradeRow(submission=path.name, status=run.status, key=key, cell_errors=run.cell_errors)
    row.stopped = [describe_stop(stop) for stop in run.stopped]
    if not run.exported:
        row.message = one_line(run.message)
        return row
    data = None
    try:
        data = parse_exported_answers(answers) if not problem else None
    except ExportUnreadable as error:
        problem = str(error)
    if data is None:
        row.status, row.message = (
            Status.ERROR,
            one_line(f"answers could not be exported: {problem}"),
        )
        return row
    data = _trusted_parts(data, notebook_request, probed)
    _explain_missing(data, notebook_request, submission.notebook, run.stopped)
    data.grader_inputs = protocol.grader_inputs(request)
    row.questions = _judge(data, setup)
    if row.questions is None:
        row.questions = {}
        row.status = Status.ERROR
        row.message = f"judging took longer than {setup.settings.judge_seconds} s"
        return row
    try:
        row.review = protocol.review_flags(submission.notebook, setup.questions)
    except Exception as error:  # e.g. code the parser refuses (NUL bytes, deep nesting)
        row.review = [one_line(f"the code could not be analysed: {type(error).__name__}")]
    row.message = one_line("; ".join(_notes(row, run)))
    return row


def _notes(row: GradeRow, run: "NotebookRun") -> list[str]:
    """The row's message: stopped cells first (they explain missing points), errors, review."""
    notes = []
    if row.stopped:
        more = len(row.stopped) - 2
        notes.append("; ".join(row.stopped[:2]) + (f" (and {more} more)" if more > 0 else ""))
    elif run.message:
        notes.append(run.message)
    if row.cell_errors:
        notes.append(f"{len(row.cell_errors)} cell(s) raised errors, first: {row.cell_errors[0]}")
    if row.review:
        notes.append(f"review: {row.review[0]}")
    return notes


def describe_stop(stop: dict) -> str:
    """'cell 30 was stopped after 900 s of CPU time, the per-cell limit' and the like."""
    cell, kind, reason = stop.get("cell"), stop.get("kind"), one_line(str(stop.get("reason")))
    if kind == "kernel":
        return f"cell {cell} was left out: {reason} while it ran"
    if kind == "not_run":
        return f"cell {cell} was not run: {reason}"
    return f"cell {cell} was {reason}"


def _explain_missing(
    data: ExportedAnswers, request: dict, notebook: nbformat.NotebookNode, stopped: list[dict]
) -> None:
    """A reason for every requested name that is missing: the stopped cell that defines it."""
    for name in [*request["values"], *request["models"]]:
        if name in data.values or name in data.models or name in data.problems or not stopped:
            continue
        cells = notebook.cells
        owners = [s for s in stopped if 0 <= s["cell"] < len(cells)]
        owners = [s for s in owners if binds(cells[s["cell"]].get("source", ""), name)]
        if owners:  # else nothing that was stopped defines it: the judge's usual reason
            data.problems[name] = f"it is not defined: {describe_stop(owners[0])}"
    for name in request["files"]:  # a file the notebook should have written
        cells = notebook.cells
        owners = [s for s in stopped if 0 <= s["cell"] < len(cells)]
        owners = [s for s in owners if Path(name).name in cells[s["cell"]].get("source", "")]
        if name not in data.files and name not in data.problems and owners:
            data.problems[name] = f"it was not written: {describe_stop(owners[0])}"


def _trusted_parts(
    data: ExportedAnswers, request: dict, probed: list[ExportedAnswers]
) -> ExportedAnswers:
    """The notebook's own names from its run, probe results only from the probes' own runs."""
    names = {*request["values"], *request["models"]}
    trusted = ExportedAnswers(
        values={k: v for k, v in data.values.items() if k in request["values"]},
        models={k: v for k, v in data.models.items() if k in request["models"]},
        files=data.files,
        problems={k: v for k, v in data.problems.items() if k in names},
    )
    for answers in probed:
        trusted.probes |= answers.probes
        trusted.models |= answers.models
        trusted.problems |= answers.problems
    return trusted


def _fill_sandbox(
    folder: Path, notebook: nbformat.NotebookNode, setup: GradingSetup, public_tests: bool
) -> None:
    """Write the notebook (and the public tests) into a fresh folder; hand it to the sandbox."""
    folder.mkdir(mode=0o700)
    nbformat.write(notebook, folder / runner.NOTEBOOK)
    if public_tests:
        shutil.copytree(setup.public_tests_dir, folder / "tests")
    if not setup.sandbox and setup.course.data:  # the sandbox mounts data/; here a link
        (folder / "data").symlink_to(setup.data_dir)
    setup.isolation.hand_over(folder)


@dataclass
class NotebookRun:
    """How one run of the runner ended, from its run.json (nothing in it is trusted for points)."""

    status: Status
    message: str = ""
    exported: bool = False
    cell_errors: list[str] = field(default_factory=list)
    stopped: list[dict] = field(default_factory=list)  # {"cell", "kind", "reason"}


def _execute(folder: Path, setup: GradingSetup, request: dict, budgets: dict) -> NotebookRun:
    """Run the notebook in its sandbox and say how it went (run.json is the runner's account)."""
    wall = run_wall_seconds(budgets, setup.settings.grace_seconds)
    payload = json.dumps({"budgets": budgets, "request": request}).encode()
    ended = setup.isolation.run(folder, int(wall), payload)
    code, stderr = ended.code, ended.stderr
    if ended.out_of_memory:
        return NotebookRun(Status.ERROR, setup.isolation.memory_message())
    if code is None:
        return NotebookRun(Status.TIMEOUT, f"the notebook ran longer than {wall:g} s")
    try:
        log = json.loads(read_file(folder, runner.RUN_LOG, MAX_RUN_LOG_BYTES))
        status = Status(log.get("status"))
        errors = [one_line(error) for error in log.get("cell_errors", [])][:5]
        stopped = [stop for stop in log.get("stopped", []) if isinstance(stop, dict)][:40]
        for stop in stopped:
            stop["cell"] = int(stop.get("cell", -1))
        message, exported = one_line(log.get("message", "")), log.get("exported") is True
    except (UnsafeFile, ValueError, TypeError, AttributeError) as error:
        errors = [line for line in stderr.splitlines() if "Error" in line]
        reason = f"; the runner said: {errors[-1]}" if errors else ""
        message = f"the notebook could not be executed (no usable run log: {error}){reason}"
        return NotebookRun(Status.ERROR, one_line(message))
    return NotebookRun(status, message, exported, errors, stopped)


def _run_probes(
    tmp: Path, notebook: nbformat.NotebookNode, setup: GradingSetup, request: dict
) -> list[ExportedAnswers]:
    """Each question's probes in a sandbox of their own, on that question's definitions only."""
    results = []
    for question, module in setup.questions.items():
        names = {probe.name for probe in getattr(module, "PROBES", ())}
        probes = [probe for probe in request["probes"] if probe["name"] in names]
        if probes:
            results.append(_run_probe(tmp, question, notebook, setup, request, probes))
    return results


def _run_probe(
    tmp: Path,
    question: str,
    notebook: nbformat.NotebookNode,
    setup: GradingSetup,
    request: dict,
    probes: list[dict],
) -> ExportedAnswers:
    """One question's probes; a probe that could not run gets its reason as a problem."""
    folder = tmp / f"probe-{os.urandom(8).hex()}"
    probes = [{**probe, "wall_factor": setup.settings.wall_factor} for probe in probes]
    _fill_sandbox(folder, probe_notebook(notebook, question), setup, public_tests=False)
    probe_request = {"values": [], "models": [], "files": [], "probes": probes}
    probe_request["layer_args"] = request["layer_args"]
    run = _execute(folder, setup, probe_request, setup.settings.probe_budgets(probes))
    names = {probe["name"] for probe in probes}
    try:
        if not run.exported:
            raise ExportUnreadable(run.message or "the probe's kernel did not finish")
        data = parse_exported_answers(read_export_files(folder / runner.ANSWERS_DIR))
    except ExportUnreadable as error:
        reason = one_line(f"the grader's probe could not run: {error}")
        return ExportedAnswers(problems=dict.fromkeys(names, reason))
    owned = lambda key: key in names or key.split(":")[0] in names  # noqa: E731
    return ExportedAnswers(
        probes={k: v for k, v in data.probes.items() if k in names},
        models={k: v for k, v in data.models.items() if ":" in k and owned(k)},
        problems={k: v for k, v in data.problems.items() if owned(k)},
    )


def _read_answers(folder: Path) -> tuple[dict[str, bytes], str]:
    try:
        return read_export_files(folder / runner.ANSWERS_DIR), ""
    except ExportUnreadable as error:
        return {}, str(error)


class JudgingTooLong(BaseException):
    """Raised by the alarm; a BaseException so that no test case swallows it."""


def _judge(data: ExportedAnswers, setup: GradingSetup) -> dict[str, QuestionResult] | None:
    """The hidden tests' results, or None when they ran past ``setup.settings.judge_seconds``."""
    if threading.current_thread() is not threading.main_thread():
        return judge(
            data, setup.hidden_tests, setup.questions
        )  # alarms work in the main thread only

    def expire(*_) -> None:
        raise JudgingTooLong

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(setup.settings.judge_seconds)
    try:
        return judge(data, setup.hidden_tests, setup.questions)
    except JudgingTooLong:
        return None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _keep_outputs(
    folder: Path, submission: SubmittedFile, answers: dict[str, bytes], key: str, out_dir: Path
) -> None:
    """Keep the export, executed notebook and PDF under ``key`` (audit, feedback, manual
    grading); only bytes read safely from the sandbox, within their caps, are written."""
    if answers:
        target = out_dir / "answers" / key
        (target / FILES_DIR).mkdir(parents=True, exist_ok=True)
        for name, data in answers.items():
            (target / name).write_bytes(data)
    with contextlib.suppress(UnsafeFile):
        executed = read_file(folder, runner.EXECUTED, MAX_EXECUTED_BYTES)
        (out_dir / "executed").mkdir(parents=True, exist_ok=True)
        (out_dir / "executed" / f"{key}.ipynb").write_bytes(executed)
    if submission.pdf:
        keep_pdf(out_dir, key, submission.pdf)


def keep_pdf(out_dir: Path, key: str, pdf: bytes) -> None:
    """The one place a student's PDF is written: ``pdfs/<key>.pdf``, for the manual grading."""
    (out_dir / "pdfs").mkdir(parents=True, exist_ok=True)
    (out_dir / "pdfs" / f"{key}.pdf").write_bytes(pdf)
