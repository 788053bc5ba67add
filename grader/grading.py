"""Grade one submission: parse, run it in a sandboxed process with a time limit, judge.

One bad submission never stops the others: every input gets a row with a status
(``ok``, ``error``, ``timeout``, ``invalid``) and a reason. Inputs are only ever read.
"""

import contextlib
import json
import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader import runner
from grader.checks import exported_names, prepare_all, q1, q2
from grader.exported_answers import ExportUnreadable, load_exported_answers
from grader.judge import judge, load_hidden_tests
from grader.modelspec import ALLOWED_LAYERS, LAYER_ARGS
from grader.results import GradeRow, Status
from grader.submitted_file import InvalidSubmission, SubmittedFile, read_submitted_file

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_USER = "nobody"
MAX_PROCESSES = 512
MAX_FILE_BYTES = 1_000_000_000
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "HOMEWORK_DATA_DIR", "OMP_NUM_THREADS")


@dataclass
class GradingSetup:
    """Everything shared by the submissions of one grading run."""

    tests_dir: Path
    public_tests_dir: Path
    out_dir: Path
    timeout: int
    sandbox_user: str | None
    threads: int = 0  # torch/OMP/MKL threads of each submission's kernel; 0: not limited

    def __post_init__(self) -> None:
        self.hidden_tests = load_hidden_tests(self.tests_dir)
        prepare_all()


def export_request() -> dict:
    """What the in-kernel exporter must collect (fresh Q1 probe inputs each run)."""
    return {
        "values": exported_names("VALUES"),
        "models": exported_names("MODELS"),
        "files": exported_names("FILES"),
        "layer_args": {name: list(LAYER_ARGS.get(name, ())) for name in ALLOWED_LAYERS},
        "q1_inputs": q1.probe_inputs(),
    }


def sandbox_user() -> str | None:
    """Run student code as an unprivileged user when we are root and that user can run Python."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        return None
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import grader.runner"],
            user=SANDBOX_USER,
            cwd="/",
            env={"PYTHONPATH": str(ROOT)},
            capture_output=True,
            check=False,
        )
        usable = probe.returncode == 0
    except OSError:
        usable = False
    if not usable:
        print(
            f"warning: user {SANDBOX_USER} cannot run {sys.executable}; running submissions as "
            "root (make the checkout and venv world-readable to sandbox them)",
            file=sys.stderr,
        )
        return None
    return SANDBOX_USER


def _sandbox_env(sandbox: Path, threads: int = 0) -> dict[str, str]:
    env = {key: os.environ[key] for key in KEPT_ENV if key in os.environ}
    if threads:  # the job's share of the cores (parallel grading must not oversubscribe)
        env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    env.update(
        HOME=str(sandbox),
        MPLCONFIGDIR=str(sandbox / ".mpl"),
        PYTHONPATH=str(ROOT),
        JUPYTER_RUNTIME_DIR=str(sandbox / ".jupyter"),
        IPYTHONDIR=str(sandbox / ".ipython"),
    )
    return env


def _prepare_sandbox(submission: SubmittedFile, setup: GradingSetup, sandbox: Path) -> dict:
    """Fill the sandbox folder; returns the export request (it holds the grader's probe inputs)."""
    sandbox.mkdir(parents=True)
    nbformat.write(submission.notebook, sandbox / runner.NOTEBOOK)
    shutil.copytree(setup.public_tests_dir, sandbox / "tests")
    request = export_request()
    if setup.sandbox_user:
        entry = pwd.getpwnam(setup.sandbox_user)
        for path in [sandbox.parent, sandbox, *sandbox.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)
    return request


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _limit_resources() -> None:
    """In the runner's child: no fork bombs, no disk-filling files."""
    resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))


def _execute(sandbox: Path, setup: GradingSetup, request: dict) -> str | None:
    """Run the notebook in its own process; returns None, or 'timeout' when it ran too long."""
    command = [sys.executable, "-m", "grader.runner", str(sandbox), str(setup.timeout)]
    with (sandbox / "runner.log").open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=sandbox,
            env=_sandbox_env(sandbox, setup.threads),
            user=setup.sandbox_user,
            start_new_session=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=log,
            preexec_fn=_limit_resources if setup.sandbox_user else None,
        )
    try:
        process.communicate(json.dumps(request).encode(), timeout=setup.timeout + 60)
        return None
    except subprocess.TimeoutExpired:
        return "timeout"
    finally:
        _kill_group(process.pid)
        pid_file = sandbox / runner.KERNEL_PID
        if pid_file.is_file() and pid_file.read_text().strip().isdigit():
            _kill_group(int(pid_file.read_text()))


def _run_log(sandbox: Path) -> dict:
    try:
        log = json.loads((sandbox / runner.RUN_LOG).read_text())
        return log if isinstance(log, dict) else {}
    except (OSError, ValueError):
        return {}


def _runner_failure(sandbox: Path) -> str:
    """The last line the runner printed before it died without a run log."""
    try:
        lines = (sandbox / "runner.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return "the notebook could not be executed" + (f": {lines[-1]}" if lines else "")


def grade_one(path: Path, setup: GradingSetup) -> GradeRow:
    """Grade one submission file; never raises for a bad submission."""
    try:
        submission = read_submitted_file(path)
    except InvalidSubmission as error:
        return GradeRow(submission=path.name, status=Status.INVALID, message=str(error))
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        sandbox = Path(tmp) / "sandbox"
        request = _prepare_sandbox(submission, setup, sandbox)
        outcome = _execute(sandbox, setup, request)
        _keep_outputs(submission, sandbox, setup.out_dir)
        log = _run_log(sandbox)
        row = GradeRow(
            submission=path.name, status=Status.OK, cell_errors=log.get("cell_errors", [])
        )
        if outcome == "timeout" or "CellTimeoutError" in str(log.get("message", "")):
            row.status, row.message = (
                Status.TIMEOUT,
                f"the notebook ran longer than {setup.timeout} s",
            )
            return row
        if log.get("status") != "ok":
            row.status = Status.ERROR
            row.message = str(log.get("message") or _runner_failure(sandbox))[:300]
            return row
        try:
            data = load_exported_answers(sandbox / runner.ANSWERS_DIR)
        except ExportUnreadable as error:
            row.status, row.message = Status.ERROR, f"answers could not be exported: {error}"[:300]
            return row
    data.grader_inputs = {"q1_inputs": request["q1_inputs"]}
    row.questions = judge(data, setup.hidden_tests)
    row.review = review_flags(submission.notebook)
    notes = []
    if row.cell_errors:
        notes.append(f"{len(row.cell_errors)} cell(s) raised errors, first: {row.cell_errors[0]}")
    if row.review:
        notes.append(f"review: {row.review[0]}")
    row.message = "; ".join(notes)
    return row


def review_flags(notebook: nbformat.NotebookNode) -> list[str]:
    """Code that looks like it multiplies inputs in a forward (Q2's rule), per cell."""
    return [
        f"cell {index}: {finding}"
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for finding in q2.find_input_products(cell.source)
    ]


def _keep_outputs(submission: SubmittedFile, sandbox: Path, out_dir: Path) -> None:
    """Keep export, executed notebook and submitted PDF (audit, feedback, manual grading)."""
    export = sandbox / runner.ANSWERS_DIR
    if export.is_dir():
        shutil.copytree(export, out_dir / "answers" / submission.name, dirs_exist_ok=True)
    executed = sandbox / runner.EXECUTED
    if executed.is_file():
        (out_dir / "executed").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(executed, out_dir / "executed" / f"{submission.name}.ipynb")
    if submission.pdf:
        (out_dir / "pdfs").mkdir(parents=True, exist_ok=True)
        (out_dir / "pdfs" / f"{submission.name}.pdf").write_bytes(submission.pdf)
