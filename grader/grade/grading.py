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
from grader.grade.sandbox import DataMount, Limits, RunResult, Sandbox
from grader.grade.submitted_file import InvalidSubmission, SubmittedFile, read_submitted_file
from grader.inside import runner
from grader.judge import protocol
from grader.judge.exported_answers import (
    ExportedAnswers,
    ExportUnreadable,
    parse_exported_answers,
    read_export_files,
)
from grader.judge.hidden_tests import judge, load_hidden_tests
from grader.settings import Settings

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
    with tempfile.TemporaryDirectory(prefix="grade-", ignore_cleanup_errors=True) as tmp:
        os.chmod(tmp, 0o711)  # the sandbox user may enter, not list: its folder's name is random
        folder = Path(tmp) / f"sandbox-{os.urandom(8).hex()}"
        request = protocol.export_request(setup.questions)
        _fill_sandbox(folder, submission, setup)
        run = _execute(folder, setup, request)
        answers, problem = _read_answers(folder) if run.status == Status.OK else ({}, "")
        _keep_outputs(folder, submission, answers, key, setup.out_dir)
    row = GradeRow(submission=path.name, status=run.status, key=key, cell_errors=run.cell_errors)
    if run.status != Status.OK:
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
    notes = []
    if row.cell_errors:
        notes.append(f"{len(row.cell_errors)} cell(s) raised errors, first: {row.cell_errors[0]}")
    if row.review:
        notes.append(f"review: {row.review[0]}")
    row.message = one_line("; ".join(notes))
    return row


def _fill_sandbox(folder: Path, submission: SubmittedFile, setup: GradingSetup) -> None:
    """Write the notebook and the public tests into a fresh folder and hand it to the sandbox."""
    folder.mkdir(mode=0o700)
    nbformat.write(submission.notebook, folder / runner.NOTEBOOK)
    shutil.copytree(setup.public_tests_dir, folder / "tests")
    if not setup.sandbox and setup.course.data:  # the sandbox mounts data/; here a link
        (folder / "data").symlink_to(setup.data_dir)
    setup.isolation.prepare_folder(folder)


def _execute(folder: Path, setup: GradingSetup, request: dict) -> RunResult:
    """Run the notebook in its sandbox and say how it went (run.json is the runner's account)."""
    ended = setup.isolation.run(folder, setup.timeout, json.dumps(request).encode())
    code, stderr, seconds = ended.code, ended.stderr, ended.seconds
    if ended.out_of_memory:
        return RunResult(Status.ERROR, setup.isolation.memory_message(), seconds=seconds)
    if code is None:
        return RunResult(Status.TIMEOUT, f"the notebook ran longer than {setup.timeout} s")
    try:
        log = json.loads(read_file(folder, runner.RUN_LOG, MAX_RUN_LOG_BYTES))
        status = Status(log.get("status"))
        errors = [one_line(error) for error in log.get("cell_errors", [])][:5]
        message = one_line(log.get("message", ""))
    except (UnsafeFile, ValueError, TypeError, AttributeError) as error:
        errors = [line for line in stderr.splitlines() if "Error" in line]
        reason = f"; the runner said: {errors[-1]}" if errors else ""
        message = f"the notebook could not be executed (no usable run log: {error}){reason}"
        return RunResult(Status.ERROR, one_line(message))
    if status == Status.TIMEOUT:
        message = f"the notebook ran longer than {setup.timeout} s"
    return RunResult(status, message, errors, seconds)


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
        (target / "files").mkdir(parents=True, exist_ok=True)
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
