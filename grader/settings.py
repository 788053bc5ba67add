"""Every default budget of a grading run, in one typed object.

The command line, the Gradescope entry and the notebook's stated budget read these defaults; a
course may change them in its ``course.toml`` (``[budgets]``), and the command line per run.
"""

import os
from dataclasses import dataclass, fields, replace
from typing import Any

GIB, MIB = 2**30, 2**20


def parse_memory(text: str, least: int = 256 * MIB, what: str = "memory to run a notebook") -> int:
    """'6G', '2GiB', '512M', '1000000' -> bytes (K/M/G/T are powers of 1024)."""
    units = {"": 1, "K": 2**10, "M": MIB, "G": GIB, "T": 2**40}
    clean = str(text).strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (clean[:-1], clean[-1]) if clean[-1:] in units and clean[-1:] else (clean, "")
    try:
        value = float(number) * units[unit]
    except (KeyError, ValueError):
        raise ValueError(f"{text!r} is not a memory size like 6G or 512M") from None
    if value < least:
        raise ValueError(f"{text!r} is too little {what} (at least {format_bytes(least)})")
    return int(value)


def parse_disk(text: str) -> int:
    """A disk budget like '2G' or '200M' (at least 64M: the notebook, tests and outputs)."""
    return parse_memory(text, 64 * MIB, "disk for a submission")


def format_bytes(size: int) -> str:
    return f"{size / GIB:g} GiB" if size >= GIB else f"{size / MIB:g} MiB"


def run_wall_seconds(budgets: dict[str, float], start_seconds: float) -> float:
    """When a runner's sandbox is stopped: its CPU budgets at the wall factor, plus a start-up
    per pass (the runner itself stops student cells earlier, so the exporter has its time)."""
    cpu = budgets["notebook_seconds"] + budgets["export_seconds"]
    return budgets["wall_factor"] * cpu + (budgets["restarts"] + 1) * start_seconds


@dataclass(frozen=True)
class Settings:
    """What one submission may use, and how a grading run is spread over the machine."""

    # Time counts CPU seconds of the kernel's process tree (the submission's work, not the
    # machine's load); each limit also has a wall-clock cap wall_factor times larger.
    cell_seconds: int = 900  # one notebook cell; past it the cell is stopped, the next one runs
    notebook_seconds: int = 1800  # all student cells together; past it the rest is not run
    grace_seconds: int = 60  # the exporter (it always runs), and starting each kernel
    probe_seconds: int = 120  # the probe kernel's definitions (each probe has its own limit)
    restarts: int = 2  # re-runs without the cell that killed the kernel
    wall_factor: float = 3.0  # wall-clock cap = wall_factor x each CPU limit
    memory_bytes: int = 6 * GIB  # one submission's processes together (cgroup), and each one
    processes: int = 256  # processes of one sandbox (RLIMIT_NPROC in its user namespace)
    file_bytes: int = 1_000_000_000  # largest file a submission may write (RLIMIT_FSIZE)
    output_bytes: int = 5_000_000  # cell output kept in the executed notebook
    disk_bytes: int = 2 * GIB  # all a submission writes: its folder, /tmp and /dev/shm together
    judge_seconds: int = 60  # the hidden tests of one submission, in the trusted process
    jobs: int | None = None  # submissions graded at once; None: one per core (see batch)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> "Settings":
        """Defaults with ``values`` applied (a ``course.toml`` ``[budgets]`` table)."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known - {"memory", "disk"})
        if unknown:
            raise ValueError(f"unknown budget(s) {', '.join(unknown)}; known: {sorted(known)}")
        changes = {key: value for key, value in values.items() if key not in ("memory", "disk")}
        if "memory" in values:
            changes["memory_bytes"] = parse_memory(values["memory"])
        if "disk" in values:
            changes["disk_bytes"] = parse_disk(values["disk"])
        return replace(cls(), **changes)

    def with_environment(self) -> "Settings":
        """Gradescope's overrides: ``GRADER_TIMEOUT`` (seconds per cell), ``GRADER_MEMORY``,
        ``GRADER_DISK``."""
        changes: dict[str, Any] = {}
        if os.environ.get("GRADER_TIMEOUT"):
            changes["cell_seconds"] = int(os.environ["GRADER_TIMEOUT"])
        if os.environ.get("GRADER_MEMORY"):
            changes["memory_bytes"] = parse_memory(os.environ["GRADER_MEMORY"])
        if os.environ.get("GRADER_DISK"):
            changes["disk_bytes"] = parse_disk(os.environ["GRADER_DISK"])
        return replace(self, **changes)

    @property
    def wall_seconds(self) -> float:
        """The longest the notebook's run may take before its sandbox is stopped."""
        return run_wall_seconds(self.budgets(), self.grace_seconds)

    def probe_budgets(self, probes: list[dict[str, Any]]) -> dict[str, float]:
        """The runner of a probe kernel: its definitions, then the probes' own limits."""
        limits = sum(probe.get("seconds") or self.grace_seconds for probe in probes)
        return {
            "cell_seconds": self.probe_seconds,
            "notebook_seconds": self.probe_seconds,
            "export_seconds": limits + self.grace_seconds,
            "restarts": self.restarts,
            "wall_factor": self.wall_factor,
        }

    def budgets(self) -> dict[str, float]:
        """What the runner of the student's notebook needs (``grader.inside.runner.Budgets``)."""
        return {
            "cell_seconds": self.cell_seconds,
            "notebook_seconds": self.notebook_seconds,
            "export_seconds": self.grace_seconds,
            "restarts": self.restarts,
            "wall_factor": self.wall_factor,
        }
