"""One submission's memory, all of its processes together.

Where the machine lets the grader create memory cgroups (v1, as root on most hosts; v2 below or
beside the grader's own cgroup where the ``memory`` controller is delegated there), every
sandbox runs in a cgroup of its own whose limit holds all of its processes and its
memory-backed files (``--memory`` + ``--disk``):
past it the kernel's OOM killer picks a process of that cgroup only. Elsewhere a watcher thread
of the trusted side sums the resident anonymous memory of the sandbox's processes (found from
the bubblewrap process it started, through ``/proc``) every ``POLL_SECONDS`` and kills the
sandbox past ``--memory`` (counting pages shared after a fork once, by ``Pss_Anon``); its
files are bounded by ``--disk`` on their own. The per-process ``RLIMIT_DATA`` (set by the
runner) stays in both cases.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
POLL_SECONDS = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")
FALLBACK_NOTE = (
    "no memory cgroup can be created here: --memory holds for each process, and a watcher "
    f"checks all of a submission's processes together every {POLL_SECONDS:g} s"
)


@dataclass(frozen=True)
class CgroupParent:
    """Where this run's sandbox cgroups are made: a v1 ``memory`` hierarchy or a v2 cgroup."""

    path: Path
    version: int

    def limit_files(self) -> tuple[str, ...]:
        if self.version == 1:
            return ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
        return ("memory.max", "memory.swap.max")

    def create(self, name: str, limit: int) -> Cgroup:
        """A fresh cgroup limited to ``limit`` bytes (swap included, where swap is counted)."""
        path = self.path / name
        path.mkdir()
        memory, swap = self.limit_files()
        (path / memory).write_text(str(limit))
        if (path / swap).exists():  # v1 memsw: memory + swap; v2 swap.max: swap alone
            (path / swap).write_text(str(limit if self.version == 1 else 0))
        return Cgroup(path, self.version)


@dataclass
class Cgroup:
    """One sandbox's cgroup."""

    path: Path
    version: int

    def join(self) -> None:
        """Move the calling process in (run in the child between fork and exec)."""
        descriptor = os.open(self.path / "cgroup.procs", os.O_WRONLY)
        try:
            os.write(descriptor, str(os.getpid()).encode())
        finally:
            os.close(descriptor)

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a process of this cgroup for exceeding its limit."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def remove(self) -> None:
        """Delete the cgroup once its processes are gone (they die with bubblewrap)."""
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                threading.Event().wait(0.05)


def _own_cgroup(version: int) -> str | None:
    """This process's cgroup path in the v1 ``memory`` hierarchy or in the v2 one."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if (version == 1 and "memory" in controllers.split(",")) or (
                version == 2 and controllers == ""
            ):
                return path
    return None


def _usable(parent: CgroupParent) -> bool:
    """Try making, limiting, joining (in a child process) and removing one cgroup here."""
    try:
        probe = parent.create(f"grader-probe-{os.getpid()}-{os.urandom(4).hex()}", 2**30)
    except OSError:
        return False
    try:
        pid = os.fork()
        if pid == 0:  # the child joins, as a sandbox's bubblewrap will
            try:
                probe.join()
                os._exit(0)
            except BaseException:
                os._exit(1)
        return os.waitpid(pid, 0)[1] == 0
    finally:
        probe.remove()


def find_cgroup_parent(root: Path = CGROUP_ROOT) -> CgroupParent | None:
    """The cgroup under which sandbox cgroups can be made here, or None."""
    candidates = []
    v1 = _own_cgroup(1)
    if v1 is not None and (root / "memory" / "cgroup.procs").exists():
        candidates.append(CgroupParent(root / "memory" / v1.lstrip("/"), 1))
    v2 = _own_cgroup(2)
    if v2 is not None and (root / "cgroup.controllers").exists():
        own = root / v2.lstrip("/")
        # Below its own cgroup where that delegates memory, else beside it (a cgroup with
        # processes cannot have children with controllers): e.g. a systemd scope's slice
        for place in (own, own.parent) if own != root else (own,):
            with contextlib.suppress(OSError):
                if "memory" in (place / "cgroup.subtree_control").read_text().split():
                    candidates.append(CgroupParent(place, 2))
    return next((parent for parent in candidates if _usable(parent)), None)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants now (a sandbox's orphans stay below its PID-namespace init)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
                todo += [int(child) for child in children.split()]
    return found


def anonymous_bytes(pid: int) -> int:
    """Resident anonymous memory of ``pid`` and its descendants (``statm``: resident - shared),
    cheap; pages shared after a fork count once per process (an over-count)."""
    total = 0
    for process in _tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{process}/statm").read_text().split()
            total += (int(fields[1]) - int(fields[2])) * PAGE
    return total


def proportional_bytes(pid: int) -> int:
    """The same memory with each shared page split between its sharers (``Pss_Anon``): exact
    for forked processes, and dearer (the kernel walks each process's pages)."""
    total = 0
    for process in _tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{process}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss_Anon:"):
                    total += int(line.split()[1]) * 1024
    return total


@dataclass
class Watcher:
    """The fallback: kills the sandbox (``stop``) once its processes hold more than ``limit``."""

    pid: int
    limit: int
    stop: Callable[[], None]
    exceeded: bool = False
    _done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        pause = POLL_SECONDS
        while not self._done.wait(pause):
            pause = POLL_SECONDS
            if anonymous_bytes(self.pid) <= self.limit:
                continue
            started = time.monotonic()  # over by the cheap count: does the exact one agree?
            if proportional_bytes(self.pid) > self.limit:
                self.exceeded = True
                self.stop()
                return
            pause = max(POLL_SECONDS, 4 * (time.monotonic() - started))

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)
