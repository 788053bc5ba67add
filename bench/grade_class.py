"""Time grading a class with --jobs 1 and --jobs 2, and grading's cost over plain nbclient.

Usage: .venv/bin/python bench/grade_class.py [--size 12] [--trained 2] [--keep DIR]
(--size 0: overhead only; --keep DIR keeps DIR/jobs-1 and DIR/jobs-2 for bench/timeline.py)

The class: ``--trained`` copies of the complete examples that train the Q5 networks (solution,
partly wrong, alternately), the rest complete or partly wrong submissions cut before Q5 and
blank notebooks. Each is graded by the real command line into a fresh folder. The overhead part
executes the blank notebook with nbclient alone (what grading cannot avoid) and compares it
with the marginal time of one more blank submission in a ``grade`` run.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from grader.build.examples import notebook_until  # noqa: E402

EXAMPLES = ROOT / "examples"


def make_class(folder: Path, size: int, trained: int) -> list[Path]:
    """``size`` submissions, ``trained`` of which train the Q5 networks."""
    makers = [
        lambda t: shutil.copy(EXAMPLES / "solution.ipynb", t),
        lambda t: shutil.copy(EXAMPLES / "partly_wrong.ipynb", t),
    ]
    cheap = [
        lambda t: notebook_until(EXAMPLES / "solution.ipynb", "## Question 5", t),
        lambda t: notebook_until(EXAMPLES / "partly_wrong.ipynb", "## Question 5", t),
        lambda t: shutil.copy(EXAMPLES / "blank.ipynb", t),
    ]
    paths = []
    for index in range(size):
        maker = makers[index % 2] if index < trained else cheap[index % 3]
        paths.append(Path(maker(folder / f"student{index:02d}.ipynb")))
    return paths


def grade(inputs: list[Path], *extra: str, keep: Path | None = None) -> float:
    """Wall seconds of one `python -m grader grade` run into a fresh folder (kept in ``keep``)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = keep or Path(scratch)
        command = [sys.executable, "-m", "grader", "grade", "--out", str(out), *extra]
        started = time.perf_counter()
        subprocess.run([*command, *map(str, inputs)], cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - started


def nbclient_seconds(notebook: Path) -> float:
    """Execute the notebook in a fresh kernel with nbclient alone (errors allowed, as grading)."""
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        client = NotebookClient(
            nbformat.read(notebook, as_version=4),
            timeout=600,
            allow_errors=True,
            kernel_name="python3",
            resources={"metadata": {"path": work}},
        )
        client.execute()
        return time.perf_counter() - started


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=12)
    parser.add_argument("--trained", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the two --out folders here")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load {load()} (shared machine: other work may be running)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.size:
            inputs = make_class(folder, args.size, args.trained)
            print(f"class: {len(inputs)} submissions, {args.trained} train Q5")
            keep = {jobs: args.keep / f"jobs-{jobs}" if args.keep else None for jobs in (1, 2)}
            one = grade(inputs, "--jobs", "1", keep=keep[1])
            print(f"--jobs 1: {one:7.1f} s   (load {load()})")
            two = grade(inputs, "--jobs", "2", keep=keep[2])
            print(f"--jobs 2: {two:7.1f} s   (load {load()})")
            print(f"speed-up: {one / two:.2f}x")

        blanks = [
            shutil.copy(EXAMPLES / "blank.ipynb", folder / f"blank{i}.ipynb") for i in range(4)
        ]
        plain = [nbclient_seconds(EXAMPLES / "blank.ipynb") for _ in range(3)]
        single = grade(blanks[:1], "--jobs", "1")
        four = grade(blanks, "--jobs", "1")
        per_submission = (four - single) / 3
        nbclient = sum(plain) / len(plain)
        print(
            f"blank notebook: nbclient alone {nbclient:.1f} s (mean of 3); grading one more "
            f"submission {per_submission:.1f} s (4 in {four:.1f} s, 1 in {single:.1f} s)"
        )
        print(
            f"overhead per submission: {per_submission - nbclient:.1f} s "
            f"({(per_submission / nbclient - 1) * 100:.0f}%); fixed start-up of a run: "
            f"{single - per_submission:.1f} s   (load {load()})"
        )


if __name__ == "__main__":
    main()
