"""Notebooks that exercise export_pdf.sh: shared by its tests and bench/export_pdf.py.

- ``synthetic_notebook``: a ~5-page homework-like notebook (5 questions, math, 2 figures).
- ``tricky_notebook``: given markdown plus very long lines, an image and a huge traceback.
- ``failing_torch_notebook``: a partly working submission; its tracebacks come from really
  running broken PyTorch code (IPython's 256-colour traceback codes included).
Executed notebooks are made once per process (``functools.cache``).
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

SENTENCES = [
    "A Hardtanh output is clamped to the interval from minus one to one.",
    "The training loss decreases steadily over all ten epochs.",
    "A fixed finite network cannot represent the product of two inputs exactly.",
    "The transposed convolution cannot restore the original length of the input.",
    "Batch normalization makes the deeper network train much faster.",
]
# Long code / output lines whose ends would be cut off at the page edge without wrapping.
CODE_TAIL = "ZZTAILOFLONGCODELINE"
OUTPUT_TAIL = "ZZTAILOFLONGOUTPUTLINE"
HUGE_TAIL = "ZZTAILOFHUGELINE"
LONG_TOKEN = "0123456789abcdef" * 14
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
# Broken PyTorch, as a partly working submission has it: a shape mismatch deep in nn.Module.
FAILING_TORCH = "import torch\ntorch.nn.Sequential(torch.nn.Linear(3, 4))(torch.zeros(2, 5))"


def question_cells(q: int) -> list:
    """Prompt, code and labelled free-text answer of synthetic question q (1..5)."""
    prompt = f"## Question {q}\n\nAnswer in code and in words. " + "Explain your reasoning. " * 16
    if q == 1:
        prompt += (
            "\n\nWe square the input, $x^2$, and sum:\n\n$$\\sum_{i=1}^{n} i^2 = "
            "\\frac{n(n+1)(2n+1)}{6}$$"
        )
    code = {
        1: "import torch\nx = torch.tensor([-3.0, 0.5, 3.0])\nprint(torch.nn.Hardtanh()(x))",
        2: "import matplotlib.pyplot as plt\nlosses = [1 / (e + 1) for e in range(10)]\n"
        "for e, loss in enumerate(losses):\n    print(f'epoch {e}: loss {loss:.4f}')\n"
        "plt.plot(losses)\nplt.xlabel('epoch')\nplt.ylabel('loss')\nplt.show()",
        3: "import numpy as np\nrng = np.random.default_rng(0)\n"
        "points = rng.normal(size=(200, 2))\nplt.scatter(points[:, 0], points[:, 1], s=5)\n"
        "plt.title('inputs')\nplt.show()",
        4: f"weights_digest = '{LONG_TOKEN}{CODE_TAIL}'  # a very long line\n"
        f"print('{LONG_TOKEN}' + '{OUTPUT_TAIL.lower()}'.upper())  # tail not in the code\n"
        "print(len(weights_digest))",
        5: "summary = {'plain': 0.91, 'batchnorm': 0.97}\nfor k, v in summary.items():\n"
        "    print(k, v)\nfor digit in range(10):\n"
        "    print(f'digit {digit}: plain {0.9 + digit / 200:.3f}  batchnorm {0.95:.3f}')",
    }[q]
    answer = f"**Q{q} answer:** {SENTENCES[q - 1]} " + "More explanation follows here. " * 6
    return [new_markdown_cell(prompt), new_code_cell(code), new_markdown_cell(answer)]


def synthetic_notebook() -> nbformat.NotebookNode:
    """Unexecuted ~5-page homework-like notebook: 5 questions, math, 2 figures, long lines."""
    cells = [new_markdown_cell("# Homework (synthetic test notebook)")]
    for q in range(1, 6):
        cells += question_cells(q)
    return new_notebook(cells=cells, metadata={"kernelspec": KERNEL})


def execute(notebook: nbformat.NotebookNode) -> bytes:
    """The notebook run top to bottom in a fresh kernel (errors kept as outputs), as JSON."""
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=True).execute()
    return nbformat.writes(notebook).encode()


@functools.cache
def _executed(build: Callable[[], nbformat.NotebookNode]) -> bytes:
    """The notebook ``build`` makes, executed once per process."""
    return execute(build())


def write_synthetic_notebook(path: Path) -> Path:
    """Write the executed synthetic notebook to path (executed once per process)."""
    path.write_bytes(_executed(synthetic_notebook))
    return path


def failing_torch_notebook() -> nbformat.NotebookNode:
    """A partly working submission: an answer, a working cell, two broken PyTorch cells."""
    cells = [
        new_markdown_cell("# Partly working homework"),
        new_markdown_cell("## Question 1"),
        new_code_cell("import torch\nprint(torch.nn.Hardtanh()(torch.tensor([3.0])))"),
        new_code_cell(FAILING_TORCH),
        new_markdown_cell("**Q1 answer:** My network fails with a shape error."),
        new_code_cell("torch.nn.Conv2d(1, 1, 300)(torch.zeros(1, 1, 28, 28))"),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": KERNEL})


def write_failing_torch_notebook(path: Path) -> Path:
    """Write the executed partly working notebook (real tracebacks) to path."""
    path.write_bytes(_executed(failing_torch_notebook))
    return path


def png_bytes() -> bytes:
    """A small matplotlib PNG, made without a kernel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 4, 9])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def tricky_notebook(markdown: str) -> nbformat.NotebookNode:
    """Notebook with the given markdown, long lines, an image and an error (no kernel).

    One code line and one traceback line are so long (5000 characters) that LaTeX could not
    even measure them unsplit.
    """
    code = new_code_cell(f"s = '{LONG_TOKEN}{CODE_TAIL}'\nshow_image()", execution_count=1)
    code.outputs = [
        new_output("stream", name="stdout", text=f"{LONG_TOKEN}{OUTPUT_TAIL}\n"),
        new_output(
            "display_data",
            data={"image/png": base64.b64encode(png_bytes()).decode(), "text/plain": "<Figure>"},
        ),
    ]
    huge = new_code_cell(
        f"blob = '{'x' * 5000}{HUGE_TAIL}'\nraise ValueError(blob)", execution_count=2
    )
    huge.outputs = [
        new_output(
            "error",
            ename="ValueError",
            evalue="x",
            traceback=["\x1b[0;31mValueError\x1b[0m: " + "y" * 5000 + HUGE_TAIL.lower()],
        )
    ]
    cells = [new_markdown_cell("## Question 1"), new_markdown_cell(markdown), code, huge]
    return new_notebook(cells=cells, metadata={"kernelspec": KERNEL})
