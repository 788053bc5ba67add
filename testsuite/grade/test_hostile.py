"""End to end: hostile submissions graded between honest ones, as root and as a normal user.

Each hostile notebook (``testsuite.hostile_notebooks``) attacks the grader, the other submissions or
the machine; the honest ones around it must score exactly what they score when graded alone, no
process of the batch may be left, and nothing secret may reach the outputs.
"""

import contextlib
import csv
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from grader.settings import Settings
from testsuite import hostile_notebooks as hostile
from testsuite.helpers import EXAMPLES, ROOT

pytestmark = pytest.mark.slow
TEST_USER = "gradertest"
SECRET_TEXT = "TOP-SECRET-OF-THE-GRADER"


@dataclass
class Batch:
    out: Path
    rows: dict[str, dict[str, str]]
    stdout: str
    stderr: str
    tag: str  # in the environment of every process of this batch's sandboxes
    secrets: hostile.Secrets
    honest: dict[str, str]  # submission -> which honest notebook it is ("small" or "full")
    hostile: dict[str, str]  # behaviour -> submission

    def executed_text(self, behaviour: str) -> str:
        notebook = nbformat.read(self.out / "executed" / f"{self._key(behaviour)}.ipynb", 4)
        return "\n".join(
            output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
        )

    def _key(self, behaviour: str) -> str:
        return Path(self.hostile[behaviour]).stem

    def row(self, behaviour: str) -> dict[str, str]:
        return self.rows[self.hostile[behaviour]]

    def feedback(self, behaviour: str) -> str:
        return (self.out / "feedback" / f"{self._key(behaviour)}.md").read_text()


def leftover_processes(tag: str) -> list[str]:
    """Command lines of processes of one batch that still run: its submissions' daemons (with
    ``MARKER``) and anything whose command line or environment holds the batch's ``tag`` (every
    sandboxed process inherits ``HOMEWORK_DATA_DIR``, which the batch points at a path of its own).
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            if hostile.MARKER in line or tag in line or tag in environ:
                found.append(f"{entry.name}: {line[:200]}")
    return found


def scores(rows: dict[str, dict[str, str]], name: str) -> tuple[str, ...]:
    row = rows[name]
    # autograded, not total: the submission policy (PDF, late) is not a neighbour's doing
    return row["q1"], row["q2"], row["q4"], row["q5"], row["autograded"], row["status"]


@pytest.fixture(scope="module")
def test_user() -> pwd.struct_passwd:
    """An unprivileged user created for the second run (CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("creating a user needs root; run as a normal user, the root batch is this one")
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
            check=True,
        )
        return pwd.getpwnam(TEST_USER)


def world_readable_dir(owner: pwd.struct_passwd | None) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="hostile-"))
    folder.chmod(0o755)
    if owner:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    return folder


def run_grade(
    inputs: list[Path], out: Path, user: pwd.struct_passwd | None, *extra: str
) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "grader", "grade", "--out", str(out), *extra]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(out.parent),
        "LANG": "C.UTF-8",
        "HOMEWORK_DATA_DIR": os.environ.get("HOMEWORK_DATA_DIR", str(ROOT / "data")),
    }
    identity = {}
    if user:
        identity = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    return subprocess.run(
        [*command, *map(str, inputs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
        **identity,
    )


def read_rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "grades.csv").open() as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def alone() -> dict[str, tuple[str, ...]]:
    """The honest notebooks graded on their own (default memory limit)."""
    folder = Path(tempfile.mkdtemp(prefix="honest-"))
    try:
        inputs = [hostile.honest_small(folder / "small.ipynb")]
        inputs.append(hostile.honest_full(folder / "full.ipynb"))
        result = run_grade(inputs, folder / "out", None)
        assert result.returncode == 0, result.stderr
        rows = read_rows(folder / "out")
        return {kind: scores(rows, f"{kind}.ipynb") for kind in ("small", "full")}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


ALL_BEHAVIOURS = (
    "tamper",
    "symlinks",
    "forged_pid",
    "dots",
    "escapes",
    "nul_byte",
    "surrogate",
    "deep_expression",
    "pickle_weights",
    "process_storm",
    "cpu_hog",
    "memory_hog",
    "network",
    "snoop",
    "huge_model",
    "big_files",
    "big_output",
    "display_flood",
    "zip_bomb",
    "same_stem",
)
USER_BEHAVIOURS = (
    "tamper",
    "symlinks",
    "forged_pid",
    "process_storm",
    "cpu_hog",
    "memory_hog",
    "network",
    "snoop",
    "display_flood",
)


@contextlib.contextmanager
def hostile_batch(behaviours: tuple[str, ...], user: pwd.struct_passwd | None) -> Iterator[Batch]:
    """Grade each hostile notebook between honest ones, in one run with --memory 2G."""
    folder = world_readable_dir(None)
    private = world_readable_dir(user)
    private.chmod(0o711)  # the sandbox user may pass through to the data link, not list it
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    identity = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    victim = subprocess.Popen(["sleep", "86400"], **identity)
    secret = private / "secret.txt"
    secret.write_text(SECRET_TEXT)
    secret.chmod(0o600)
    if user:
        os.chown(secret, user.pw_uid, user.pw_gid)
    secrets = hostile.Secrets(
        secret=secret,
        pickle_marker=private / "unpickled",
        victim=victim.pid,
        port=listener.getsockname()[1],
    )
    out = private / "out"
    data_link = private / "data"  # the batch's own HOMEWORK_DATA_DIR: tags its processes
    data_link.symlink_to(Path(os.environ.get("HOMEWORK_DATA_DIR", ROOT / "data")).absolute())
    makers = {
        "tamper": lambda p: hostile.tamper(p),
        "symlinks": lambda p: hostile.symlinks(p, secrets.secret),
        "forged_pid": lambda p: hostile.forged_pid(p, secrets.victim),
        "dots": None,
        "escapes": lambda p: hostile.escapes(p),
        "nul_byte": lambda p: hostile.nul_byte(p),
        "surrogate": lambda p: hostile.surrogate(p),
        "deep_expression": lambda p: hostile.deep_expression(p),
        "pickle_weights": lambda p: hostile.pickle_weights(p, secrets.pickle_marker),
        "process_storm": lambda p: hostile.process_storm(p),
        "cpu_hog": lambda p: hostile.cpu_hog(p),
        "memory_hog": lambda p: hostile.memory_hog(p),
        "network": lambda p: hostile.network(p, secrets.port),
        "snoop": lambda p: hostile.snoop(p, ROOT, out, data_link),
        "huge_model": lambda p: hostile.huge_model(p),
        "big_files": lambda p: hostile.big_files(p),
        "big_output": lambda p: hostile.big_output(p),
        "display_flood": lambda p: hostile.display_flood(p),
        "zip_bomb": None,
        "same_stem": None,
    }
    inputs: list[Path] = []
    honest: dict[str, str] = {}
    behaviour_files: dict[str, str] = {}

    def add_honest(kind: str, name: str) -> None:
        maker = hostile.honest_full if kind == "full" else hostile.honest_small
        inputs.append(maker(folder / name))
        honest[name] = kind

    add_honest("full", "honest_full_1.ipynb")
    for index, behaviour in enumerate(behaviours):
        if behaviour == "dots":  # an honest notebook whose stem is '..'
            add_honest("small", "...ipynb")
            behaviour_files[behaviour] = "...ipynb"
        elif behaviour == "zip_bomb":
            inputs.append(hostile.zip_bomb(folder / "bomb.zip"))
            behaviour_files[behaviour] = "bomb.zip"
        elif behaviour == "same_stem":  # alice.ipynb and alice.zip: outputs must not collide
            add_honest("small", "alice.ipynb")
            inputs.append(hostile.export_zip(folder / "alice.zip", EXAMPLES / "blank.ipynb"))
            behaviour_files[behaviour] = "alice.zip"
        else:
            name = f"{behaviour}.ipynb"
            inputs.append(makers[behaviour](folder / name))
            behaviour_files[behaviour] = name
        add_honest("small", f"honest_{index}.ipynb")
    add_honest("small", "[red]loud[blink].ipynb")  # rich markup in a file name
    add_honest("full", "honest_full_2.ipynb")
    for path in folder.iterdir():
        path.chmod(0o644)
    out.mkdir()
    if user:
        os.chown(out, user.pw_uid, user.pw_gid)
        os.chown(private, user.pw_uid, user.pw_gid)
    try:
        options = ["--memory", "2G", "--timeout", "300", "--jobs", "2"]
        options += ["--data-dir", str(data_link)]
        result = run_grade(inputs, out, user, *options)
        assert result.returncode == 0, result.stderr[-3000:]
        yield Batch(
            out=out,
            rows=read_rows(out),
            stdout=result.stdout,
            stderr=result.stderr,
            tag=str(data_link),
            secrets=secrets,
            honest=honest,
            hostile=behaviour_files,
        )
        with contextlib.suppress(BlockingIOError):
            connection, _ = listener.accept()
            connection.close()
            pytest.fail("a submission connected to the test's loopback port")
        assert victim.poll() is None, "a submission killed a process of the grader's user"
    finally:
        victim.kill()
        victim.wait()
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


def check_batch(batch: Batch, alone: dict[str, tuple[str, ...]]) -> None:
    """What must hold for every batch, whoever runs it."""
    assert not leftover_processes(batch.tag), leftover_processes(batch.tag)
    for name, kind in batch.honest.items():
        assert scores(batch.rows, name) == alone[kind], f"{name} scored differently in the batch"
    every_output = [p for p in batch.out.rglob("*") if p.is_file() and not p.is_symlink()]
    for path in every_output:
        assert SECRET_TEXT.encode() not in path.read_bytes(), f"the secret leaked into {path}"
    assert SECRET_TEXT not in batch.stdout + batch.stderr
    assert "\x1b" not in batch.stdout + batch.stderr, "an escape sequence reached the terminal"
    assert not (ROOT / "grader" / "pwned_by_submission.py").exists()
    assert not (batch.out / "pwned.txt").exists()
    assert not Path("/tmp/left-behind").exists(), "a submission's /tmp file outlived it"
    assert not batch.secrets.pickle_marker.exists(), "the judge ran a pickle's payload"
    behaviours = batch.hostile
    if "symlinks" in behaviours:
        assert batch.row("symlinks")["status"] == "error"
    if "forged_pid" in behaviours:
        assert "LEAK" not in batch.executed_text("forged_pid")
    if "process_storm" in behaviours:
        text = batch.executed_text("process_storm")
        forked = int(text.split("forked")[1].split()[0])
        assert forked < 256, f"{forked} processes: the process limit did not hold"
    if "cpu_hog" in behaviours:
        text = batch.executed_text("cpu_hog")
        assert "LEAK" not in text and text.count("blocked") == 3 and "spun" in text, text
        cores = set(json.loads(text.split("cores")[1].splitlines()[0]))
        allowed = os.sched_getaffinity(0)
        assert cores <= allowed and (len(cores) < len(allowed) or len(allowed) == 1), cores
    if "memory_hog" in behaviours:
        row = batch.row("memory_hog")
        assert row["status"] == "error" and "memory limit (2 GiB)" in row["message"], row
    if "network" in behaviours:
        text = batch.executed_text("network")
        assert "LEAK" not in text and text.count("blocked") == 2, text
    if "display_flood" in behaviours:  # graded, and its executed notebook within the cap
        assert batch.row("display_flood")["status"] == "ok", batch.row("display_flood")
        assert "flooded" in batch.executed_text("display_flood")
        executed = batch.out / "executed" / f"{batch._key('display_flood')}.ipynb"
        assert executed.stat().st_size < 2 * Settings.output_bytes
    if "snoop" in behaviours:
        text = batch.executed_text("snoop")
        assert "LEAK" not in text, text
        assert "MNIST beside the notebook: 60000" in text, text
        assert "MNIST at HOMEWORK_DATA_DIR: 10000" in text, text


@pytest.fixture(scope="module")
def root_batch(alone) -> Iterator[Batch]:
    if os.geteuid() != 0:
        pytest.skip("the root batch needs root (CI runs as root)")
    with hostile_batch(ALL_BEHAVIOURS, None) as batch:
        yield batch


def test_hostile_batch_as_root(root_batch: Batch, alone) -> None:
    check_batch(root_batch, alone)


def test_hostile_batch_as_normal_user(test_user, alone) -> None:
    with hostile_batch(USER_BEHAVIOURS, test_user) as batch:
        check_batch(batch, alone)


def test_every_submission_gets_its_row(root_batch: Batch) -> None:
    expected = {"surrogate": "invalid", "zip_bomb": "invalid", "pickle_weights": "error"}
    expected |= {"big_files": "error", "huge_model": "ok", "escapes": "ok", "dots": "ok"}
    expected |= {"deep_expression": "ok"}  # its cell raised (ipykernel sends no reply), no more
    for behaviour, status in expected.items():
        assert root_batch.row(behaviour)["status"] == status, root_batch.row(behaviour)
    assert {"nul_byte", "deep_expression", "big_output"} <= set(root_batch.hostile)
    for behaviour in ("nul_byte", "deep_expression", "big_output", "tamper"):
        assert root_batch.row(behaviour)["status"] in ("ok", "error", "timeout")
    assert "not valid Unicode" in root_batch.row("surrogate")["message"]
    assert "zip bomb" in root_batch.row("zip_bomb")["message"]
    assert "UnpicklingError" in root_batch.row("pickle_weights")["message"]


def test_limits_before_work(root_batch: Batch) -> None:
    feedback = root_batch.feedback("huge_model")
    assert "200,001 layers (at most 1,000)" in feedback
    assert "128,000,000 parameters" in feedback  # LayerNorm([8000, 8000]), refused unbuilt
    assert "parameters (at most" in feedback
    answers = root_batch.out / "answers"
    assert all(p.stat().st_size <= 20_000_000 for p in answers.rglob("*") if p.is_file())
    assert "larger than" in root_batch.row("big_files")["message"]
    executed = root_batch.out / "executed" / "big_output.ipynb"
    assert executed.stat().st_size < 10_000_000  # 200 MB printed, a few MB kept
    assert "further output not kept" in executed.read_text()


def test_outputs_are_keyed_safely(root_batch: Batch) -> None:
    out = root_batch.out
    assert sorted(p.name for p in out.iterdir()) == [
        "answers",
        "class_report.md",
        "class_stats.csv",
        "executed",
        "feedback",
        "grades.csv",
        "manual.csv",
        "pdfs",
        "plots",
        "results",
        "similarity",
    ]
    dots = [p for p in (out / "executed").iterdir() if p.name.startswith("submission-")]
    assert len(dots) == 1  # '...ipynb' got a key of its own
    executed = {p.name for p in (out / "executed").iterdir()}
    assert "alice.ipynb" in executed
    zip_keys = [name for name in executed if name.startswith("alice-")]
    assert len(zip_keys) == 1, executed
    assert (out / "pdfs" / zip_keys[0].replace(".ipynb", ".pdf")).is_file()
    assert (out / "feedback" / "alice.md").is_file()
    assert (out / "feedback" / zip_keys[0].replace(".ipynb", ".md")).is_file()


def test_text_from_submissions_is_printed_as_text(root_batch: Batch) -> None:
    assert "[red]loud[blink].ipynb" in root_batch.rows
    flat = " ".join(root_batch.stdout.split())
    assert "[red]loud[blink]" in flat
    assert "ALL TESTS PASSED" in root_batch.row("escapes")["message"]
