"""What the runner pays before it starts the kernel: its imports, once per submission.

Usage: .venv/bin/python bench/runner_startup.py [--runs 5]

Compares ``import grader.inside.runner`` (which keeps jsonschema's optional IRI grammar out)
with the
same imports letting that grammar load, alternating, in fresh interpreters.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "grader.inside.runner": "import grader.inside.runner",
    "with the IRI grammar": "import rfc3987_syntax, grader.inside.runner",
}


def seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(runs):
        for name, code in VARIANTS.items():
            times[name].append(seconds(code))
    for name, values in times.items():
        print(f"{name:22s} median {statistics.median(values):.2f} s, min {min(values):.2f} s")


if __name__ == "__main__":
    main()
