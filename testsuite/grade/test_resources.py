"""End to end: one submission's disk, memory and Canvas member cost only that submission.

Graded as root and as a normal user, with small limits (``--disk 200M --memory 1G``), each
hostile input between honest notebooks that must score exactly what they score alone: many files
under the per-file limit that together pass the disk limit, ``/dev/shm`` and ``/tmp`` filled, 64
processes each allocating just under the per-process limit, a Canvas download with one unsafe and
one corrupted member among honest ones, and a student's zip whose members carry Canvas names.
"""

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from testsuite import hostile_notebooks as hostile
from testsuite.grade.test_canvas import corrupt_member
from testsuite.grade.test_hostile import (  # noqa: F401 (fixtures)
    alone,
    leftover_processes,
    read_rows,
    run_grade,
    scores,
    test_user,
    world_readable_dir,
)
from testsuite.helpers import ROOT

pytestmark = pytest.mark.slow
DISK = 200 * 2**20
MEMORY = 2**30
ALLOCATION = MEMORY - 256 * 2**20  # just under the per-process limit (the fork's own data too)


@dataclass
class Batch:
    out: Path
    rows: dict[str, dict[str, str]]
    honest: list[str]
    tag: str

    def printed(self, name: str) -> str:
        path = self.out / "executed" / f"{Path(name).stem}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        return "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))


def canvas_download(folder: Path) -> Path:
    """Two honest students, one member whose name leaves the folder, one corrupted member."""
    honest = hostile.honest_small(folder / "canvas-honest.ipynb").read_bytes()
    download = folder / "submissions.zip"
    with zipfile.ZipFile(download, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doejane_101_201_homework.ipynb", honest)
        archive.writestr("../../x_444_4_slip.ipynb", honest)
        archive.writestr("broken_105_206_homework.ipynb", honest)
        archive.writestr("roejohn_102_203_homework.ipynb", honest)
    corrupt_member(download, "broken_105_206_homework.ipynb")
    return download


def posing_zip(folder: Path) -> Path:
    """A student's own zip whose members pose as other students' Canvas uploads."""
    upload = folder / "mallory.zip"
    honest = hostile.honest_small(folder / "posing.ipynb").read_bytes()
    with zipfile.ZipFile(upload, "w") as archive:
        archive.writestr("victim_104_205_homework.ipynb", honest)
        archive.writestr("victim_104_205_homework.pdf", b"%PDF-1.4 not the victim's")
    return upload


def two_fillers(path: Path) -> Path:
    """/dev/shm filled, then /tmp: the second finds no room left."""
    cells = []
    for where in ("/dev/shm/filler", "/tmp/filler"):
        filler = hostile.disk_filler(path, where, 4 * DISK, 20_000_000)
        cells += nbformat.read(filler, as_version=4).cells
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


@contextlib.contextmanager
def resource_batch(user: pwd.struct_passwd | None) -> Iterator[Batch]:
    folder = world_readable_dir(None)
    private = world_readable_dir(user)
    private.chmod(0o711)
    data_link = private / "data"  # the batch's own HOMEWORK_DATA_DIR: tags its processes
    data_link.symlink_to(Path(os.environ.get("HOMEWORK_DATA_DIR", ROOT / "data")).absolute())
    hostile_inputs = [
        hostile.disk_filler(folder / "many_files.ipynb", "many", 4 * DISK, 5_000_000),
        two_fillers(folder / "shm_and_tmp.ipynb"),
        hostile.many_allocators(folder / "allocators.ipynb", 64, ALLOCATION),
        posing_zip(folder),
    ]
    inputs, honest = [], []
    for index, path in enumerate(hostile_inputs):
        honest.append(f"honest_{index}.ipynb")
        inputs += [hostile.honest_small(folder / honest[-1]), path]
    honest.append("honest_last.ipynb")
    inputs.append(hostile.honest_small(folder / honest[-1]))
    download = canvas_download(folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    out = private / "out"
    out.mkdir()
    if user:
        for path in (out, private):
            os.chown(path, user.pw_uid, user.pw_gid)
    options = ["--disk", "200M", "--memory", "1G", "--timeout", "300", "--jobs", "2"]
    options += ["--data-dir", str(data_link), "--canvas", str(download)]
    try:
        result = run_grade(inputs, out, user, *options)
        assert result.returncode == 0, result.stderr[-3000:]
        yield Batch(out, read_rows(out), honest, str(data_link))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


def check_batch(batch: Batch, alone: dict[str, tuple[str, ...]]) -> None:  # noqa: F811
    rows = batch.rows
    assert not leftover_processes(batch.tag), leftover_processes(batch.tag)
    for name in batch.honest:
        assert scores(rows, name) == alone["small"], f"{name} scored differently in the batch"
    many = batch.printed("many_files.ipynb")
    assert "blocked after" in many and "LEAK" not in many, many
    assert int(many.split("blocked after")[1].split()[0]) < DISK
    filled = batch.printed("shm_and_tmp.ipynb")
    assert filled.count("blocked after") == 2 and "LEAK" not in filled, filled
    assert int(filled.split("blocked after")[2].split()[0]) < 20_000_000  # /tmp: no room left
    allocators = rows["allocators.ipynb"]
    assert allocators["status"] == "error" and "memory limit" in allocators["message"], allocators
    # Canvas: each bad member its own invalid row, its student named; the others graded alone
    for name in ("doejane_101_201_homework.ipynb", "roejohn_102_203_homework.ipynb"):
        assert scores(rows, name) == alone["small"], rows[name]
    slip = rows["../../x_444_4_slip.ipynb"]
    assert slip["status"] == "invalid" and "leaves the download's folder" in slip["message"]
    broken = rows["broken_105_206_homework.ipynb"]
    assert broken["status"] == "invalid" and "corrupted" in broken["message"], broken
    # A student's zip with Canvas-style members: one submission, nobody else's row
    assert scores(rows, "mallory.zip") == alone["small"]
    assert not [name for name in rows if name.startswith("victim")]
    # The Canvas import waits for the written marks; a partial one shows whose rows it holds.
    report = [sys.executable, "-m", "grader", "report", "--out", str(batch.out), "--partial"]
    subprocess.run(report, cwd=ROOT, check=True, capture_output=True)
    canvas = (batch.out / "canvas_grades.csv").read_text()
    assert ",444," in canvas and ",105," in canvas and ",104," not in canvas


def test_resources_as_root(alone) -> None:  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("the root batch needs root (CI runs as root)")
    with resource_batch(None) as batch:
        check_batch(batch, alone)
        assert "no memory cgroup" not in " ".join(r["message"] for r in batch.rows.values())


def test_resources_as_normal_user(test_user, alone) -> None:  # noqa: F811
    with resource_batch(test_user) as batch:
        check_batch(batch, alone)
