"""The OS sandbox: run one submission's runner and kernel in bubblewrap, read back what it wrote.

Each run gets its own PID, network, IPC, UTS and user namespaces (``bwrap --unshare-all``), dies
with its bubblewrap parent (so every process the submission started is gone when its grading
ends), a private ``/tmp`` and ``/dev/shm``, one writable folder (its sandbox) and read-only views
of only what Python, the venv, the runner and the MNIST files need. Limits on memory, processes
and file size are set by the runner inside the sandbox (``grader.runner.apply_limits``); a
seccomp filter refuses the system calls in ``DENIED_SYSCALLS``, so a sandbox cannot leave the
cores its job was pinned to (``grader.batch.cpu_sets``).

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
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from grader.results import Status

ROOT = Path(__file__).resolve().parent.parent
INSTALL_HINT = "sudo apt-get install bubblewrap"
SANDBOX_USER = "nobody"  # the outside identity of sandboxes when the grader runs as root
INSIDE = Path("/submission")  # the sandbox folder as the submission sees it
RUNNER_PATH = Path("/opt/grader")  # the runner's three source files, read-only
RUNNER_FILES = ("__init__.py", "runner.py", "kernel_export.py")
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
PRIVATE_TMP_BYTES = 512 * 2**20  # size of the private /tmp and /dev/shm (memory-backed)
STDERR_TAIL_BYTES = 8_192
GRACE_SECONDS = 60  # beyond the per-cell timeout, for starting the kernel and exporting


@dataclass
class Limits:
    """What one submission may use inside its sandbox."""

    memory_bytes: int = 6 * 2**30  # RLIMIT_DATA of each process (heap and anonymous maps)
    processes: int = 256  # RLIMIT_NPROC, counted in the sandbox's own user namespace
    file_bytes: int = 1_000_000_000  # RLIMIT_FSIZE: largest file the submission may write
    output_bytes: int = 5_000_000  # cell outputs kept in the executed notebook
    threads: int = 1  # OMP/MKL/OpenBLAS threads

    def as_args(self) -> list[str]:
        return [
            str(self.memory_bytes),
            str(self.processes),
            str(self.file_bytes),
            str(self.output_bytes),
        ]


@dataclass
class RunResult:
    """How running one submission ended, as the trusted side saw it."""

    status: Status
    message: str = ""
    cell_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here; the message says what to do."""


class UnsafeFile(OSError):
    """A sandbox file that is a link, not a regular file, or larger than its cap."""


def parse_memory(text: str) -> int:
    """'6G', '2GiB', '512M', '1000000' -> bytes (K/M/G/T are powers of 1024)."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    clean = text.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (clean[:-1], clean[-1]) if clean[-1:] in units and clean[-1:] else (clean, "")
    try:
        value = float(number) * units[unit]
    except (KeyError, ValueError):
        raise ValueError(f"{text!r} is not a memory size like 6G or 512M") from None
    if value < 256 * 2**20:
        raise ValueError(f"{text!r} is too little memory to run a notebook (at least 256M)")
    return int(value)


def format_bytes(size: int) -> str:
    return f"{size / 2**30:g} GiB" if size >= 2**30 else f"{size / 2**20:g} MiB"


# Reading what the sandbox wrote -----------------------------------------------------------------

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@contextlib.contextmanager
def open_dir(base: Path, *parts: str):
    """A descriptor of ``base/parts...``, refusing a symlink at every step below ``base``."""
    fd = os.open(base, _DIR_FLAGS)
    try:
        for part in parts:
            if part in ("", ".", "..") or "/" in part:
                raise UnsafeFile(f"unsafe name {part!r}")
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def read_regular(dir_fd: int, name: str, cap: int) -> bytes:
    """The bytes of the regular file ``name`` in ``dir_fd`` (no links, no FIFOs, at most cap)."""
    if name in ("", ".", "..") or "/" in name:
        raise UnsafeFile(f"unsafe name {name!r}")
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        raise UnsafeFile(f"{name}: {error.strerror or error}") from error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{name} is not a regular file")
        if info.st_size > cap:
            raise UnsafeFile(f"{name} is larger than {cap:,} bytes")
        chunks, left = [], cap + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > cap:
            raise UnsafeFile(f"{name} is larger than {cap:,} bytes")
        return data
    finally:
        os.close(fd)


def read_file(base: Path, relative: str, cap: int) -> bytes:
    """``base/relative`` read safely (see ``read_regular``); ``relative`` uses '/' separators."""
    *folders, name = relative.split("/")
    try:
        with open_dir(base, *folders) as fd:
            return read_regular(fd, name, cap)
    except UnsafeFile:
        raise
    except OSError as error:
        raise UnsafeFile(f"{relative}: {error.strerror or error}") from error


def regular_files(base: Path, folder: str, max_files: int) -> list[str]:
    """Names of the regular files in ``base/folder`` (no links), at most ``max_files``."""
    try:
        with open_dir(base, *filter(None, folder.split("/"))) as fd:
            names = sorted(os.listdir(fd))
            if len(names) > max_files:
                raise UnsafeFile(f"{folder}/ holds {len(names)} entries (at most {max_files})")
            return [
                name
                for name in names
                if stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
            ]
    except UnsafeFile:
        raise
    except OSError as error:
        raise UnsafeFile(f"{folder}: {error.strerror or error}") from error


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


def bwrap_command(
    sandbox: Path, data_dir: Path, inner: list[str], seccomp_fd: int | None = None
) -> list[str]:
    """The bubblewrap command line that runs ``inner`` with the submission's view of the world."""
    command = [bwrap_path() or "bwrap", "--unshare-all", "--unshare-user", "--disable-userns"]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    command += ["--die-with-parent", "--new-session"]  # the environment: Popen(env=...) only
    command += ["--uid", "1000", "--gid", "1000", "--hostname", "sandbox"]
    # Private /tmp and /dev/shm first: what is bound below stays visible even when it lives
    # under /tmp (a checkout or venv in /tmp, as a CI runner may have it).
    command += ["--proc", "/proc", "--dev", "/dev"]
    command += ["--size", str(PRIVATE_TMP_BYTES), "--tmpfs", "/tmp"]
    command += ["--size", str(PRIVATE_TMP_BYTES), "--tmpfs", "/dev/shm"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            command += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            command += ["--ro-bind", str(path), str(path)]
    for root in _python_roots():
        command += ["--ro-bind", str(root), str(root)]
        if (root / "grader" / "checks").is_dir():  # an installed grader: hide its hidden checks
            command += ["--tmpfs", str(root / "grader")]
    for name in ETC_FILES:
        command += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for name in RUNNER_FILES:
        command += ["--ro-bind", str(ROOT / "grader" / name), str(RUNNER_PATH / "grader" / name)]
    command += ["--bind", str(sandbox), str(INSIDE)]
    mnist = data_dir / "MNIST"
    for target in (data_dir, INSIDE / "data"):
        command += ["--ro-bind", str(mnist), str(target / "MNIST")]
    command += ["--remount-ro", "/", "--chdir", str(INSIDE)]
    return [*command, "--", *inner]


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def sandbox_env(data_dir: Path, limits: Limits, home: Path) -> dict[str, str]:
    """The only environment the runner and kernel get."""
    threads = str(max(1, limits.threads))
    return {
        "PATH": f"{Path(sys.prefix).resolve() / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "TMPDIR": "/tmp",
        "MPLCONFIGDIR": str(home / ".mpl"),
        "JUPYTER_RUNTIME_DIR": str(home / ".jupyter"),
        "IPYTHONDIR": str(home / ".ipython"),
        "HOMEWORK_DATA_DIR": str(data_dir),
        "MALLOC_ARENA_MAX": "2",
    } | dict.fromkeys(THREAD_VARIABLES, threads)


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

    data_dir: Path
    limits: Limits = field(default_factory=Limits)
    enabled: bool = True
    user: str | None = None  # outside identity (``nobody`` as root), None: the grader's own
    warning: str = ""  # set by ``check`` when isolation is weaker than it should be

    def check(self, scratch: Path) -> None:
        """Find bubblewrap and prove it starts Python here; pick the outside identity."""
        if not self.enabled:
            self.warning = "graded WITHOUT the sandbox (--no-sandbox): not isolated"
            return
        if bwrap_path() is None:
            raise SandboxUnavailable(
                f"bubblewrap (bwrap) is not installed: run `{INSTALL_HINT}` "
                "(or pass --no-sandbox where a container already isolates each submission)"
            )
        probe = "import grader.runner, nbclient"
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

    @staticmethod
    def _weaker(user: str | None) -> list[str]:
        """What this machine's sandboxes cannot enforce, for the warning."""
        weaker = []
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
        return bwrap_command(folder, self.data_dir, inner, seccomp_fd)

    def env(self, home: Path) -> dict[str, str]:
        env = sandbox_env(self.data_dir, self.limits, home)
        env["PYTHONPATH"] = str(RUNNER_PATH if self.enabled else ROOT)
        return env

    def prepare_folder(self, folder: Path) -> None:
        """Hand the freshly written sandbox folder (root's own files, no links) to its user."""
        if not (self.enabled and self.user):
            return
        entry = pwd.getpwnam(self.user)
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    def run(self, folder: Path, timeout: int, request: bytes) -> tuple[int | None, str, float]:
        """Run the runner for ``folder``; returns (exit code or None on timeout, stderr tail, s)."""
        inside = INSIDE if self.enabled else folder
        inner = [python_inside(), "-m", "grader.runner", str(inside), str(timeout)]
        limits = self.limits if self.enabled else replace(self.limits, processes=0)
        inner += limits.as_args()
        env = self.env(inside)
        started = time.monotonic()
        with seccomp_fds() if self.enabled else contextlib.nullcontext(()) as fds:
            process = subprocess.Popen(
                self.command(folder, inner, *fds),
                cwd=folder,
                env=env,
                **identity(self.user if self.enabled else None),
                pass_fds=fds,
                start_new_session=True,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        tail: deque[bytes] = deque()
        reader = threading.Thread(target=_keep_tail, args=(process.stderr, tail), daemon=True)
        reader.start()
        code: int | None = None
        try:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.write(request)
                process.stdin.close()
            code = process.wait(timeout=timeout + GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        finally:
            # Our own, not yet reaped child: killing bubblewrap ends its PID namespace (daemons
            # included); without the sandbox, its process group is all we can reach.
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            reader.join(timeout=5)
        text = b"".join(tail).decode("utf-8", "replace")
        return code, text, time.monotonic() - started


def _keep_tail(stream, tail: deque[bytes]) -> None:
    """Read a pipe to its end, keeping only its last STDERR_TAIL_BYTES."""
    size = 0
    while chunk := stream.read1(65536):
        tail.append(chunk)
        size += len(chunk)
        while size - len(tail[0]) >= STDERR_TAIL_BYTES:
            size -= len(tail.popleft())
