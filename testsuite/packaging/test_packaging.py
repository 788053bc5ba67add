"""The grader as a package: lazy command line, --course, and a wheel that installs and grades."""

import csv
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from testsuite.helpers import EXAMPLES, ROOT

# Runs the command line in a fresh interpreter and reports which heavy modules it imported.
PROBE = """
import sys
from typer.testing import CliRunner
from grader.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
assert result.exit_code == 0, result.output
print(result.output)
print("HEAVY", sorted({m.split(".")[0] for m in sys.modules} & {"torch", "torchvision"}))
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return env | extra


def probe(args: list[str], cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env=clean_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_help_imports_neither_torch_nor_torchvision(tmp_path: Path) -> None:
    output = probe(["--help"], tmp_path)
    assert "HEAVY []" in output
    assert all(command in output for command in ("build", "grade", "release"))


def test_build_works_on_a_course_elsewhere_without_torch(tmp_path: Path) -> None:
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copy(ROOT / "requirements.txt", course)
    shutil.copy(ROOT / "course.toml", course)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert "HEAVY []" in probe(["build", "--course", str(course)], elsewhere)
    assert (course / "homework.ipynb").read_bytes() == (ROOT / "homework.ipynb").read_bytes()
    assert sorted(p.name for p in (course / "tests").iterdir()) == sorted(
        p.name for p in (ROOT / "tests").iterdir()
    )
    assert zipfile.ZipFile(course / "build" / "gradescope.zip").testzip() is None
    assert not list((course / "build").rglob("homework-autograder_*.zip"))  # otter generate off
    assert "HEAVY []" in probe(["build", "--check"], course / "solutions")  # found from inside


def venv_with_project_dependencies(folder: Path) -> Path:
    """A fresh venv that sees this environment's packages (no torch reinstall), without pip."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.mark.slow
def test_wheel_installs_and_grades_from_another_folder(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: setuptools writes build/ and *.egg-info beside it
    shutil.copytree(
        ROOT / "grader", source / "grader", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "requirements.txt", "requirements-web.txt"):
        shutil.copy(ROOT / name, source)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)]
    subprocess.run(build, check=True, capture_output=True, env=clean_env())
    (wheel,) = wheels.glob("homework_grader-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"grader", "homework_grader-1.0.0.dist-info"}
    assert "grader/files/run_autograder" in names and "grader/requirements.txt" in names
    # The grader alone: no course code (question modules) and no test code.
    assert not [name for name in names if "questions" in name or "/test" in name], names

    python = venv_with_project_dependencies(tmp_path / "venv")
    install = [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, capture_output=True, env=clean_env())
    command = tmp_path / "venv" / "bin" / "homework-grader"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = {"cwd": elsewhere, "env": clean_env(), "capture_output": True, "text": True}
    where = subprocess.run([str(python), "-c", "import grader; print(grader.__file__)"], **run)
    assert where.stdout.startswith(str(tmp_path / "venv"))  # the installed copy, not this one
    help_text = subprocess.run([str(command), "--help"], check=True, **run).stdout
    assert "homework-grader" in help_text and "release" in help_text

    out = tmp_path / "grades"
    blank = EXAMPLES / "blank.ipynb"
    grade = [str(command), "grade", "--course", str(ROOT), "--out", str(out), str(blank)]
    subprocess.run(grade, check=True, **run)
    with (out / "grades.csv").open() as handle:
        (row,) = csv.DictReader(handle)
    assert (row["submission"], row["status"], row["total"]) == ("blank.ipynb", "ok", "0")
