"""The sandbox's trusted side, fast: safe reads, limits checked before work, keys, messages."""

import io
import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import torch
from rich.console import Console

from grader import hostile_notebooks as hostile
from grader.canvas import expand_inputs, is_canvas_download
from grader.data import DataUnavailable, default_data_dir, verify_data_dir
from grader.exported_answers import ExportUnreadable, load_exported_answers
from grader.grading import GradingSetup, _keep_outputs, one_line, output_key, unique_keys
from grader.modelspec import InvalidModel, ModelSpec, declared_parameters, rebuild
from grader.report.gradebook import Gradebook, print_table, terminal_text
from grader.results import GradeRow, Status
from grader.sandbox import (
    INSIDE,
    Sandbox,
    UnsafeFile,
    bwrap_command,
    parse_memory,
    read_file,
    regular_files,
    seccomp_program,
)
from grader.submitted_file import InvalidSubmission, SubmittedFile, read_submitted_file
from grader.testing import ROOT


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
    assert not is_canvas_download(bomb)  # Canvas-named, but never unpacked
    assert expand_inputs([bomb], tmp_path) == [bomb]
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
    files = expand_inputs([download], tmp_path)
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


def test_sandbox_sees_only_what_it_needs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    command = bwrap_command(tmp_path / "box", data, ["python"])
    sources = {command[i + 1] for i, arg in enumerate(command) if arg.startswith("--ro-bind")}
    writable = [command[i + 1] for i, arg in enumerate(command) if arg == "--bind"]
    assert writable == [str(tmp_path / "box")]
    for secret in ("build", "solutions", "grader/checks", "tests", ""):
        assert str(ROOT / secret).rstrip("/") not in sources
    assert str(data / "MNIST") in sources
    targets = [command[i + 2] for i, arg in enumerate(command) if arg == "--ro-bind"]
    assert str(data / "MNIST") in targets and str(INSIDE / "data" / "MNIST") in targets
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
    sandbox = Sandbox(data_dir=default_data_dir())
    sandbox.check(folder)
    box = folder / "box"
    box.mkdir()
    sandbox.prepare_folder(box)
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
        tests_dir=tmp_path / "missing",
        public_tests_dir=tmp_path / "missing",
        out_dir=tmp_path,
        timeout=1,
        data_dir=tmp_path / "no-data",
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
        verify_data_dir(tmp_path)


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
