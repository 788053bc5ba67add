"""The OS sandbox: run one submission's runner and kernel in bubblewrap, read back what it wrote.

Each run gets its own PID, network, IPC, UTS and user namespaces (``bwrap --unshare-all``), dies
with its bubblewrap parent (so every process the submission started is gone when its grading
ends) and read-only views of only what Python, the venv, the runner and the MNIST files need.
All it can write is one memory-backed file system of ``--disk`` bytes (``DISK``, mounted at
``/dev/shm``), which holds its folder (``/submission``, a link) and its ``/tmp`` (a link): past
the limit writes fail with ENOSPC inside, and nothing outside ever fills up. Its outputs leave
as a tar stream on the runner's stdout (``grader.grade.channel``). Its memory, all processes
together, is held by a cgroup or a watcher (``grader.grade.memory``); limits on each process's
memory, processes and file size are set by the runner inside the sandbox
(``grader.inside.runner.apply_limits``); a seccomp filter refuses the system calls in
``DENIED_SYSCALLS``, so a sandbox cannot leave the cores its job was pinned to
(``grader.grade.batch.cpu_sets``).

The trusted side never follows a link the submission could have placed: it reads only regular
files, opened component by component with ``O_NOFOLLOW``, up to a size cap, and it never takes a
pid, path or name from the sandbox.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache, partial
from pathlib import Path

from grader.common.results import Status
from grader.grade import channel, memory
from grader.settings import Settings, format_bytes

PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # holds grader/ (checkout or site-packages)
INSTALL_HINT = "sudo apt-get install bubblewrap"
SANDBOX_USER = "nobody"  # the outside identity of sandboxes when the grader runs as root
INSIDE = Path("/submission")  # the sandbox folder as the submission sees it (a link into DISK)
DISK = Path("/dev/shm")  # the one writable file system, --disk bytes: folder, /tmp, /dev/shm
INPUTS = ("homework.ipynb", "tests")  # what the trusted side wrote, bound read-only in the folder
RUNNER_PATH = Path("/opt/grader")  # the code that runs inside (grader/inside/), read-only
RUNNER_FILES = ("__init__.py", "inside/__init__.py", "inside/runner.py", "inside/kernel_export.py")
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "passwd",
    "group",
    "hosts",
    "fonts",
    "alternatives",
)
# System calls a submission has no use for and that reach beyond its sandbox; they fail with
# EPERM (bwrap --seccomp, built with libseccomp).
DENIED_SYSCALLS = (
    "sched_setaffinity",  # a job's cores are set outside: leaving them would slow other jobs
    "perf_event_open",  # hardware counters: a side channel on the jobs beside it
    "keyctl",  # kernel keyrings are not namespaced
    "add_key",
    "request_key",
    "bpf",
    "userfaultfd",
)
STDERR_TAIL_BYTES = 8_192


@dataclass
class Limits:
    """What one submission may use inside its sandbox (from ``grader.settings.Settings``)."""

    memory_bytes: int = Settings.memory_bytes  # all processes together; RLIMIT_DATA of each
    processes: int = Settings.processes  # RLIMIT_NPROC, counted in the sandbox's user namespace
    file_bytes: int = Settings.file_bytes  # RLIMIT_FSIZE: largest file the submission may write
    output_bytes: int = Settings.output_bytes  # cell outputs kept in the executed notebook
    disk_bytes: int = Settings.disk_bytes  # the folder, /tmp and /dev/shm together
    grace_seconds: int = Settings.grace_seconds  # beyond the per-cell timeout: start, export
    threads: int = 1  # OMP/MKL/OpenBLAS threads

    @classmethod
    def from_settings(cls, settings: Settings, threads: int = 1) -> Limits:
        return cls(
            memory_bytes=settings.memory_bytes,
            processes=settings.processes,
            file_bytes=settings.file_bytes,
            output_bytes=settings.output_bytes,
            disk_bytes=settings.disk_bytes,
            grace_seconds=settings.grace_seconds,
            threads=threads,
        )

    def as_args(self) -> list[str]:
        return [
            str(self.memory_bytes),
            str(self.processes),
            str(self.file_bytes),
            str(self.output_bytes),
        ]


@dataclass(frozen=True)
class DataMount:
    """A course's data as every sandbox sees it: ``folder`` of ``directory``, read-only, at
    the directory's own path and at ``data/<folder>`` beside the notebook."""

    directory: Path
    folder: str
    variable: str  # the environment variable that names the directory inside


@dataclass
class RunResult:
    """How running one submission ended, as the trusted side saw it."""

    status: Status
    message: str = ""
    cell_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Exit:
    """How the runner's process ended, as the trusted side saw it."""

    code: int | None  # None: stopped at the time limit
    stderr: str  # its last STDERR_TAIL_BYTES
    seconds: float
    out_of_memory: bool = False  # the submission's processes together passed the limit


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here; the message says what to do."""


# Running ----------------------------------------------------------------------------------------


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _python_roots() -> list[Path]:
    """Folders Python and the venv need: the venv itself and the interpreter's installation."""
    roots = {Path(sys.prefix).resolve(), Path(sys.exec_prefix).resolve()}
    roots |= {Path(sys.base_prefix).resolve(), Path(sys.base_exec_prefix).resolve()}
    roots.add(Path("/usr"))
    # site-packages a .pth file or --system-site-packages adds (a wheel installed beside them)
    roots |= {
        Path(entry).resolve()
        for entry in sys.path
        if entry.endswith(("site-packages", "dist-packages")) and Path(entry).is_dir()
    }
    return sorted(roots)


def python_inside() -> str:
    """The interpreter as the sandbox calls it (the resolved venv, so the venv is found)."""
    return str(Path(sys.prefix).resolve() / "bin" / "python")


@cache
def seccomp_program() -> bytes | None:
    """The BPF program that makes ``DENIED_SYSCALLS`` fail; None where libseccomp is missing."""
    try:
        import pyseccomp
    except (ImportError, RuntimeError, OSError):  # RuntimeError: no libseccomp.so found
        return None
    rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        rules.add_rule(pyseccomp.ERRNO(errno.EPERM), name)
    with tempfile.TemporaryFile() as program:
        rules.export_bpf(program)
        program.seek(0)
        return program.read()


@contextlib.contextmanager
def seccomp_fds() -> Iterator[tuple[int, ...]]:
    """``(fd,)``: a pipe's read end holding the program, for one ``bwrap --seccomp FD``; ``()``
    where there is no program."""
    program = seccomp_program()
    if program is None:
        yield ()
        return
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as writer:  # a few hundred bytes: fits the pipe's buffer
        writer.write(program)
    try:
        yield (read_end,)
    finally:
        os.close(read_end)


def _seen_at(path: Path) -> str:
    """Where a mount for ``path`` goes: ``/tmp`` is a link into ``DISK`` inside, so a path under
    it (a venv or data in /tmp, as on CI runners) is mounted at its place in ``DISK``."""
    if path.is_relative_to("/tmp"):
        return str(DISK / "tmp" / path.relative_to("/tmp"))
    return str(path)


def bwrap_command(
    sandbox: Path,
    data: DataMount | None,
    inner: list[str],
    seccomp_fd: int | None = None,
    disk_bytes: int = Settings.disk_bytes,
) -> list[str]:
    """The bubblewrap command line that runs ``inner`` with the submission's view of the world."""
    command = [bwrap_path() or "bwrap", "--unshare-all", "--unshare-user", "--disable-userns"]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    command += ["--die-with-parent", "--new-session"]  # the environment: Popen(env=...) only
    command += ["--uid", "1000", "--gid", "1000", "--hostname", "sandbox"]
    # The one writable file system first: what is bound below stays visible even when it
    # lives under /tmp (a checkout or venv in /tmp, as a CI runner may have it).
    command += ["--proc", "/proc", "--dev", "/dev"]
    command += ["--size", str(disk_bytes), "--tmpfs", str(DISK), "--remount-ro", "/dev"]
    folder = DISK / "submission"
    command += ["--dir", str(folder), "--dir", str(DISK / "tmp")]
    command += ["--symlink", str(folder), str(INSIDE), "--symlink", str(DISK / "tmp"), "/tmp"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            command += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            command += ["--ro-bind", str(path), str(path)]
    for root in _python_roots():
        command += ["--ro-bind", str(root), _seen_at(root)]
        if (root / "grader" / "inside").is_dir():  # an installed grader: only inside/ is needed
            hidden = _seen_at(root / "grader")
            command += ["--size", "4096", "--tmpfs", hidden, "--remount-ro", hidden]
    for name in ETC_FILES:
        command += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for name in RUNNER_FILES:
        source, target = PACKAGE_PARENT / "grader" / name, RUNNER_PATH / "grader" / name
        command += ["--ro-bind", str(source), str(target)]
    for name in INPUTS:
        command += ["--ro-bind-try", str(sandbox / name), str(folder / name)]
    if data is not None:
        for target in (_seen_at(data.directory), folder / "data"):
            command += ["--ro-bind", str(data.directory / data.folder), f"{target}/{data.folder}"]
    command += ["--remount-ro", "/", "--chdir", str(INSIDE)]
    return [*command, "--", *inner]


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def sandbox_env(data: DataMount | None, limits: Limits, home: Path) -> dict[str, str]:
    """The only environment the runner and kernel get."""
    threads = str(max(1, limits.threads))
    return (
        {
            "PATH": f"{Path(sys.prefix).resolve() / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(home),
            "TMPDIR": "/tmp",
            "MPLCONFIGDIR": str(home / ".mpl"),
            "JUPYTER_RUNTIME_DIR": str(home / ".jupyter"),
            "IPYTHONDIR": str(home / ".ipython"),
            "MALLOC_ARENA_MAX": "2",
        }
        | dict.fromkeys(THREAD_VARIABLES, threads)
        | ({data.variable: str(data.directory)} if data else {})
    )


def sandbox_identity() -> str | None:
    """As root, sandboxes run as ``nobody`` outside (so the process limit applies to them)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        return None
    return SANDBOX_USER


def identity(user: str | None) -> dict:
    """Popen arguments that switch to ``user`` entirely: uid, gid and no supplementary groups."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@dataclass
class Sandbox:
    """How to start sandboxes in this grading run (checked once by ``check``)."""

    data: DataMount | None = None
    limits: Limits = field(default_factory=Limits)
    enabled: bool = True
    user: str | None = None  # outside identity (``nobody`` as root), None: the grader's own
    warning: str = ""  # set by ``check`` when isolation is weaker than it should be
    cgroups: memory.CgroupParent | None = None  # set by ``check``; None: the watcher instead

    def check(self, scratch: Path) -> None:
        """Find bubblewrap and prove it starts Python here; pick the outside identity."""
        self.cgroups = memory.find_cgroup_parent()
        if not self.enabled:
            self.warning = "graded WITHOUT the sandbox (--no-sandbox): not isolated"
            return
        if bwrap_path() is None:
            raise SandboxUnavailable(
                f"bubblewrap (bwrap) is not installed: run `{INSTALL_HINT}` "
                "(or pass --no-sandbox where a container already isolates each submission)"
            )
        probe = "import grader.inside.runner, nbclient"
        errors = []
        for user in dict.fromkeys([sandbox_identity(), None]):
            folder = Path(scratch) / f"probe-{user or 'self'}"
            folder.mkdir(mode=0o700)
            if user:
                entry = pwd.getpwnam(user)
                os.chown(folder, entry.pw_uid, entry.pw_gid)
            result = self.run_python(folder, probe, user)
            if result.returncode == 0:
                self.user = user
                self.warning = "; ".join(filter(None, self._weaker(user)))
                return
            errors.append((result.stderr.strip().splitlines() or ["failed"])[-1])
        raise SandboxUnavailable(f"bubblewrap cannot start Python here: {errors[-1]}")

    def run_python(
        self, folder: Path, code: str, user: str | None, timeout: int = 120
    ) -> subprocess.CompletedProcess:
        """``python -c code`` in a sandbox on ``folder`` as ``user``, filter included."""
        with seccomp_fds() as fds:
            return subprocess.run(
                self.command(folder, [python_inside(), "-c", code], *fds),
                env=self.env(INSIDE),
                **identity(user),
                pass_fds=fds,
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout,
            )

    def _weaker(self, user: str | None) -> list[str]:
        """What this machine's sandboxes cannot enforce, for the warning."""
        weaker = [] if self.cgroups else [memory.FALLBACK_NOTE]
        if user is None and os.geteuid() == 0:
            weaker.append(
                f"sandboxes run as root's uid (user {SANDBOX_USER} cannot read the venv "
                "or data): the process limit is not enforced"
            )
        if seccomp_program() is None:
            weaker.append(
                "libseccomp was not found: submissions may leave their job's cores "
                "(install libseccomp2)"
            )
        return weaker

    def command(self, folder: Path, inner: list[str], seccomp_fd: int | None = None) -> list[str]:
        if not self.enabled:
            return inner
        return bwrap_command(folder, self.data, inner, seccomp_fd, self.limits.disk_bytes)

    def env(self, home: Path) -> dict[str, str]:
        env = sandbox_env(self.data, self.limits, home)
        env["PYTHONPATH"] = str(RUNNER_PATH if self.enabled else PACKAGE_PARENT)
        return env

    def hand_over(self, folder: Path) -> None:
        """Hand the freshly written sandbox folder (root's own files, no links) to its user."""
        if not (self.enabled and self.user):
            return
        entry = pwd.getpwnam(self.user)
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    def memory_message(self) -> str:
        """The reason of a submission stopped by ``run``'s ``out_of_memory``."""
        limits = self.limits
        if self.cgroups:
            return (
                "the notebook exceeded the memory limit: its processes and files together "
                f"held more than {format_bytes(limits.memory_bytes + limits.disk_bytes)} "
                f"(--memory {format_bytes(limits.memory_bytes)} + --disk "
                f"{format_bytes(limits.disk_bytes)})"
            )
        return (
            "the notebook exceeded the memory limit: its processes together held more than "
            f"{format_bytes(limits.memory_bytes)} (--memory)"
        )

    def _cgroup(self) -> memory.Cgroup | None:
        """A fresh cgroup for one run: its processes plus its memory-backed files."""
        if self.cgroups is None:
            return None
        limit = self.limits.memory_bytes + self.limits.disk_bytes
        return self.cgroups.create(f"grader-{os.getpid()}-{os.urandom(6).hex()}", limit)

    def _start(
        self, folder: Path, inner: list[str], fds: tuple[int, ...], cgroup: memory.Cgroup | None
    ) -> subprocess.Popen:
        """Start the runner (in ``cgroup`` before its first instruction, then as ``user``)."""
        user = self.user if self.enabled else None
        switch = identity(user)
        starter = None
        if cgroup is not None:  # join as the grader (it owns the cgroup), then switch users
            starter, switch = partial(_join_then_become, cgroup, switch), {}
        return subprocess.Popen(
            self.command(folder, inner, *fds),
            cwd=folder,
            env=self.env(INSIDE if self.enabled else folder),
            **switch,
            preexec_fn=starter,
            pass_fds=fds,
            start_new_session=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if self.enabled else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def run(self, folder: Path, timeout: int, request: bytes) -> Exit:
        """Run the runner for ``folder`` (inputs in, its outputs unpacked into it)."""
        inside = INSIDE if self.enabled else folder
        inner = [python_inside(), "-m", "grader.inside.runner", str(inside), str(timeout)]
        limits = self.limits if self.enabled else replace(self.limits, processes=0)
        inner += limits.as_args()
        started = time.monotonic()
        cgroup = self._cgroup()
        with seccomp_fds() if self.enabled else contextlib.nullcontext(()) as fds:
            process = self._start(folder, inner, fds, cgroup)
        threads = [_thread(_keep_tail, process.stderr, tail := deque())]
        if process.stdout is not None:  # sandboxed: the outputs arrive on the channel
            threads.append(_thread(channel.receive, process.stdout, folder))
        watcher = None
        if cgroup is None:
            watcher = memory.Watcher(process.pid, limits.memory_bytes, partial(_stop, process))
        code: int | None = None
        try:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.write(request)
                process.stdin.close()
            code = process.wait(timeout=timeout + self.limits.grace_seconds)
        except subprocess.TimeoutExpired:
            pass
        finally:
            _stop(process)
            process.wait()
            for thread in threads:  # the pipes end with the PID namespace: soon
                thread.join(timeout=60)
            if watcher:
                watcher.close()
            out_of_memory = bool(watcher and watcher.exceeded)
            if cgroup:
                out_of_memory = cgroup.out_of_memory()
                cgroup.remove()
        text = b"".join(tail).decode("utf-8", "replace")
        return Exit(code, text, time.monotonic() - started, out_of_memory)


def _join_then_become(cgroup: memory.Cgroup, switch: dict) -> None:
    """In the child between fork and exec: into the cgroup, then the sandbox's identity."""
    cgroup.join()
    if switch:
        os.setgroups([])
        os.setgid(switch["group"])
        os.setuid(switch["user"])


def _stop(process: subprocess.Popen) -> None:
    """Kill our own, not yet reaped child: killing bubblewrap ends its PID namespace (daemons
    included); without the sandbox, its process group is all we can reach."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _thread(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _keep_tail(stream, tail: deque[bytes]) -> None:
    """Read a pipe to its end, keeping only its last STDERR_TAIL_BYTES."""
    size = 0
    while chunk := stream.read1(65536):
        tail.append(chunk)
        size += len(chunk)
        while size - len(tail[0]) >= STDERR_TAIL_BYTES:
            size -= len(tail.popleft())
