"""Time the command line's start: `--help` and `build` (neither should load torch).

Usage: .venv/bin/python bench/cli_startup.py [--runs N]
Runs `python -m grader --help` and `python -m grader build --course COPY` (a scratch copy of
this checkout's master) in fresh interpreters; prints median and min wall-clock seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        shutil.copytree(REPO / "solutions", course / "solutions")
        shutil.copy(REPO / "requirements.txt", course)
        commands = {
            "--help": [sys.executable, "-m", "grader", "--help"],
            "build": [sys.executable, "-m", "grader", "build", "--course", str(course)],
        }
        for name, command in commands.items():
            times = [seconds(command) for _ in range(args.runs)]
            print(
                f"{name}: median {statistics.median(times):.2f} s, min {min(times):.2f} s "
                f"over {args.runs} runs"
            )


if __name__ == "__main__":
    main()
