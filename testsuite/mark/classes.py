"""Hand-built ``--out`` folders for the marking app (no grading): the examples copied as executed
notebooks, a Q5 figure, optionally hostile or varied answers, and a server to run on them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat

from grader.report.written import WrittenItem, answer_label, written_items

ROOT = Path(__file__).resolve().parents[2]
MASTER = ROOT / "solutions" / "homework.ipynb"
EXAMPLES = ("solution", "partly_wrong", "blank")
TOKEN = "test-token-0123456789abcdef"
FIGURE = "q5_batchnorm_mnist.png"

# Each must be shown as text or dropped, and run or fetch nothing.
HOSTILE = (
    "<script>alert('script')</script> plain <img src=x onerror=\"alert('onerror')\">",
    "[click](javascript:alert('link')) and <a href=\"javascript:alert('a')\">a link</a>",
    '![remote](http://example.invalid/track.png) <img src="https://example.invalid/x.png">',
    '<svg onload="alert(\'svg\')"></svg><iframe src="http://example.invalid/"></iframe>'
    "<style>body{background:url(http://example.invalid/css.png)}</style>"
    '<div style="background:url(http://example.invalid/s.png)">styled</div>',
    "Math $\\href{javascript:alert('tex')}{x}$ and $$\\style{}{y}$$"
    '<form action="http://example.invalid/"><button>go</button></form>',
    "x" * 10_000_000,
)


def items() -> list[WrittenItem]:
    return written_items(MASTER)


def figure_png(path: Path, seed: int = 0) -> None:
    """A small plot like the students' Figure 1(a)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4, 2.6), dpi=80)
    steps = range(0, 50_001, 2_500)
    axes.plot(steps, [0.9 + 0.08 * (1 - 0.9 ** (s / 2500 + seed)) for s in steps], label="BN")
    axes.plot(steps, [0.85 + 0.1 * (1 - 0.95 ** (s / 2500)) for s in steps], label="no BN")
    axes.set_xlabel("step")
    axes.set_ylabel("test accuracy")
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def with_answers(notebook: nbformat.NotebookNode, answers: dict[str, str]) -> None:
    """Replace the answers (by item key) in a copy of a student's notebook."""
    labels = {item.label: item for item in items()}
    for cell in notebook.cells:
        label = answer_label(cell.source) if cell.cell_type == "markdown" else None
        if label in labels and labels[label].key in answers:
            cell.source = f"**{label}:** {answers[labels[label].key]}"


def make_class(
    out: Path, notebooks: dict[str, nbformat.NotebookNode], figures: bool = True
) -> Path:
    """``out/executed/<key>.ipynb`` (+ ``answers/<key>/files/`` figure) for each notebook."""
    (out / "executed").mkdir(parents=True, exist_ok=True)
    for index, (key, notebook) in enumerate(notebooks.items()):
        nbformat.write(notebook, out / "executed" / f"{key}.ipynb")
        if figures:
            figure_png(out / "answers" / key / "files" / FIGURE, seed=index)
    return out


def example(name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "examples" / f"{name}.ipynb", as_version=4)


def examples_class(out: Path) -> Path:
    """The three examples that hold a notebook (the corrupted one never gets executed)."""
    return make_class(out, {name: example(name) for name in EXAMPLES})


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Server:
    """``homework-grader mark`` in a child process on 127.0.0.1, a free port; dies with us."""

    def __init__(self, out: Path) -> None:
        environment = {**os.environ, "HOMEWORK_MARK_TOKEN": TOKEN}
        command = [sys.executable, "-m", "grader", "mark", "--out", str(out), "--port", "0"]
        self.process = subprocess.Popen(
            [*command, "--course", str(ROOT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            text=True,
            preexec_fn=_die_with_parent,
        )
        self.url = self._read_url(timeout=60)
        self.base = self.url.split("/?")[0]

    def _read_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 1)
            if ready:
                line = self.process.stdout.readline()
                if line.startswith("http://"):
                    return line.strip()
                if not line:
                    break
        self.stop()
        raise RuntimeError(f"the server did not start: {self.process.stderr.read()}")

    def kill(self) -> None:
        """SIGKILL: no chance to flush or close anything."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def server(out: Path) -> Iterator[Server]:
    running = Server(out)
    try:
        yield running
    finally:
        running.stop()
