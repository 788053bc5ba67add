"""What the bubblewrap sandbox costs: grade one cheap honest notebook with and without it.

Usage: .venv/bin/python bench/sandbox_overhead.py [ROUNDS]   (default 3 rounds, alternating)
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testsuite.hostile_notebooks import honest_small  # noqa: E402


def grade_seconds(notebook: Path, *extra: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "grader", "grade", "--out", out, *extra, str(notebook)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


def main(rounds: int) -> None:
    print(f"{os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as folder:
        notebook = honest_small(Path(folder) / "small.ipynb")
        times: dict[str, list[float]] = {"sandbox": [], "no sandbox": []}
        for _ in range(rounds):
            times["sandbox"].append(grade_seconds(notebook))
            times["no sandbox"].append(grade_seconds(notebook, "--no-sandbox"))
    for name, values in times.items():
        listed = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:>10}: median {sorted(values)[len(values) // 2]:.1f} s  ({listed})")
    print(f"load after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
