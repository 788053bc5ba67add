"""Grade submissions: parse, run each in its own bubblewrap sandbox, judge, keep the outputs.

One bad submission never stops the others: every input gets a row with a status (``ok``,
``error``, ``timeout``, ``invalid``) and a one-line reason, and a last-resort guard turns any
failure nobody foresaw into that submission's ``error`` row. Inputs are only ever read.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import nbformat

from grader import checks, runner
from grader.data import default_data_dir, verify_data_dir
from grader.exported_answers import (
    ExportedAnswers,
    ExportUnreadable,
    parse_exported_answers,
    read_export_files,
)
from grader.judge import judge, load_hidden_tests
from grader.results import GradeRow, QuestionResult, Status
from grader.sandbox import Limits, RunResult, Sandbox, UnsafeFile, read_file
from grader.submitted_file import InvalidSubmission, SubmittedFile, read_submitted_file

DEFAULT_MEMORY = 6 * 2**30
MAX_RUN_LOG_BYTES = 64_000
MAX_EXECUTED_BYTES = 20_000_000  # the executed notebook kept in --out (outputs are capped too)
JUDGE_SECONDS = 60  # hidden tests of one submission, in the trusted process
MAX_MESSAGE = 300


@dataclass
class GradingSetup:
    """Everything shared by the submissions of one grading run (``prepare`` does the work)."""

    tests_dir: Path
    public_tests_dir: Path
    out_dir: Path
    timeout: int
    data_dir: Path = field(default_factory=default_data_dir)
    memory: int = DEFAULT_MEMORY  # bytes per sandboxed process
    sandbox: bool = True  # False only where something else isolates each submission
    threads: int = 1  # OMP/MKL/OpenBLAS threads of each submission
    judge_seconds: int = JUDGE_SECONDS

    @cached_property
    def hidden_tests(self) -> dict:
        return load_hidden_tests(self.tests_dir)

    @cached_property
    def runner(self) -> Sandbox:
        limits = Limits(memory_bytes=self.memory, threads=self.threads)
        return Sandbox(data_dir=self.data_dir, limits=limits, enabled=self.sandbox)

    @property
    def warning(self) -> str:
        return self.runner.warning

    def prepare(self) -> "GradingSetup":
        """Verify MNIST, check the sandbox, load the hidden tests and the judge's data, once.

        Raises ``grader.data.DataUnavailable`` or ``grader.sandbox.SandboxUnavailable`` with a
        one-line message.
        """
        if getattr(self, "_prepared", False):
            return self
        self.data_dir = Path(self.data_dir).absolute()
        verify_data_dir(self.data_dir)
        os.environ["HOMEWORK_DATA_DIR"] = str(self.data_dir)  # the judge's own MNIST reads
        with tempfile.TemporaryDirectory(prefix="sandbox-check-") as scratch:
            os.chmod(scratch, 0o711)
            self.runner.check(Path(scratch))
        _ = self.hidden_tests
        checks.prepare_all(self.hidden_tests)
        self._prepared = True
        return self


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """A message fit for one table cell and a UTF-8 file: one line, bounded, no lone surrogates."""
    return valid_text(" ".join(str(text).split())[:limit])


def valid_text(text: str) -> str:
    """``text`` with what UTF-8 cannot encode (lone surrogates, undecodable names) replaced."""
    return text.encode("utf-8", "replace").decode("utf-8")


def output_key(path: Path) -> str:
    """A safe name for a submission's files in --out: the stem of a plainly named notebook,
    else the cleaned stem plus a hash of the full name (``alice.zip`` -> ``alice-1f2e...``)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem).strip("._-")[:80] or "submission"
    if path.suffix.lower() == ".ipynb" and stem == path.stem:
        return stem
    digest = hashlib.sha256(path.name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{stem}-{digest}"


def unique_keys(paths: list[Path]) -> list[str]:
    """``output_key`` of each path, with -2, -3, ... where two paths would share one."""
    keys, seen = [], set()
    for path in paths:
        key, copy = output_key(path), 1
        while key in seen:
            copy += 1
            key = f"{output_key(path)}-{copy}"
        seen.add(key)
        keys.append(key)
    return keys


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
        request = checks.export_request(setup.hidden_tests)
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
    data.grader_inputs = checks.grader_inputs(request)
    row.questions = _judge(data, setup)
    if row.questions is None:
        row.questions = {}
        row.status = Status.ERROR
        row.message = f"judging took longer than {setup.judge_seconds} s"
        return row
    try:
        row.review = checks.review_flags(submission.notebook, setup.hidden_tests)
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
    if not setup.sandbox:  # the sandbox mounts MNIST at data/; here a link must do
        (folder / "data").symlink_to(setup.data_dir)
    setup.runner.prepare_folder(folder)


def _execute(folder: Path, setup: GradingSetup, request: dict) -> RunResult:
    """Run the notebook in its sandbox and say how it went (run.json is the runner's account)."""
    code, stderr, seconds = setup.runner.run(folder, setup.timeout, json.dumps(request).encode())
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
    """The hidden tests' results, or None when they ran past ``setup.judge_seconds``."""
    if threading.current_thread() is not threading.main_thread():
        return judge(data, setup.hidden_tests)  # alarms work in the main thread only

    def expire(*_) -> None:
        raise JudgingTooLong

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(setup.judge_seconds)
    try:
        return judge(data, setup.hidden_tests)
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
