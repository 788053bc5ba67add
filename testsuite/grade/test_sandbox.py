"""The sandbox's trusted side, fast: safe reads, limits checked before work, keys, messages."""

import contextlib
import io
import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import torch
from rich.console import Console

from grader.common.names import output_key, unique_keys
from grader.common.results import GradeRow, Status
from grader.common.safe_files import UnsafeFile, read_file, regular_files
from grader.common.text import one_line, terminal_text
from grader.grade import channel, memory
from grader.grade.canvas_inputs import expand_inputs
from grader.grade.data import DataUnavailable, default_data_dir, verify_data_dir
from grader.grade.grading import GradingSetup, _keep_outputs
from grader.grade.sandbox import (
    DISK,
    DataMount,
    Limits,
    Sandbox,
    bwrap_command,
    seccomp_program,
)
from grader.grade.submitted_file import InvalidSubmission, SubmittedFile, read_submitted_file
from grader.inside import runner
from grader.judge.exported_answers import ExportUnreadable, load_exported_answers
from grader.judge.modelspec import InvalidModel, ModelSpec, declared_parameters, rebuild
from grader.report.gradebook import Gradebook, print_table
from grader.settings import Settings, parse_disk, parse_memory
from testsuite import hostile_notebooks as hostile
from testsuite.helpers import COURSE, ROOT


def test_read_file_refuses_links_fifos_and_big_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("secret")
    box = tmp_path / "box"
    (box / "answers").mkdir(parents=True)
    (box / "answers" / "ok.json").write_text("{}")
    assert read_file(box, "answers/ok.json", 10) == b"{}"
    (box / "link").symlink_to(secret)
    (box / "dir_link").symlink_to(tmp_path)  # a link in the middle of the path
    os.mkfifo(box / "fifo")  # would block a reader that opens it naively
    (box / "big").write_bytes(b"x" * 11)
    for name in ("link", "dir_link/secret", "fifo", "big", "missing", "../secret"):
        with pytest.raises(UnsafeFile):
            read_file(box, name, 10)


def test_regular_files_skips_links_and_caps_the_count(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"a")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere")
    assert regular_files(tmp_path, "", 5) == ["a.png"]
    for index in range(5):
        (tmp_path / f"{index}.png").write_bytes(b"x")
    with pytest.raises(UnsafeFile, match="at most 5"):
        regular_files(tmp_path, "", 5)


def test_export_with_links_or_pickles_is_unreadable(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text('{"values": {}, "models": {}, "probes": {}, "problems": {}}')
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "export.json").symlink_to(secret)
    with pytest.raises(ExportUnreadable):
        load_exported_answers(linked)
    marker = tmp_path / "unpickled"
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    export = {"values": {}, "probes": {}, "problems": {}, "models": {"m": [["ReLU", {}]]}}
    (pickled / "export.json").write_text(json.dumps(export))
    (pickled / "weights.pt").write_bytes(pickle.dumps({"m": hostile._Payload(marker)}))
    with pytest.raises(ExportUnreadable, match="UnpicklingError"):
        load_exported_answers(pickled)
    assert not marker.exists()


def test_symlinked_executed_notebook_is_not_copied(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("SECRET")
    box, out = tmp_path / "box", tmp_path / "out"
    box.mkdir()
    out.mkdir()
    (box / "executed.ipynb").symlink_to(secret)
    notebook = nbformat.v4.new_notebook()
    submission = SubmittedFile(name="alice", source=tmp_path / "alice.ipynb", notebook=notebook)
    _keep_outputs(box, submission, {}, "alice", out)
    assert not (out / "executed" / "alice.ipynb").exists()


def test_model_limits_are_checked_before_allocation() -> None:
    assert declared_parameters("LayerNorm", {"normalized_shape": [8000, 8000]}) == 128_000_000
    assert declared_parameters("BatchNorm1d", {"num_features": 100}) == 400
    for layers in (
        [("LayerNorm", {"normalized_shape": [8000, 8000]})],
        [("Linear", {"in_features": 100_000, "out_features": 100_000, "bias": True})],
        [("Identity", {})] * 200_001,
        [("LayerNorm", {"normalized_shape": [2] * 50})],
        [("Linear", {"in_features": True, "out_features": 2, "bias": True})],
    ):
        with pytest.raises(InvalidModel):
            rebuild(ModelSpec(layers=layers))
    small = [("LayerNorm", {"normalized_shape": [3], "elementwise_affine": False})]
    model = rebuild(ModelSpec(layers=small, state_dict={}))
    assert isinstance(model[0], torch.nn.LayerNorm)


def test_zip_limits(tmp_path: Path) -> None:
    bomb = hostile.zip_bomb(tmp_path / "bomb.zip")
    assert expand_inputs([bomb], tmp_path) == [bomb]  # Canvas-named, but never unpacked
    [member] = expand_inputs([], tmp_path, [bomb])  # named a download: its member is refused
    assert "zip bomb" in member.reason
    with pytest.raises(InvalidSubmission, match="zip bomb"):
        read_submitted_file(bomb)
    escape = tmp_path / "escape.zip"
    with zipfile.ZipFile(escape, "w") as archive:
        archive.writestr("../evil_1_2_x.ipynb", "{}")
    with pytest.raises(InvalidSubmission, match="outside its folder"):
        read_submitted_file(escape)
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as archive:
        info = zipfile.ZipInfo("homework.ipynb")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(InvalidSubmission, match="link"):
        read_submitted_file(link)


def test_canvas_members_with_one_base_name_are_both_kept(tmp_path: Path) -> None:
    download = tmp_path / "submissions.zip"
    with zipfile.ZipFile(download, "w") as archive:
        archive.writestr("a/doejane_101_201_homework.ipynb", "{}")
        archive.writestr("b/doejane_101_201_homework.ipynb", "[]")
    files = expand_inputs([], tmp_path, [download])
    assert sorted(f.read_text() for f in files) == ["[]", "{}"]


def test_lone_surrogate_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidSubmission, match="not valid Unicode"):
        read_submitted_file(hostile.surrogate(tmp_path / "s.ipynb"))


def test_output_keys_are_safe_and_unique() -> None:
    assert output_key(Path("alice.ipynb")) == "alice"
    assert output_key(Path("alice.zip")).startswith("alice-")
    assert output_key(Path("...ipynb")).startswith("submission-")
    assert "/" not in output_key(Path("x/[red]a b[/red].ipynb"))
    keys = unique_keys([Path("a/alice.ipynb"), Path("b/alice.ipynb"), Path("alice.zip")])
    assert len(set(keys)) == 3 and keys[:2] == ["alice", "alice-2"]


def test_terminal_text_strips_control_characters_and_markup() -> None:
    text = terminal_text("\x1b[2J\x1b[32mALL TESTS PASSED [/] [bold]x\x07")
    assert "\x1b" not in text.plain and "\x07" not in text.plain
    assert "[/] [bold]x" in text.plain
    row = GradeRow(submission="[red]a.ipynb", status=Status.ERROR, message="[/] \x1b[2J boom")
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    print_table(Gradebook([row], {"q1": 9.0}), console)
    printed = console.file.getvalue()
    assert "[/] ?[2J boom" in printed and "[red]a.ipynb" in printed


def test_messages_are_one_line_of_valid_utf8() -> None:
    message = one_line("boom \ud800\nsecond line" + "x" * 1000)
    assert "\n" not in message and len(message) <= 300
    message.encode("utf-8")  # a lone surrogate would make grades.csv unwritable


def test_memory_sizes() -> None:
    assert parse_memory("2G") == parse_memory("2GiB") == 2 * 2**30
    assert parse_memory("512M") == 512 * 2**20
    for bad in ("lots", "1K", ""):
        with pytest.raises(ValueError):
            parse_memory(bad)
    assert parse_disk("200M") == 200 * 2**20
    assert Settings.from_mapping({"disk": "1G"}).disk_bytes == 2**30
    with pytest.raises(ValueError, match="too little disk"):
        parse_disk("1M")


def test_sandbox_sees_only_what_it_needs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    mount = DataMount(data, "MNIST", "HOMEWORK_DATA_DIR")
    command = bwrap_command(tmp_path / "box", mount, ["python"])
    sources = {command[i + 1] for i, arg in enumerate(command) if arg.startswith("--ro-bind")}
    writable = [command[i + 1] for i, arg in enumerate(command) if arg == "--bind"]
    assert writable == []  # all it can write is its --disk tmpfs, holding the folder and /tmp
    assert str(tmp_path / "box" / "homework.ipynb") in sources  # its inputs, read-only
    for secret in ("build", "solutions", "solutions/questions", "tests", ""):
        assert str(ROOT / secret).rstrip("/") not in sources
    assert str(data / "MNIST") in sources
    targets = [command[i + 2] for i, arg in enumerate(command) if arg == "--ro-bind"]
    seen_at = DISK / "tmp" / data.relative_to("/tmp") if data.is_relative_to("/tmp") else data
    assert str(seen_at / "MNIST") in targets and str(DISK / "submission/data/MNIST") in targets
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--disable-userns"):
        assert flag in command


KEYCTL = hostile.SYSCALL_NUMBERS[platform.machine()][0]


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder the sandbox user may enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder)


def run_in_sandbox(folder: Path, code: str) -> subprocess.CompletedProcess:
    """``python -c code`` in a real sandbox, with the system-call filter, as grading starts it."""
    data_dir = default_data_dir(COURSE.data)
    sandbox = Sandbox(data=DataMount(data_dir, COURSE.data.folder, COURSE.data.variable))
    sandbox.check(folder)
    box = folder / "box"
    box.mkdir()
    sandbox.hand_over(box)
    return sandbox.run_python(box, code, sandbox.user)


def test_submissions_cannot_leave_their_cores(scratch: Path) -> None:
    assert seccomp_program(), "libseccomp was not found"
    code = "import os; os.sched_setaffinity(0, os.sched_getaffinity(0))"  # even a no-op fails
    result = run_in_sandbox(scratch, code)
    assert result.returncode == 1 and "PermissionError" in result.stderr, result.stderr


def test_submissions_cannot_reach_kernel_keyrings(scratch: Path) -> None:
    code = f"import ctypes, os; print(ctypes.CDLL(None).syscall({KEYCTL}, 0, -4, 0))"
    outside = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert int(outside.stdout) > 0  # keyctl(GET_KEYRING_ID, the user's keyring) works here
    assert run_in_sandbox(scratch, code).stdout.strip() == "-1"


def test_setup_does_no_work_in_its_constructor(tmp_path: Path) -> None:
    setup = GradingSetup(
        course=COURSE,
        out_dir=tmp_path,
        settings=Settings(cell_seconds=1),
        data_dir=tmp_path / "no-data",
        tests_dir=tmp_path / "missing",
        public_tests_dir=tmp_path / "missing",
    )
    assert setup.sandbox and setup.threads == 1
    with pytest.raises(DataUnavailable, match="make data"):
        setup.prepare()


def test_altered_data_is_refused(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"not mnist")
    with pytest.raises(DataUnavailable, match="not the published"):
        verify_data_dir(COURSE.data, tmp_path)


def grade_command(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grader", "grade", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )


needs_build = pytest.mark.skipif(
    not (ROOT / "build" / "autograder" / "tests").is_dir(), reason="run `grader build` first"
)


@needs_build
def test_missing_data_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = grade_command("--out", str(tmp_path / "o"), "--data-dir", str(tmp_path), "x.ipynb")
    assert result.returncode == 2
    assert "MNIST is missing" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@needs_build
def test_missing_bubblewrap_stops_with_the_install_command(tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    result = grade_command("--out", str(tmp_path / "o"), "x.ipynb", PATH=str(bare))
    assert result.returncode == 2
    assert "apt-get install bubblewrap" in " ".join(result.stderr.split())


def test_one_disk_limit_for_folder_tmp_and_shm(scratch: Path) -> None:
    """Files under the per-file limit in the folder, /tmp and /dev/shm share one --disk; past it
    writes fail inside with ENOSPC, and /dev itself is read-only."""
    code = """
import errno, os
written = 0
for turn, where in enumerate(("/submission", "/tmp", "/dev/shm", "/submission")):
    try:
        for index in range(100):
            with open(f"{where}/f{turn}-{index}", "wb") as handle:
                handle.write(b"x" * 8_000_000)
            written += 8_000_000
    except OSError as error:
        assert error.errno == errno.ENOSPC, error
        print(where, "full after", written)
try:
    open("/dev/evil", "wb")
except OSError as error:
    print("dev", error.errno == errno.EROFS)
print(os.statvfs("/tmp").f_blocks * os.statvfs("/tmp").f_frsize)
"""
    sandbox = Sandbox(limits=Limits(disk_bytes=64 * 2**20))
    sandbox.check(scratch)
    box = scratch / "box"
    box.mkdir()
    sandbox.hand_over(box)
    result = sandbox.run_python(box, code, sandbox.user)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    full = [int(line.split()[-1]) for line in lines if "full after" in line]
    assert len(full) == 4 and max(full) < 64 * 2**20 and full[0] > 56 * 2**20, lines
    assert "dev True" in lines and lines[-1] == str(64 * 2**20)
    assert list(box.iterdir()) == []  # nothing was written outside


def tar_of(members: list[tuple[tarfile.TarInfo, bytes]]) -> io.BytesIO:
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as archive:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    stream.seek(0)
    return stream


def test_channel_writes_only_the_runners_regular_files(tmp_path: Path) -> None:
    link = tarfile.TarInfo("answers/export.json")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    members = [
        (tarfile.TarInfo("run.json"), b"{}"),
        (link, b""),
        (tarfile.TarInfo("../escape"), b"x"),
        (tarfile.TarInfo("answers/../../escape"), b"x"),
        (tarfile.TarInfo("homework.ipynb"), b"forged input"),
        (tarfile.TarInfo("answers/files/a.png"), b"x" * (channel.MAX_MEMBER_BYTES + 10)),
    ]
    folder = tmp_path / "box"
    folder.mkdir()
    assert channel.receive(tar_of(members), folder) == ""
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert written == ["answers/files/a.png", "run.json"]
    assert (folder / "answers/files/a.png").stat().st_size == channel.MAX_MEMBER_BYTES
    assert not (tmp_path / "escape").exists()
    many = [(tarfile.TarInfo(f"answers/f{i}"), b"x") for i in range(channel.MAX_MEMBERS + 1)]
    assert "more than" in channel.receive(tar_of(many), tmp_path / "other")


def test_runner_ships_what_the_channel_takes(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    (source / "answers" / "files").mkdir(parents=True)
    (source / "answers" / "export.json").write_text("{}")
    (source / "answers" / "files" / "fig.png").write_bytes(b"png")
    (source / "answers" / "passwd").symlink_to("/etc/passwd")
    (source / "executed.ipynb").write_text("nb")
    target.mkdir()
    stream = io.BytesIO()
    runner.ship(source, stream, {"status": "error", "message": "disk full"})
    stream.seek(0)
    assert channel.receive(stream, target) == ""
    assert json.loads((target / "run.json").read_text())["message"] == "disk full"
    assert (target / "answers" / "files" / "fig.png").read_bytes() == b"png"
    assert not (target / "answers" / "passwd").exists()


def test_watcher_stops_processes_past_the_limit_together() -> None:
    """Four processes of 60 MB each pass a 150 MB limit together, none alone."""
    code = (
        "import os, time\n"
        "for _ in range(3):\n"
        "    if os.fork() == 0:\n"
        "        break\n"
        "block = b'x' * 60_000_000\n"
        "time.sleep(30)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    watcher = memory.Watcher(process.pid, 150_000_000, lambda: os.killpg(process.pid, 9))
    try:
        assert process.wait(timeout=20) == -9 and watcher.exceeded
    finally:
        watcher.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)


def test_a_cgroup_is_found_where_the_machine_allows_one() -> None:
    """As root on this kind of machine (v1 memory hierarchy or a delegated v2): a cgroup; the
    sandbox's warning says so when there is none."""
    parent = memory.find_cgroup_parent()
    if os.geteuid() == 0 and Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
        assert parent is not None and parent.version == 1
    sandbox = Sandbox(cgroups=parent)
    assert (memory.FALLBACK_NOTE in sandbox._weaker(None)) == (parent is None)


def test_watcher_counts_pages_shared_after_fork_once() -> None:
    """A 100 MB block shared by four forks is 100 MB, not 400 MB, against a 250 MB limit."""
    code = (
        "import os, time\n"
        "block = b'x' * 100_000_000\n"
        "for _ in range(3):\n"
        "    if os.fork() == 0:\n"
        "        break\n"
        "time.sleep(3)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    watcher = memory.Watcher(process.pid, 250_000_000, lambda: os.killpg(process.pid, 9))
    try:
        assert process.wait(timeout=30) == 0 and not watcher.exceeded
    finally:
        watcher.close()
