"""Class grading: inputs, shards, the results store and resume decisions (fast, no grading)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.common import sources
from grader.common import store as store_module
from grader.common.results import GradeRow, Status
from grader.common.store import Record, ResultStore, autograder_digest, file_digest
from grader.grade import batch
from grader.grade.batch import (
    collect_inputs,
    cpu_sets,
    default_jobs,
    parse_shard,
    plan,
    select_shard,
    threads_per_job,
)
from grader.grade.sandbox import THREAD_VARIABLES, Limits, sandbox_env
from testsuite.helpers import COURSE, ROOT


def canvas_download(folder: Path) -> Path:
    download = folder / "submissions.zip"
    with zipfile.ZipFile(download, "w") as archive:
        archive.writestr("doejane_101_201_homework.ipynb", "{}")
        archive.writestr("doejane_101_202_homework.pdf", "%PDF jane")
        archive.writestr("roejohn_LATE_102_203_homework.ipynb", "{}")
        archive.writestr("moejoe_103_204_homework.pdf", "%PDF joe")
    return download


def test_canvas_pairs_pdfs_and_reads_late_once(tmp_path: Path) -> None:
    local = tmp_path / "alice.ipynb"
    local.write_text("{}")
    inputs = collect_inputs([local], tmp_path, [canvas_download(tmp_path)])
    by_name = {item.identity: item for item in inputs}
    assert list(by_name) == sorted(by_name)  # deterministic order
    jane = by_name["doejane_101_201_homework.ipynb"]
    assert jane.pdf.read_text() == "%PDF jane" and not jane.canvas.late
    john = by_name["roejohn_LATE_102_203_homework.ipynb"]
    assert john.pdf is None and john.canvas.late
    assert by_name["moejoe_103_204_homework.pdf"].pdf_only
    assert by_name["alice.ipynb"].canvas is None
    assert "doejane_101_202_homework.pdf" not in by_name  # graded with its notebook


def test_same_name_twice_gets_distinct_identities(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "alice.ipynb").write_text(folder)
    inputs = collect_inputs([tmp_path / "a", tmp_path / "b"], tmp_path)
    assert [item.identity for item in inputs] == ["alice.ipynb", "alice.ipynb#2"]


def test_shards_partition_the_inputs(tmp_path: Path) -> None:
    for index in range(7):
        (tmp_path / f"s{index}.ipynb").write_text("{}")
    inputs = collect_inputs([tmp_path], tmp_path)
    shards = [select_shard(inputs, k, 3) for k in (1, 2, 3)]
    assert sorted(i.identity for shard in shards for i in shard) == [i.identity for i in inputs]
    assert [len(shard) for shard in shards] == [3, 2, 2]
    again = collect_inputs(sorted(tmp_path.glob("*.ipynb"), reverse=True), tmp_path)
    assert [i.identity for i in select_shard(again, 2, 3)] == [i.identity for i in shards[1]]


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


def test_jobs_share_the_cores() -> None:
    assert parse_shard("2/10") == (2, 10)
    assert default_jobs(2) == 2 and threads_per_job(2, 2) == 1
    assert default_jobs(16) == 8 and threads_per_job(8, 16) == 2
    assert threads_per_job(1, 4) == 4 and threads_per_job(8, 4) == 1


def test_each_job_gets_its_own_cores() -> None:
    assert cpu_sets(2, [0, 1]) == [[0], [1]]
    assert cpu_sets(1, [0, 1]) == [[0, 1]]
    assert cpu_sets(3, [2, 3, 4, 5, 6, 7, 8]) == [[2, 5, 8], [3, 6], [4, 7]]  # all used, disjoint
    assert cpu_sets(3, [0, 1]) == [[0], [1], [0]]  # more jobs than cores: shared


def test_store_round_trip_and_resume_plan(tmp_path: Path) -> None:
    files = []
    for name in ("a.ipynb", "b.ipynb", "c.ipynb"):
        (tmp_path / name).write_text(name)
        files.append(tmp_path / name)
    inputs = collect_inputs(files, tmp_path)
    store = ResultStore(tmp_path / "out")
    row = GradeRow(submission="a.ipynb", status=Status.OK, late=True, message="m")
    store.put(Record("a.ipynb", file_digest(files[0]), "v1", row))
    store.put(Record("b.ipynb", file_digest(files[1]), "v1", GradeRow("b.ipynb", Status.OK)))
    assert store.get("a.ipynb").row == row  # late and message survive JSON
    work = plan(inputs, store, "v1", regrade=False)
    assert work.summary() == "2 already graded, 1 to go"
    files[1].write_text("changed")  # a resubmission with the same name
    work = plan(inputs, store, "v1", regrade=False)
    assert [item.identity for item, _ in work.todo] == ["b.ipynb", "c.ipynb"]
    assert work.summary() == "1 already graded, 2 to go (1 changed since)"
    assert plan(inputs, store, "v2", regrade=False).summary().startswith("0 already graded, 3")
    assert plan(inputs, store, "v1", regrade=True).summary().startswith("0 already graded, 3")
    assert not list(store.folder.glob(".tmp-*"))  # atomic writes leave no temporary files


def test_unreadable_record_is_graded_again(tmp_path: Path) -> None:
    (tmp_path / "a.ipynb").write_text("{}")
    store = ResultStore(tmp_path / "out")
    store.folder.mkdir(parents=True)
    store.path("a.ipynb").write_text('{"identity": "a.ipynb", "row": ')  # cut off mid-write
    assert store.get("a.ipynb") is None and store.records() == []
    work = plan(collect_inputs([tmp_path / "a.ipynb"], tmp_path), store, "v1", regrade=False)
    assert len(work.todo) == 1


def test_autograder_digest_follows_the_hidden_tests(tmp_path: Path) -> None:
    (tmp_path / "q1.py").write_text("OK = {}")
    before = autograder_digest(tmp_path, None)
    assert autograder_digest(tmp_path, None) == before
    (tmp_path / "q1.py").write_text("OK = {'points': 2}")
    assert autograder_digest(tmp_path, None) != before


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer holds {old!r}: update this test"
    path.write_text(text.replace(old, new))


class Autograder:
    """Copies of what ``autograder_digest`` reads: hidden tests, question modules, the grader
    package (patched in), and one submission graded with the current digest."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tests, self.questions = tmp_path / "tests", tmp_path / "questions"
        self.tests.mkdir()
        (self.tests / "q1.py").write_text("OK = {}")
        shutil.copytree(COURSE.questions_dir, self.questions)
        self.package = tmp_path / "grader"
        shutil.copytree(sources.PACKAGE, self.package, ignore=shutil.ignore_patterns("__pycache__"))
        monkeypatch.setattr(sources, "PACKAGE", self.package)  # scoring_files() reads the copy
        monkeypatch.setattr(store_module, "PACKAGE", self.package)
        (tmp_path / "a.ipynb").write_text("{}")
        self.inputs = collect_inputs([tmp_path / "a.ipynb"], tmp_path)
        self.store = ResultStore(tmp_path / "out")
        row = GradeRow("a.ipynb", Status.OK)
        self.store.put(Record("a.ipynb", file_digest(tmp_path / "a.ipynb"), self.digest(), row))

    def digest(self) -> str:
        return autograder_digest(self.tests, self.questions)

    def to_regrade(self) -> int:
        """How many submissions ``grade`` would grade again now."""
        return len(plan(self.inputs, self.store, self.digest(), regrade=False).todo)


def test_rewording_the_class_report_regrades_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    autograder = Autograder(tmp_path, monkeypatch)
    report = autograder.package / "report" / "class_report.py"
    assert report not in sources.scoring_files()
    edit(report, "# Class report", "# How the class did")
    assert autograder.to_regrade() == 0
    edit(autograder.package / "judge" / "hidden_tests.py", "def judge(", "def judge(  ")
    assert autograder.to_regrade() == 1  # the judge decides points: everyone again


def test_changing_a_check_regrades_everyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    autograder = Autograder(tmp_path, monkeypatch)
    assert autograder.to_regrade() == 0
    edit(autograder.questions / "q4.py", "MAX_KERNEL = 1024", "MAX_KERNEL = 512")
    assert autograder.to_regrade() == 1


def test_each_job_gets_its_thread_budget(tmp_path: Path) -> None:
    env = sandbox_env(None, Limits(memory_bytes=2**30, threads=2), tmp_path)
    assert {env[name] for name in THREAD_VARIABLES} == {"2"}
    assert threads_per_job(2, cpus=2) == 1 and threads_per_job(1, cpus=2) == 2


def test_bad_shard_option_is_a_usage_error(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "grader", "grade", "--out", str(tmp_path), "--shard", "3/2"]
    result = subprocess.run([*command, "x.ipynb"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "K must be between 1 and N" in result.stderr
    assert not (tmp_path / "results").exists()


def test_a_stop_signal_whose_exception_python_dropped_still_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signal that lands in an at-fork hook or a finalizer raises where Python only prints
    "Exception ignored"; the run must still stop at the next submission."""
    monkeypatch.setattr(batch, "_STOP_REQUESTED", False)
    batch._stop_if_requested()  # no request: goes on

    class Finalized:
        def __del__(self) -> None:
            batch._raise_interrupt()

    Finalized()  # the KeyboardInterrupt is printed and dropped here
    with pytest.raises(KeyboardInterrupt):
        batch._stop_if_requested()
