"""Cheap honest submissions and hostile ones that attack the grader, for the sandbox tests.

Every hostile notebook prints what it managed as ``LEAK <what>`` lines (and ``blocked <what>``
otherwise), so a test reads its executed notebook and asserts that no ``LEAK`` line is there.
Processes it starts carry ``MARKER`` in their command line, so a test can prove none is left.
"""

import json
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from testsuite.helpers import EXAMPLES

MARKER = "hostile-grader-test-process"
# (keyctl, perf_event_open) in the kernel's system-call table of each architecture
SYSCALL_NUMBERS = {"x86_64": (250, 298), "aarch64": (219, 241)}


def notebook(path: Path, *sources: str) -> Path:
    """A notebook of code cells."""
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def honest_full(path: Path) -> Path:
    """The reference solution without Q5's training (about 10 s): scores on Q1, Q2 and Q4."""
    solution = nbformat.read(EXAMPLES / "solution.ipynb", as_version=4)
    for cell in solution.cells:
        if "q5-run" in cell.metadata.get("tags", []):
            cell.source = "pass  # no Q5 training in this cheap honest submission"
    nbformat.write(solution, path)
    return path


def honest_small(path: Path) -> Path:
    """Only Q1 and Q4 answered (a few seconds, no training); reads MNIST from ``data/``."""
    solution = nbformat.read(EXAMPLES / "solution.ipynb", as_version=4)
    wanted = ("import otter", "class AddModule", "class FixedAddModule", "q4_1_kernel_1 =")
    cells = [
        cell
        for cell in solution.cells
        if cell.cell_type == "code" and any(text in cell.source for text in wanted)
    ]
    mnist = (
        "import torch, torchvision\n"
        'images = torchvision.datasets.MNIST("data", train=False, download=True)\n'
        "print('MNIST test images:', len(images))"
    )
    cells = [nbformat.v4.new_code_cell("import torch"), *cells, nbformat.v4.new_code_cell(mnist)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def _daemon(code: str) -> str:
    """Kernel code that starts ``code`` as a double-forked, setsid daemon."""
    return (
        "import os, subprocess, sys\n"
        f"_code = {f'# {MARKER}' + chr(10) + code!r}\n"
        "if os.fork() == 0:\n"
        "    subprocess.Popen([sys.executable, '-c', _code], start_new_session=True,\n"
        "                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,\n"
        "                     stderr=subprocess.DEVNULL)\n"
        "    os._exit(0)\n"
    )


PROBE = """
import glob, os
def probe(what, action):
    try:
        result = action()
        print("LEAK", what, repr(result)[:80])
    except Exception as error:
        print("blocked", what, type(error).__name__)
"""

# Tampers with every export.json it can find and injects code into every kernel it can reach.
TAMPER_DAEMON = """
import glob, json, os, time
forged = {"values": {}, "models": {}, "probes": {}, "problems": {}}
end = time.time() + 90
while time.time() < end:
    exports = glob.glob("/tmp/**/export.json", recursive=True)
    for path in exports + glob.glob("/*/*/answers/export.json"):
        if not path.startswith("/submission/"):
            try:
                open(path, "w").write(json.dumps(forged))
            except OSError:
                pass
    kernels = glob.glob("/tmp/**/kernel-*.json", recursive=True)
    for path in kernels + glob.glob("/proc/*/cwd/.jupyter/kernel-*.json"):
        if path.startswith("/submission/"):
            continue
        try:
            from jupyter_client import BlockingKernelClient
            client = BlockingKernelClient(connection_file=path)
            client.load_connection_file()
            client.start_channels()
            client.execute("q4_1_kernel_1 = q4_2_kernel_1 = (1, 1)")
        except Exception:
            pass
    time.sleep(0.2)
"""


def tamper(path: Path) -> Path:
    """A daemon outlives its grading to forge the next student's export and inject into its
    kernel (what happened before the sandbox)."""
    return notebook(path, _daemon(TAMPER_DAEMON), "import time; time.sleep(1)")


def symlinks(path: Path, secret: Path) -> Path:
    """Links where root reads: answers/* point at a secret of the grader's; executed.ipynb is
    swapped for such a link as soon as the runner has written run.json (a race)."""
    swap = f"""
import os, time
end = time.time() + 60
while time.time() < end and not os.path.exists("run.json"):
    time.sleep(0.0005)
for name in ("executed.ipynb", "run.json"):
    try:
        os.symlink({str(secret)!r}, name + ".link")
        os.replace(name + ".link", name)
    except OSError:
        pass
"""
    links = f"""
import builtins, os
os.makedirs("answers/files", exist_ok=True)
for name in ("answers/export.json", "answers/weights.pt", "answers/files/q5_batchnorm_mnist.png"):
    os.symlink({str(secret)!r}, name)
os.symlink("/nonexistent/dangling", "answers/files/dangling.png")
builtins.exec = lambda *args, **kwargs: None  # the grader's exporter must not replace the links
"""
    return notebook(path, _daemon(swap), links)


def forged_pid(path: Path, victim: int) -> Path:
    """Names a process of the grader's user in kernel.pid and tries to kill it directly."""
    code = f"""
import os, signal
open("kernel.pid", "w").write("{victim}")
try:
    os.kill({victim}, signal.SIGKILL)
    print("LEAK killed {victim}")
except OSError as error:
    print("blocked kill", error)
"""
    return notebook(path, code)


def escapes(path: Path) -> Path:
    """Terminal escape sequences and rich markup in the messages the TA sees."""
    code = 'raise RuntimeError("\\x1b[2J\\x1b[1;32mALL TESTS PASSED\\x1b[0m [/] [bold]x[/bold]")'
    return notebook(path, code)


def nul_byte(path: Path) -> Path:
    return notebook(path, "x = 1\x00\nprint(x)")


def surrogate(path: Path) -> Path:
    """A lone surrogate: valid JSON escape, not valid Unicode text."""
    cells = [nbformat.v4.new_code_cell("s = 'placeholder'")]
    data = nbformat.v4.new_notebook(cells=cells)
    text = json.dumps(data).replace("placeholder", "\\ud800")
    path.write_text(text)
    return path


def deep_expression(path: Path) -> Path:
    return notebook(path, "x = " + "(" * 50 + "1" + "+1" * 10_000 + ")" * 50)  # RecursionError


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def pickle_weights(path: Path, marker: Path) -> Path:
    """An export whose weights file is a pickle that would create ``marker`` when loaded."""
    payload = pickle.dumps({"q2_model": _Payload(marker)})
    export = {"values": {}, "probes": {}, "problems": {}, "models": {"q2_model": [["ReLU", {}]]}}
    code = f"""
import builtins, json, os
os.makedirs("answers", exist_ok=True)
open("answers/export.json", "w").write({json.dumps(export)!r})
open("answers/weights.pt", "wb").write({payload!r})
builtins.exec = lambda *args, **kwargs: None
"""
    return notebook(path, code)


def process_storm(path: Path) -> Path:
    """50 setsid daemons, then as many forks as the limit allows."""
    storm = _daemon("import time; time.sleep(600)")
    forks = """
import os, time
count = 0
for _ in range(5000):
    try:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
        count += 1
    except OSError:
        break
print("forked", count)
"""
    return notebook(path, "for _ in range(50):\n" + _indent(storm), forks)


def cpu_hog(path: Path) -> Path:
    """Tries to leave its job's cores and reach kernel-wide state, then keeps 16 processes busy
    for 20 s (with --jobs 2 the job beside it keeps its own core)."""
    code = (
        PROBE
        + f"""
import ctypes, multiprocessing, os, platform, time
libc = ctypes.CDLL(None, use_errno=True)
KEYCTL, PERF_EVENT_OPEN = {SYSCALL_NUMBERS!r}[platform.machine()]
def syscall(number, *args):
    if libc.syscall(number, *args) == -1:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return "allowed"
print("cores", sorted(os.sched_getaffinity(0)))
probe("every core", lambda: os.sched_setaffinity(0, range(os.cpu_count())))
probe("kernel keyring", lambda: syscall(KEYCTL, 0, -4, 0))  # GET_KEYRING_ID of the user's
attr = (ctypes.c_uint64 * 16)(0, 0, 0, 0)  # perf_event_attr: hardware cycles
ctypes.cast(attr, ctypes.POINTER(ctypes.c_uint32))[1] = 128  # its size
probe("perf counters", lambda: syscall(PERF_EVENT_OPEN, attr, 0, -1, -1, 0))
def spin():  # {MARKER}
    end = time.time() + 20
    while time.time() < end:
        pass
busy = [multiprocessing.Process(target=spin) for _ in range(16)]
for process in busy:
    process.start()
for process in busy:
    process.join()
print("spun")
"""
    )
    return notebook(path, code)


def _indent(code: str) -> str:
    return "".join(f"    {line}\n" for line in code.splitlines())


def memory_hog(path: Path) -> Path:
    return notebook(path, "import torch\nhog = torch.ones(6 * 2**30 // 4)\nprint(hog.sum())")


def network(path: Path, port: int) -> Path:
    code = (
        PROBE
        + f"""
import socket
probe("loopback {port}", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=3))
probe("internet", lambda: socket.create_connection(("1.1.1.1", 53), timeout=3))
"""
    )
    return notebook(path, code)


def snoop(path: Path, root: Path, out: Path, data_dir: Path) -> Path:
    """Reads what is secret and writes where it must not; each attempt printed."""
    code = (
        PROBE
        + f"""
root, out, data = {str(root)!r}, {str(out)!r}, {str(data_dir)!r}
probe("checks", lambda: open(root + "/grader/checks/q5.py").read())
probe("build", lambda: os.listdir(root + "/build/autograder/tests"))
probe("solutions", lambda: open(root + "/solutions/homework.ipynb").read())
probe("grading code", lambda: open(root + "/grader/judge.py").read())
probe("out", lambda: os.listdir(out))
probe("other sandboxes", lambda: glob.glob("/tmp/grade-*") or 1 / 0)
probe("grader command line", lambda: [p for p in glob.glob("/proc/*/cmdline")
                                      if "--out" in open(p).read()] or 1 / 0)
probe("shadow", lambda: open("/etc/shadow").read())
probe("write checkout", lambda: open(root + "/grader/pwned_by_submission.py", "w").write("x"))
probe("write out", lambda: open(out + "/pwned.txt", "w").write("x"))
probe("write data", lambda: open(data + "/MNIST/raw/pwned", "w").write("x"))
probe("write data beside", lambda: open("data/MNIST/raw/pwned", "w").write("x"))
probe("persist tmp", lambda: open("/tmp/left-behind", "w").write("x") and 1 / 0)
import torchvision
print("MNIST beside the notebook:", len(torchvision.datasets.MNIST("data", download=True)))
shared = torchvision.datasets.MNIST(os.environ["HOMEWORK_DATA_DIR"], train=False)
print("MNIST at HOMEWORK_DATA_DIR:", len(shared))
"""
    )
    return notebook(path, code)


def huge_model(path: Path) -> Path:
    """Export specs that would allocate gigabytes or take minutes to build in the judge."""
    code = """
import builtins, json, os, torch
os.makedirs("answers", exist_ok=True)
models = {"q2_model": [["Identity", {}]] * 200_001,
          "q5_bn_model": [["LayerNorm", {"normalized_shape": [8000, 8000]}]],
          "q5_plain_model": [["Linear", {"in_features": 100000, "out_features": 100000}]]}
json.dump({"values": {}, "probes": {}, "problems": {}, "models": models},
          open("answers/export.json", "w"))
torch.save({name: {} for name in models}, "answers/weights.pt")
builtins.exec = lambda *args, **kwargs: None
"""
    return notebook(path, code)


def big_files(path: Path) -> Path:
    """Three export files over the cap, written straight into answers/files/."""
    code = """
import builtins, os
os.makedirs("answers/files", exist_ok=True)
for name in "abc":
    with open(f"answers/files/{name}.png", "wb") as handle:
        handle.write(b"\\0" * 30_000_000)
open("answers/export.json", "w").write('{"values": {}, "models": {}, "probes": {}, "problems": {}}')
builtins.exec = lambda *args, **kwargs: None
"""
    return notebook(path, code)


def big_output(path: Path) -> Path:
    return notebook(path, "for _ in range(200):\n    print('x' * 1_000_000)")


def display_flood(path: Path) -> Path:
    """Output past the cap by the side doors: 20 MB display updates that nbclient copies into
    200 outputs sharing one display id, then 100 MB of widget state."""
    updates = (
        "from IPython.display import display, update_display\n"
        "for _ in range(200):\n    display('x', display_id='flood')\n"
        "for _ in range(3):\n"
        "    update_display({'text/plain': 'y' * 20_000_000}, display_id='flood', raw=True)"
    )
    widgets = "import ipywidgets as w\nkept = [w.Textarea(value='z' * 10**6) for _ in range(100)]"
    return notebook(path, updates, widgets, "print('flooded')")


def zip_bomb(path: Path) -> Path:
    """A Canvas-named zip bomb: one member inflating to 300 MB."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("evil_1_2_homework.ipynb", "w", force_zip64=True) as member,
    ):
        for _ in range(300):
            member.write(b"\0" * 2**20)
    return path


def export_zip(path: Path, notebook_path: Path) -> Path:
    """The zip that the notebook's export cell makes."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(notebook_path, "homework.ipynb")
        archive.writestr("homework.pdf", b"%PDF-1.4 stand-in")
    return path


@dataclass
class Secrets:
    """Things of the grader's a submission must never reach."""

    secret: Path  # a file only the grader's user may read
    pickle_marker: Path  # created if the judge ever unpickles a submission's payload
    victim: int  # pid of a process of the grader's user
    port: int  # a loopback port the test listens on


def many_allocators(path: Path, count: int = 64, each: int = 768 * 2**20) -> Path:
    """``count`` processes, each filling ``each`` bytes (just under the per-process limit)."""
    code = f"""
import os, time
children = []
for _ in range({count}):
    pid = os.fork()
    if pid == 0:
        try:
            block = b"x" * {each}
            time.sleep(60)
        finally:
            os._exit(0)
    children.append(pid)
time.sleep(20)
print("all", len(children), "allocators still running")
"""
    return notebook(path, code)


def disk_filler(path: Path, where: str, size: int, chunk: int) -> Path:
    """Files of ``chunk`` bytes (under the per-file limit) in ``where`` until ``size`` is
    written or the disk is full; prints how far it got."""
    code = f"""
import os
written = 0
try:
    os.makedirs({where!r}, exist_ok=True)
    while written < {size}:
        with open(os.path.join({where!r}, f"fill-{{written}}"), "wb") as handle:
            handle.write(b"x" * {chunk})
        written += {chunk}
    print("LEAK wrote", written)
except OSError as error:
    print("blocked after", written, error.strerror)
"""
    return notebook(path, code)
