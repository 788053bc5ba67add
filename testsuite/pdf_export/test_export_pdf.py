"""Tests of export_pdf.sh: notebook -> PDF + Canvas submission folder and zip.

The slow tests need xelatex, pandoc and poppler-utils (pdftotext, pdfimages); the --web test
also needs Chromium. Tests whose tools are missing are skipped on a developer's machine, except
the missing-tool tests; under CI (CI set) nothing is skipped: a missing tool fails the test.
The notebooks they export come from sample_notebooks.py (also used by bench/export_pdf.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
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
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from pdf_export.notebook import run_warnings
from pdf_export.preprocessors import basic_colours
from testsuite.helpers import GradedRun
from testsuite.pdf_export.sample_notebooks import (
    CODE_TAIL,
    HUGE_TAIL,
    KERNEL,
    OUTPUT_TAIL,
    SENTENCES,
    execute,
    tricky_notebook,
    write_failing_torch_notebook,
    write_synthetic_notebook,
)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "export_pdf.sh"
QUESTIONS = [f"Question {q}" for q in range(1, 6)]


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


def test_help_into_a_closed_pipe_is_quiet() -> None:
    """``export_pdf.sh --help | head -1``: the reader may leave first; no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the script writes: the write fails for certain
    try:
        result = subprocess.run(
            ["bash", str(SCRIPT), "--help"], stdout=write_end, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write_end)
    assert b"Traceback" not in result.stderr, result.stderr.decode()


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
    for q in range(1, 6):  # bold labels survive, and each answer's frame repeats its label
        assert f"Q{q} answer:" in text
        assert text.count(f"Q{q} answer") >= 3  # index, frame title, the answer's own label
    assert "For the grader: written answers and figures" in text.split("\f")[0]
    assert "**" not in text
    assert "epoch 9: loss 0.1000" in text  # printed output
    assert "weights_digest" in text  # student code
    assert "𝑥" in text or "x2" in compact(text)  # math typeset, not raw $x^2$
    assert "$x^2$" not in text and "\\frac" not in text
    assert CODE_TAIL in compact(text), "long code line cut off"
    assert OUTPUT_TAIL in compact(text), "long output line cut off"


ASSIGNMENT_TITLE = "Deep Learning Homework: modules, multiplication, shapes and Batch Normalization"


def first_page_index(pdf: Path) -> dict[str, int]:
    """{label: page} of the grader's index on page 1 (dot leaders, then 'page N')."""
    first = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "For the grader: written answers and figures" in first
    found = re.findall(r"^\s*(\S.*?)\s*(?:\. ?)+\s*page (\d+)\s*$", first, re.M)
    return {unicodedata.normalize("NFKC", " ".join(label.split())): int(p) for label, p in found}


def page_texts(pdf: Path) -> list[str]:
    return [normalize(page) for page in pdf_text(pdf).split("\f")]


@pytest.mark.slow
@needs_latex
def test_solution_notebook_pdf(
    executed_solution_notebook: Path, reference_sentences: list[str], tmp_path: Path
) -> None:
    """The executed reference solution, made for the TA: the assignment's title, a first-page
    index whose page numbers point at each labelled answer and figure, every known sentence,
    and the progress bars in their final state."""
    nb = tmp_path / "nb dir" / executed_solution_notebook.name
    nb.parent.mkdir()
    shutil.copy(executed_solution_notebook, nb)
    before = sha256(executed_solution_notebook)
    result = run_export(nb, "--out", tmp_path / "out dir")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr  # run top to bottom, in order
    assert sha256(executed_solution_notebook) == before and sha256(nb) == before
    pdf = check_submission(tmp_path / "out dir", nb.stem, nb.read_bytes())
    text = assert_homework_pdf(pdf, reference_sentences, figures=image_outputs(nb))
    assert normalize(ASSIGNMENT_TITLE) in normalize(text.split("\n\n")[0] + " " + text[:200])
    index = first_page_index(pdf)
    labels = [label for label, _ in answer_cells(nb)]
    assert labels, "no labelled free-text answers (**Qn ... answer:**) in the notebook"
    pages = page_texts(pdf)
    for label in labels:  # the index's page shows the framed answer's title and label
        name = label.rstrip(":")
        assert name in index, f"{label!r} not in the index {index}"
        assert normalize(label) in pages[index[name] - 1], f"{label!r}: page {index[name]}"
    assert sum(label.startswith("Figure") for label in index) == image_outputs(nb)
    assert "50000/50000" in text and "0/50000" not in text.replace("50000/50000", "")


@pytest.mark.slow
@needs_latex
def test_blank_notebook_pdf(graded_examples: GradedRun, tmp_path: Path) -> None:
    """The executed blank notebook (tracebacks in many cells) exports; answers flagged."""
    nb = tmp_path / "homework.ipynb"
    shutil.copy(graded_examples.out / "executed" / "blank.ipynb", nb)
    result = run_export(nb)
    assert result.returncode == 0, result.stderr
    index = first_page_index(check_submission(tmp_path, "homework", nb.read_bytes()))
    answers = [label for label in index if not label.startswith("Figure")]
    assert answers and all(label.endswith("(not answered)") for label in answers)


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
def test_broken_math_cell_becomes_verbatim(tmp_path: Path) -> None:
    """Math LaTeX cannot typeset: the PDF is still made, that cell shown as plain text, and
    stderr names the cell and quotes its first line."""
    broken = "My broken answer: $\\frac{1}{$ and $\\undefinedmacro{x}$."
    nb = tmp_path / "homework.ipynb"
    nbformat.write(tricky_notebook(broken + "\nSecond line."), nb)
    before = sha256(nb)
    result = run_export(nb)
    assert result.returncode == 0, result.stderr
    assert "markdown cell 2" in result.stderr and repr(broken)[:60] in result.stderr
    assert "plain text" in result.stderr
    assert sha256(nb) == before
    text = pdf_text(check_submission(tmp_path, "homework", nb.read_bytes()))
    assert "\\frac{1}{$" in text and "could not typeset" in text
    assert HUGE_TAIL in compact(text)  # the rest of the notebook is all there


@pytest.mark.slow
@needs_latex
def test_real_torch_tracebacks(tmp_path: Path) -> None:
    """A partly working notebook: tracebacks of real broken PyTorch (256 colours) export."""
    nb = write_failing_torch_notebook(tmp_path / "partly working.ipynb")
    traceback = nbformat.read(nb, as_version=4).cells[3].outputs[0].traceback
    assert any("\x1b[38;5;" in line for line in traceback)  # IPython's 256 colours, for real
    result = run_export(nb)
    assert result.returncode == 0, result.stderr
    text = pdf_text(check_submission(tmp_path, nb.stem, nb.read_bytes()))
    assert "mat1 and mat2 shapes cannot be multiplied" in text
    assert "RuntimeError" in text and "Q1 answer" in text


def lines_starting(text: str, words: list[str]) -> list[str]:
    """The words that do not start a line of text (bullets and numbers aside)."""
    starts = {re.sub(r"^[\s•◦–\-*·∗0-9.)]+", "", line) for line in text.splitlines()}
    return [w for w in words if not any(line.startswith(w) for line in starts)]


@pytest.mark.slow
@needs_latex
def test_markdown_renders_as_in_jupyter(tmp_path: Path) -> None:
    """A list right after a paragraph line, nested lists, a table and math, as Jupyter shows."""
    markdown = (
        "**Rules** (read them):\n- Alphaitem first rule\n- Betaitem second rule\n"
        "  - Gammaitem nested rule\n\n1. Deltaitem numbered\n2. Epsilonitem numbered\n\n"
        "**Q1 answer:** my points:\n- Zetaitem point one\n- Etaitem point two\n\n"
        "| step | accuracy |\n|---|---|\n| 5K | 0.93 |\n| 10K | 0.95 |\n\n"
        "Math: $\\sqrt{x_1^2 + x_2^2}$."
    )
    nb = tmp_path / "lists.ipynb"
    nbformat.write(tricky_notebook(markdown), nb)
    result = run_export(nb)
    assert result.returncode == 0, result.stderr
    text = pdf_text(tmp_path / "lists.pdf")
    items = ["Alphaitem", "Betaitem", "Gammaitem", "Deltaitem", "Epsilonitem"]
    assert not lines_starting(text, [*items, "Zetaitem", "Etaitem"]), text
    assert "0.93" in text and "10K" in text and "|---|" not in text  # a table, not raw pipes
    assert "\\sqrt" not in text and "$" not in text.split("Math:")[1][:30]


@pytest.mark.slow
@needs_latex
def test_huge_output_and_final_progress_bars(tmp_path: Path) -> None:
    """20,000 printed lines are shortened; tqdm bars show their final state, not 0%."""
    notebook = new_notebook(
        cells=[
            new_markdown_cell("# Progress"),
            new_code_cell("for i in range(20_000):\n    print('line', i)"),
            new_code_cell(
                "from tqdm.auto import tqdm\nfor _ in tqdm(range(5000), desc='BN'):\n    pass"
            ),
        ],
        metadata={"kernelspec": KERNEL},
    )
    nb = tmp_path / "progress.ipynb"
    nb.write_bytes(execute(notebook))
    assert "application/vnd.jupyter.widget-view+json" in nb.read_text()  # a real widget
    result = run_export(nb)
    assert result.returncode == 0, result.stderr
    text = pdf_text(tmp_path / "progress.pdf")
    assert "line 0" in text and "line 19999" in text and "lines of output left out" in text
    assert "5000/5000" in text and "0/5000" not in text.replace("5000/5000", "")


@pytest.mark.slow
@needs_latex
def test_never_run_notebook_warns(tmp_path: Path) -> None:
    """A never-run notebook still exports, with a warning that says so."""
    nb = tmp_path / "homework.ipynb"
    cells = [new_markdown_cell("# Homework\n\n" + "Some words. " * 20), new_code_cell("print(1)")]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": KERNEL}), nb)
    result = run_export(nb)
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and "never run" in result.stderr


def test_run_warnings_name_the_cells() -> None:
    """Never run, cells not run and cells run out of order are each reported, with cells."""

    def notebook(*counts: int | None) -> dict:
        cells = [{"cell_type": "markdown", "source": "# T"}]
        cells += [{"cell_type": "code", "source": "x", "execution_count": c} for c in counts]
        return {"cells": cells}

    assert run_warnings(notebook(1, 2, 3)) == []
    assert "never run" in run_warnings(notebook(None, None))[0]
    (message,) = run_warnings(notebook(1, None, 3))
    assert "cell(s) 3" in message
    (message,) = run_warnings(notebook(5, 2, 7))
    assert "out of order" in message and "cell 3 (In [2]) after cell 2 (In [5])" in message


def test_basic_colours_from_real_traceback() -> None:
    """IPython's 256-colour codes (from a real traceback) become basic colours, text kept."""
    nb = nbformat.reads(
        execute(
            nbformat.v4.new_notebook(
                cells=[new_code_cell("import json\njson.loads('{')")],
                metadata={"kernelspec": KERNEL},
            )
        ),
        as_version=4,
    )
    traceback = "\n".join(nb.cells[0].outputs[0].traceback)
    assert "\x1b[38;5;" in traceback
    converted = basic_colours(traceback)
    assert "38;5" not in converted and "38;2" not in converted
    strip = re.compile(r"\x1b\[[0-9;]*m")
    assert strip.sub("", converted) == strip.sub("", traceback)


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


def test_one_submission_route() -> None:
    """The student notebook ends with the Submission section; no cell exports or re-runs."""
    notebook = nbformat.read(REPO / "homework.ipynb", as_version=4)
    last = [cell for cell in notebook.cells if cell.source.strip()][-1]
    assert last.cell_type == "markdown" and "## Submission" in last.source
    for words in ("bash export_pdf.sh homework.ipynb", "--web", "submission/", "**both**"):
        assert words in last.source, words
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    for call in ("grader.export", "nbconvert", "export_pdf", "to_pdf"):
        assert call not in code, f"a code cell calls {call}"


def test_training_cells_set_their_threads() -> None:
    """Q2's and Q5's training cells choose their thread count, with a comment why."""
    notebook = nbformat.read(REPO / "homework.ipynb", as_version=4)
    training = [
        cell.source
        for cell in notebook.cells
        if cell.cell_type == "code" and re.search(r"^q[25]_\w*model = ", cell.source, re.M)
    ]
    assert len(training) == 2
    for source in training:
        line = next(line for line in source.splitlines() if "torch.set_num_threads(" in line)
        assert "#" in line, line
