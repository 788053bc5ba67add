"""Time and peak memory of the similarity report for a class of generated submissions.

Usage: .venv/bin/python bench/similarity.py [--size 300] [--seed 0] [--keep DIR]

The class: variations of examples/ (testsuite/report/similarity_notebooks.py ``variation``):
the solution or the partly wrong example with random statements and words of the student's own
between its lines and names renamed at random (some with an independent Q5, without Q5, or
blank), plus one planted pair: a student's notebook and a disguised copy of its Q5. They are
written where grading keeps them (``executed/``), then the report is written in a fresh
process; its wall time, CPU time and peak resident memory are printed.
"""

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from testsuite.report.similarity_notebooks import (  # noqa: E402
    STARTER,
    planted_copy,
    variation,
    write_executed,
)

REPORT = """
import sys, time
from pathlib import Path
from grader.report.similarity import Submission, write_similarity_report
out = Path(sys.argv[1])
keys = sorted(p.stem for p in (out / "executed").glob("*.ipynb"))
start = time.perf_counter()
write_similarity_report(out, [Submission(k, k + ".ipynb") for k in keys], Path(sys.argv[2]))
print(f"report alone (imports excluded): {time.perf_counter() - start:.1f} s")
"""


def with_own_q5(rng: random.Random):
    """A generated student whose Q5 is the reference one (made their own): the copy's source."""
    while True:
        notebook = variation(rng)
        if any("def train(" in cell.source for cell in notebook.cells):
            return notebook


def make_class(out: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    notebooks = {f"student{i:03d}": variation(rng) for i in range(size - 2)}
    notebooks["planted_a"] = with_own_q5(rng)
    notebooks["planted_b"] = planted_copy(notebooks["planted_a"], seed)
    write_executed(out, notebooks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="write the class and report here")
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="similarity-bench-"))
    print(f"{os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    start = time.perf_counter()
    make_class(out, args.size, args.seed)
    print(f"class of {args.size} generated in {time.perf_counter() - start:.1f} s: {out}")
    start = time.perf_counter()
    environment = os.environ | {"PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-c", REPORT, str(out), str(STARTER)], check=True, env=environment
    )
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"similarity report of {args.size}: {wall:.1f} s wall, "
        f"{usage.ru_utime + usage.ru_stime:.1f} s CPU, peak memory {usage.ru_maxrss / 1024:.0f} MiB"
    )
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ranked = (out / "similarity" / "pairs.csv").read_text().splitlines()
    q5 = [line for line in ranked if line.startswith("q5,code,1,")]
    print(f"{len(ranked) - 1} pairs listed; q5 code first: {q5[0] if q5 else 'none'}")


if __name__ == "__main__":
    main()
