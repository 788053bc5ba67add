"""What the disk and memory accounting cost per submission (issue 19), A/B in one run.

Grades one cheap honest notebook (``honest_small``: Q1 and Q4 answered, MNIST read) in-process
with ``grade_one``, alternating three ways of holding its memory: a cgroup (where this machine
allows one: as root), the watcher fallback, and neither (the watcher replaced by a no-op: what a
run cost before the accounting). Every way has the one --disk tmpfs and the output channel, whose
own costs are timed apart: the channel's round trip on the solution's outputs, creating and
removing a cgroup, and one watcher poll of a running kernel's process tree.

Usage: .venv/bin/python bench/resource_accounting.py [ROUNDS]   (default 3)
"""

import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.grade import channel, memory  # noqa: E402
from grader.grade.grading import GradingSetup, grade_one  # noqa: E402
from grader.inside import runner  # noqa: E402
from testsuite.helpers import COURSE, EXAMPLES  # noqa: E402
from testsuite.hostile_notebooks import honest_small  # noqa: E402


class NoWatcher:
    """The accounting switched off (for the comparison only)."""

    exceeded = False

    def __init__(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def cpu_seconds() -> float:
    """CPU time of this process: the trusted side, the watcher thread and the channel included
    (a sandbox's own CPU time does not come back through bubblewrap's PID namespace)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def grade_seconds(notebook: Path, setup: GradingSetup, way: str, parent) -> tuple[float, float]:
    """Wall seconds and the trusted side's CPU seconds of one submission."""
    setup.isolation.cgroups = parent if way == "cgroup" else None
    memory_watcher = memory.Watcher
    if way == "none":
        memory.Watcher = NoWatcher
    try:
        started, cpu = time.perf_counter(), cpu_seconds()
        row = grade_one(notebook, setup)
        if row.status != "ok":
            print(f"  {way}: {row.status}: {row.message} {row.cell_errors}", flush=True)
        return time.perf_counter() - started, cpu_seconds() - cpu
    finally:
        memory.Watcher = memory_watcher


def per_call_ms(action, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        action()
    return (time.perf_counter() - started) * 1000 / repeat


def channel_round_trip(folder: Path) -> None:
    stream = io.BytesIO()
    runner.ship(folder, stream)
    stream.seek(0)
    with tempfile.TemporaryDirectory() as target:
        assert channel.receive(stream, Path(target)) == ""


def small_costs(parent) -> None:
    with tempfile.TemporaryDirectory() as folder:
        box = Path(folder)
        (box / "answers" / "files").mkdir(parents=True)
        (box / "executed.ipynb").write_bytes((EXAMPLES / "solution.ipynb").read_bytes())
        (box / "run.json").write_text("{}")
        (box / "answers" / "export.json").write_bytes(b"{}" * 100_000)
        (box / "answers" / "weights.pt").write_bytes(os.urandom(2_000_000))
        size = sum(p.stat().st_size for p in box.rglob("*") if p.is_file())
        cost = per_call_ms(lambda: channel_round_trip(box), 20)
        print(f"channel: ship + receive of {size / 1e6:.1f} MB of outputs: {cost:.1f} ms")
    if parent is not None:

        def cgroup_life() -> None:
            parent.create(f"bench-{os.urandom(4).hex()}", 2**30).remove()

        print(f"cgroup: create, limit and remove: {per_call_ms(cgroup_life, 50):.2f} ms")
    kernel = subprocess.Popen(
        [sys.executable, "-m", "ipykernel_launcher", "-f", os.devnull],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)
        poll = per_call_ms(lambda: memory.anonymous_bytes(kernel.pid), 200)
        share = poll / (memory.POLL_SECONDS * 1000) * 100
        print(
            f"watcher: one poll of a kernel's process tree: {poll:.3f} ms ({share:.2f}% of a core)"
        )
    finally:
        kernel.kill()
        kernel.wait()


def main(rounds: int) -> None:
    print(f"{os.cpu_count()} CPUs, load {load()}, uid {os.geteuid()}")
    parent = memory.find_cgroup_parent()
    print(f"cgroup parent: {parent}")
    ways = ["cgroup", "watcher", "none"] if parent else ["watcher", "none"]
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o711)
        notebook = honest_small(Path(folder) / "small.ipynb")
        os.chmod(notebook, 0o644)
        setup = GradingSetup(course=COURSE, out_dir=Path(folder) / "out").prepare()
        times: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
        for _ in range(rounds):
            for way in ways:
                times[way].append(grade_seconds(notebook, setup, way, parent))
    print("per submission, median of the rounds: wall s | the trusted side's CPU s")
    for way, values in times.items():
        wall, cpu = (statistics.median(column) for column in zip(*values, strict=True))
        listed = ", ".join(f"{value[0]:.1f}" for value in values)
        print(f"{way:>8}: {wall:6.2f} | {cpu:5.2f}   (wall: {listed})")
    small_costs(parent)
    print(f"load after {load()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
