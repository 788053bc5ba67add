"""Tests of export_pdf.sh: notebook -> PDF + Canvas submission folder and zip.

The slow tests need xelatex, pandoc and poppler-utils (pdftotext, pdfimages); the --web test
also needs Chromium. Tests whose tools are missing are skipped on a developer's machine, except
the missing-tool tests; under CI (CI set) nothing is skipped: a missing tool fails the test.
`write_synthetic_notebook` is also used by bench/export_pdf.py and the fallback fixtures.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

REPO = Path(__file__).resolve().parent
SCRIPT = REPO / "export_pdf.sh"
QUESTIONS = [f"Question {q}" for q in range(1, 6)]
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


def unless_ci(missing: bool, reason: str) -> pytest.MarkDecorator:
    """Skip when a tool is missing, except in CI, where `make` installs every tool."""
    return pytest.mark.skipif(missing and not os.environ.get("CI"), reason=reason)


needs_playwright = unless_ci(
    importlib.util.find_spec("playwright") is None, "--web needs the playwright package"
)
needs_latex = unless_ci(
    not all(shutil.which(t) for t in ("xelatex", "pandoc", "pdftotext", "pdfimages")),
    "needs xelatex, pandoc and poppler-utils",
)


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


@functools.cache
def _executed_synthetic_bytes() -> bytes:
    from nbclient import NotebookClient

    nb = synthetic_notebook()
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    return nbformat.writes(nb).encode()


def write_synthetic_notebook(path: Path) -> Path:
    """Write the executed synthetic notebook to path (executed once per process)."""
    path.write_bytes(_executed_synthetic_bytes())
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


def run_export(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def normalize(text: str) -> str:
    """Make PDF text comparable: unify ligatures/quotes, drop hyphens, fold whitespace/case."""
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(str.maketrans("‘’“”–—", "''\"\"--"))
    text = re.sub(r"-\s*\n\s*", "", text).replace("-", "")  # hyphenation at line ends
    return " ".join(text.split()).casefold()


def compact(text: str) -> str:
    """Letters and digits only: long lines wrapped with continuation marks still match."""
    return re.sub(r"[^0-9A-Za-z]", "", text)


def pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


def pdf_image_count(pdf: Path) -> int:
    listing = subprocess.run(
        ["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True
    ).stdout.splitlines()[2:]
    return sum(1 for line in listing if line.split()[2] == "image")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


ANSWER_LABEL = re.compile(r"^\*\*(Q\d[^*\n]*answer:)\*\*(.*)", re.M | re.S)
MARKUP = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|[*_\\\[\]<>|#$`]", re.S)


def answer_cells(nb_path: Path) -> list[tuple[str, str]]:
    """(label, longest plain phrase) of each markdown cell that starts with **Qn ... answer:**.

    A plain phrase has no math, code or emphasis markup, so its PDF text is predictable.
    """
    found = []
    for cell in nbformat.read(nb_path, as_version=4).cells:
        match = ANSWER_LABEL.match(cell.source) if cell.cell_type == "markdown" else None
        if match:
            phrase = max(MARKUP.split(match.group(2)), key=lambda f: len(f.split()))
            found.append((match.group(1), phrase.strip(" \n\t,.;:()")))
    return found


def image_outputs(nb_path: Path) -> int:
    notebook = nbformat.read(nb_path, as_version=4)
    return sum(
        1
        for cell in notebook.cells
        for out in cell.get("outputs", [])
        if {"image/png", "image/jpeg"} & set(out.get("data", {}))
    )


def assert_homework_pdf(pdf: Path, sentences: list[str], figures: int = 1) -> str:
    """Every question heading and sentence is in the PDF, plus the figures; returns the text."""
    text = pdf_text(pdf)
    flat = normalize(text)
    for heading in QUESTIONS:
        assert heading.casefold() in flat, f"{heading!r} missing from {pdf.name}"
    for sentence in sentences:
        assert normalize(sentence) in flat, f"{sentence!r} missing from {pdf.name}"
    assert pdf_image_count(pdf) >= figures
    return text


def check_submission(out: Path, name: str, original: bytes) -> Path:
    """submission/NAME.ipynb (byte-identical), submission/NAME.pdf and a flat zip of both."""
    folder = out / "submission"
    assert sorted(p.name for p in folder.iterdir()) == [f"{name}.ipynb", f"{name}.pdf"]
    assert (folder / f"{name}.ipynb").read_bytes() == original
    assert (out / f"{name}.pdf").read_bytes() == (folder / f"{name}.pdf").read_bytes()
    with zipfile.ZipFile(out / "submission.zip") as zf:
        assert sorted(zf.namelist()) == [f"{name}.ipynb", f"{name}.pdf"]
        assert zf.read(f"{name}.ipynb") == original
    return folder / f"{name}.pdf"


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with spaces in its name holding the executed synthetic homework.ipynb."""
    folder = tmp_path_factory.mktemp("export") / "my homework folder"
    folder.mkdir()
    write_synthetic_notebook(folder / "homework.ipynb")
    return folder


def test_help() -> None:
    result = run_export("--help")
    assert result.returncode == 0
    for word in ("--web", "--out", "submission.zip", "apt-get install pandoc texlive-xetex"):
        assert word in result.stdout


@unless_ci(shutil.which("shellcheck") is None, "needs shellcheck")
def test_shellcheck() -> None:
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_bad_arguments(tmp_path: Path) -> None:
    result = run_export("--bogus")
    assert result.returncode != 0 and "unknown option" in result.stderr
    result = run_export(tmp_path / "nope.ipynb")
    assert result.returncode != 0 and "not found" in result.stderr


def env_without(tmp_path: Path, *tools: str) -> dict[str, str]:
    """Environment whose PATH has every program of the current PATH except `tools`."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            target = bindir / entry.name
            if entry.name not in tools and not target.exists() and os.access(entry.path, os.X_OK):
                target.symlink_to(entry.path)
    # No playwright-downloaded browser either.
    env = {**os.environ, "PATH": str(bindir), "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path)}
    env.pop("CHROMIUM", None)
    return env


@pytest.mark.parametrize("tools", [("xelatex",), ("pandoc",), ("xelatex", "pandoc")])
def test_missing_latex_tool(tmp_path: Path, tools: tuple[str, ...]) -> None:
    nb = tmp_path / "homework.ipynb"
    nbformat.write(tricky_notebook("Some text."), nb)
    result = run_export(nb, env=env_without(tmp_path, *tools))
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert all(tool in message for tool in tools)
    if sys.platform.startswith("linux"):
        assert (
            "apt-get install pandoc texlive-xetex texlive-fonts-recommended texlive-plain-generic"
        ) in message
    assert not (tmp_path / "submission").exists()


@needs_playwright
def test_missing_chromium(tmp_path: Path) -> None:
    nb = tmp_path / "homework.ipynb"
    nbformat.write(tricky_notebook("Some text."), nb)
    env = env_without(
        tmp_path, "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"
    )
    result = run_export("--web", nb, env=env)
    assert result.returncode != 0
    assert "Chromium" in result.stderr
    if sys.platform.startswith("linux"):
        assert "apt-get install chromium" in result.stderr
    assert not (tmp_path / "submission").exists()


@pytest.mark.slow
@needs_latex
def test_synthetic_homework_pdf(synthetic_dir: Path, tmp_path: Path) -> None:
    """Default notebook name, folder with spaces: headings, answers, math, figures, long lines."""
    work = tmp_path / "copy of folder"
    shutil.copytree(synthetic_dir, work)
    nb = work / "homework.ipynb"
    before, original = sha256(nb), nb.read_bytes()
    result = run_export(cwd=work)
    assert result.returncode == 0, result.stderr
    assert sha256(nb) == before
    assert sorted(p.name for p in work.iterdir()) == [
        "homework.ipynb",
        "homework.pdf",
        "submission",
        "submission.zip",
    ]
    pdf = check_submission(work, "homework", original)
    text = assert_homework_pdf(pdf, SENTENCES, figures=2)
    for q in range(1, 6):  # bold labels survive, without markdown asterisks
        assert f"Q{q} answer:" in text
    assert "**" not in text
    assert "epoch 9: loss 0.1000" in text  # printed output
    assert "weights_digest" in text  # student code
    assert "𝑥" in text or "x2" in compact(text)  # math typeset, not raw $x^2$
    assert "$x^2$" not in text and "\\frac" not in text
    assert CODE_TAIL in compact(text), "long code line cut off"
    assert OUTPUT_TAIL in compact(text), "long output line cut off"


@pytest.mark.slow
@needs_latex
def test_solution_notebook_pdf(
    executed_solution_notebook: Path, reference_sentences: list[str], tmp_path: Path
) -> None:
    """The executed reference solution: every question, answer label, known sentence, figure."""
    nb = tmp_path / "nb dir" / executed_solution_notebook.name
    nb.parent.mkdir()
    shutil.copy(executed_solution_notebook, nb)
    before = sha256(executed_solution_notebook)
    result = run_export(nb, "--out", tmp_path / "out dir")
    assert result.returncode == 0, result.stderr
    assert sha256(executed_solution_notebook) == before and sha256(nb) == before
    pdf = check_submission(tmp_path / "out dir", nb.stem, nb.read_bytes())
    flat = normalize(assert_homework_pdf(pdf, reference_sentences, figures=image_outputs(nb)))
    labels = [label for label, _ in answer_cells(nb)]
    assert labels, "no labelled free-text answers (**Qn ... answer:**) in the notebook"
    for label in labels:
        assert normalize(label) in flat, f"answer label {label!r} missing from the PDF"


@pytest.mark.slow
@needs_latex
def test_stray_dollar_long_line_image(tmp_path: Path) -> None:
    """A stray $ is no problem; the PDF has the text, the image and all long lines."""
    sentence = "It costs $5, and here is a stray $ sign in my answer."
    nb = tmp_path / "stray dollar.ipynb"
    nbformat.write(tricky_notebook(f"**Q1 answer:** {sentence}"), nb)
    before = sha256(nb)
    result = run_export(nb, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert sha256(nb) == before
    pdf = check_submission(tmp_path / "out", "stray dollar", nb.read_bytes())
    text = pdf_text(pdf)
    assert len(compact(text)) > 200, "PDF (almost) blank"
    assert normalize(sentence) in normalize(text)
    assert CODE_TAIL in compact(text) and OUTPUT_TAIL in compact(text)
    assert HUGE_TAIL in compact(text) and HUGE_TAIL.lower() in compact(text)
    assert pdf_image_count(pdf) == 1


@pytest.mark.slow
@needs_latex
def test_broken_math_gives_clear_error(tmp_path: Path) -> None:
    """Math LaTeX cannot typeset: a non-zero exit naming the bad text, and no submission."""
    nb = tmp_path / "homework.ipynb"
    nbformat.write(tricky_notebook("Broken: $\\frac{1}{$ and $\\undefinedmacro{x}$."), nb)
    before = sha256(nb)
    result = run_export(nb)
    assert result.returncode != 0
    assert "LaTeX errors" in result.stderr and "--web" in result.stderr
    assert sha256(nb) == before
    assert not (tmp_path / "submission").exists() and not (tmp_path / "homework.pdf").exists()


@pytest.mark.slow
@needs_latex
@needs_playwright
@unless_ci(not (shutil.which("chromium") or shutil.which("google-chrome")), "needs Chromium")
def test_web_route(synthetic_dir: Path, tmp_path: Path) -> None:
    """--web (Chromium via playwright, offline) wraps long lines and keeps every answer."""
    nb = tmp_path / "my homework.ipynb"
    shutil.copy(synthetic_dir / "homework.ipynb", nb)
    before = sha256(nb)
    result = run_export("--web", "--out", tmp_path / "web out", nb)
    assert result.returncode == 0, result.stderr
    assert sha256(nb) == before
    pdf = check_submission(tmp_path / "web out", "my homework", nb.read_bytes())
    text = assert_homework_pdf(pdf, SENTENCES, figures=2)
    assert CODE_TAIL in compact(text) and OUTPUT_TAIL in compact(text)
    if Path("/usr/share/javascript/mathjax/MathJax.js").exists():
        assert "\\frac" not in text and "$$" not in text  # MathJax rendered the math offline
