"""Time grading submissions end to end (sandboxed execution + judge), as a grader runs them.

Usage: .venv/bin/python bench/grade_solution.py [NOTEBOOK ...]   (default: examples/solution.ipynb)
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(notebooks: list[str]) -> None:
    notebooks = notebooks or [str(ROOT / "examples" / "solution.ipynb")]
    for notebook in notebooks:
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "grader", "grade", "--out", out, notebook],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            seconds = time.perf_counter() - started
            row = (Path(out) / "grades.csv").read_text().splitlines()[1]
        print(f"{Path(notebook).name}: {seconds:.1f} s  ({row})")


if __name__ == "__main__":
    main(sys.argv[1:])
