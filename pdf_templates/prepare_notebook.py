"""Prepare the private copy of a notebook that export_pdf.sh converts (never the original).

Usage:
  python prepare_notebook.py prepare COPY.ipynb NAME SHOWN [--latex]
  python prepare_notebook.py fix-latex COPY.ipynb TEMPLATE_DIR SHOWN

``prepare`` (both routes) warns on stderr when the notebook was never run or ran out of order,
titles the PDF with the assignment's first heading, marks the written-answer cells and figures
for the TA's index, replaces progress-bar widgets by their final text and shortens huge
outputs. With ``--latex`` it also turns 256-colour/true-colour terminal codes into the basic
colours LaTeX handles and cuts lines LaTeX could not even measure.

``fix-latex`` (after xelatex failed) finds the markdown cells LaTeX cannot typeset, says which
on stderr, and turns them into verbatim text; exit status 3 when no cell is to blame.
Exits with one clear message if the file is not a notebook.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PROG = "export_pdf.sh"
MAX_LINE = 1000  # LaTeX cannot measure a line of ~3000 characters ("Dimension too large")
MAX_OUTPUT_LINES = 400  # longer outputs keep their first and last lines
KEEP_TAIL = 50
ANSWER_LABEL = re.compile(r"^\s*\*\*([^*\n]{1,80}?):?\*\*")
PLACEHOLDER = "Type your answer here"
QUESTION_HEADING = re.compile(r"^#{1,3}\s*Question\s+(\d+)", re.M)
ANSI = re.compile(r"\x1b\[([0-9;]*)m")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# The 16 basic terminal colours (xterm's RGB values), which nbconvert's ansi2latex names.
BASIC = [
    (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0),
    (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
    (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0),
    (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
]  # fmt: skip

# Reset, bold, normal, default colours and the basic/bright foreground and background colours.
KEPT_SGR = {0, 1, 22, 39, 49, *range(30, 38), *range(40, 48), *range(90, 98), *range(100, 108)}
Notebook = dict[str, Any]


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def text_of(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


# --- run state -------------------------------------------------------------------------------


def run_warnings(notebook: Notebook) -> list[str]:
    """What a grader should know about how the notebook was run (empty: all in order)."""
    code = [
        (i + 1, cell.get("execution_count"))
        for i, cell in enumerate(notebook["cells"])
        if cell.get("cell_type") == "code" and text_of(cell.get("source", "")).strip()
    ]
    ran = [(cell, count) for cell, count in code if count is not None]
    if code and not ran:
        return [
            "the notebook was never run: the PDF has no outputs or figures. Run all cells"
            " (Kernel > Restart & Run All), save, and export again"
        ]
    found = []
    not_run = [cell for cell, count in code if count is None]
    if not_run:
        found.append(f"{len(not_run)} code cell(s) never ran: cell(s) {short_list(not_run)}")
    late = [
        f"cell {cell} (In [{count}]) after cell {prev} (In [{prev_count}])"
        for (prev, prev_count), (cell, count) in itertools.pairwise(ran)
        if count <= prev_count
    ]
    if late:
        found.append(
            "cells were run out of order: "
            + "; ".join(late[:5])
            + (f" and {len(late) - 5} more" if len(late) > 5 else "")
            + ". Restart the kernel, run all cells, save, and export again"
        )
    return found


def short_list(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(map(str, numbers[:limit]))
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")


# --- title, answers and figures --------------------------------------------------------------


def assignment_title(notebook: Notebook, fallback: str) -> str:
    """The first level-1 heading of a markdown cell, as plain text; else ``fallback``."""
    for cell in notebook["cells"]:
        if cell.get("cell_type") == "markdown":
            match = re.search(r"^#\s+(.+)$", text_of(cell.get("source", "")), re.M)
            if match:
                return re.sub(r"[*_`$\\]", "", match.group(1)).strip() or fallback
    return fallback


def has_image(cell: dict[str, Any]) -> bool:
    return any(
        {"image/png", "image/jpeg", "image/svg+xml"} & set(out.get("data", {}))
        for out in cell.get("outputs", [])
    )


def mark_for_grader(notebook: Notebook) -> list[dict[str, str]]:
    """Label written-answer cells and figures in cell metadata; returns the index entries."""
    index: list[dict[str, str]] = []
    question = ""
    figures = 0
    for number, cell in enumerate(notebook["cells"], start=1):
        source = text_of(cell.get("source", ""))
        kind = cell.get("cell_type")
        if kind == "markdown" and (heading := QUESTION_HEADING.search(source)):
            question = heading.group(1)
        label = None
        if kind == "markdown":
            match = ANSWER_LABEL.match(source)
            tagged = "otter_answer_cell" in cell.get("metadata", {}).get("tags", [])
            if match and re.match(r"Q\d.*(answer|analysis)$", match.group(1)):
                label = match.group(1).strip()
            elif tagged:
                label = f"Q{question} answer" if question else "Written answer"
            if label and PLACEHOLDER in source:
                label += " (not answered)"
        elif kind == "code" and has_image(cell):
            figures += 1
            label = f"Figure {figures}" + (f" (Question {question})" if question else "")
        if label:
            entry = {"label": label, "key": f"hw-cell-{number}", "kind": kind}
            cell.setdefault("metadata", {})["homework"] = entry
            if kind == "markdown":  # the web route frames these cells via their tag
                cell["metadata"].setdefault("tags", []).append("homework-answer")
            index.append(entry)
    return index


# --- outputs ---------------------------------------------------------------------------------


def widget_text(model_id: str, states: dict[str, Any], depth: int = 0) -> str | None:
    """The last text state of a saved widget: tqdm's bar is an HBox (HTML, progress, HTML)."""
    model = states.get(model_id, {})
    state = model.get("state", {})
    name = model.get("model_name", "")
    if name == "HBoxModel" and depth < 3:
        parts = [
            widget_text(str(child).removeprefix("IPY_MODEL_"), states, depth + 1)
            for child in state.get("children", [])
        ]
        return "".join(part for part in parts if part) or None
    if name in {"FloatProgressModel", "IntProgressModel"}:
        low, high, value = state.get("min", 0), state.get("max", 0), state.get("value", 0)
        filled = round(10 * (value - low) / (high - low)) if high > low else 0
        return "|" + "#" * filled + " " * (10 - filled) + "|"  # fonts may lack block glyphs
    if name in {"HTMLModel", "LabelModel", "TextModel"}:
        text = html.unescape(re.sub(r"<[^>]+>", "", str(state.get("value", ""))))
        return re.sub(r"[\u2007\u00a0]", " ", text)  # tqdm pads with figure spaces
    return None


def replace_widgets(notebook: Notebook) -> None:
    """Widgets (tqdm bars) become text: their final saved state, else a plain note."""
    states = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {})
    states = states.get("state", {})
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            model_id = data[WIDGET_VIEW].get("model_id", "")
            final = widget_text(model_id, states)
            if final is None:
                plain = text_of(data.get("text/plain", "")).strip()
                final = f"[progress bar; its final state was not saved. First state: {plain}]"
            output["data"] = {"text/plain": final.strip()}


def shorten(text: str) -> str:
    lines = text.split("\n")
    if len(lines) <= MAX_OUTPUT_LINES:
        return text
    omitted = len(lines) - MAX_OUTPUT_LINES
    note = f"[... {omitted} lines of output left out of the PDF; the notebook has them all ...]"
    head = lines[: MAX_OUTPUT_LINES - KEEP_TAIL]
    return "\n".join([*head, note, *lines[-KEEP_TAIL:]])


def split_long_lines(text: str | list[str]) -> str:
    """Text with every line cut into pieces of at most MAX_LINE characters."""
    lines = []
    for line in text_of(text).split("\n"):
        lines += [line[i : i + MAX_LINE] for i in range(0, len(line), MAX_LINE)] or [""]
    return "\n".join(lines)


def nearest_basic(rgb: tuple[int, int, int]) -> int:
    return min(
        range(16), key=lambda i: sum((a - b) ** 2 for a, b in zip(rgb, BASIC[i], strict=True))
    )


def xterm_rgb(n: int) -> tuple[int, int, int]:
    """RGB of xterm's 256-colour palette entry n."""
    if n < 16:
        return BASIC[n]
    if n < 232:
        steps = [0, 95, 135, 175, 215, 255]
        n -= 16
        return steps[n // 36], steps[n // 6 % 6], steps[n % 6]
    grey = 8 + 10 * (n - 232)
    return grey, grey, grey


def basic_sgr(params: str) -> str:
    """An SGR parameter list with 256-colour and true-colour codes replaced by basic ones."""
    codes = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else [0]
    out: list[int] = []
    i = 0
    while i < len(codes):
        code = codes[i]
        if code in (38, 48) and i + 1 < len(codes):
            if codes[i + 1] == 5 and i + 2 < len(codes):
                rgb, i = xterm_rgb(codes[i + 2] % 256), i + 3
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                rgb, i = (codes[i + 2], codes[i + 3], codes[i + 4]), i + 5
            else:
                i += 2
                continue
            basic = nearest_basic(rgb)
            offset = 30 if code == 38 else 40
            out.append(offset + basic if basic < 8 else offset + 60 + basic - 8)
            continue
        if code in KEPT_SGR:
            out.append(code)
        i += 1  # other attributes (italic, underline, blink, ...) are dropped
    return ";".join(map(str, out))


def basic_colours(text: str) -> str:
    """Terminal text whose colour codes are all ones LaTeX's ansi2latex handles safely."""

    def replace(match: re.Match[str]) -> str:
        params = basic_sgr(match.group(1))
        return f"\x1b[{params}m" if params else ""

    return ANSI.sub(replace, text)


def map_output_text(cell: dict[str, Any], change: Any) -> None:
    """Apply change(str) -> str to every text of a cell's outputs, in place."""
    for output in cell.get("outputs", []):
        if "text" in output:
            output["text"] = change(text_of(output["text"]))
        data = output.get("data", {})
        if "text/plain" in data:
            data["text/plain"] = change(text_of(data["text/plain"]))
        if "traceback" in output:
            output["traceback"] = [change(line) for line in output["traceback"]]


def prepare(notebook: Notebook, name: str, latex: bool) -> None:
    """Everything ``prepare`` does to the copy, in place (see the module docstring)."""
    metadata = notebook.setdefault("metadata", {})
    if "title" not in metadata:
        metadata["title"] = assignment_title(notebook, name)
    metadata["homework"] = {"source": f"{name}.ipynb", "index": mark_for_grader(notebook)}
    replace_widgets(notebook)
    for cell in notebook["cells"]:
        if cell.get("cell_type") != "code":
            continue
        map_output_text(cell, shorten)
        if latex:
            cell["source"] = split_long_lines(cell.get("source", ""))
            map_output_text(cell, lambda text: split_long_lines(basic_colours(text)))


# --- cells LaTeX cannot typeset --------------------------------------------------------------


def latex_with_cells_apart(notebook: Notebook, template_dir: Path, work: Path) -> None:
    """Write work/notebook.tex in which every markdown cell is \\input from its own file.

    A runaway argument ($\\frac{1}{$) then ends, with an error, at the end of its cell's file,
    and \\typeout markers tell in the log which cell each error belongs to.
    """
    import nbformat
    from nbconvert import LatexExporter

    exporter = LatexExporter(
        template_name="homework_latex", extra_template_basedirs=[str(template_dir)]
    )
    node = nbformat.reads(json.dumps(notebook), as_version=4)
    for number, cell in enumerate(node.cells, start=1):
        if cell.cell_type == "markdown":
            cell.metadata["hwcell"] = number  # the template brackets the cell with markers
    body, resources = exporter.from_notebook_node(node)
    for filename, data in resources.get("outputs", {}).items():
        (work / filename).parent.mkdir(parents=True, exist_ok=True)
        (work / filename).write_bytes(data)

    def apart(match: re.Match[str]) -> str:
        number = match.group(1)
        (work / f"hwcell{number}.tex").write_text(match.group(2), encoding="utf-8")
        return f"\\typeout{{HWCELL {number}}}\\input{{hwcell{number}.tex}}\\typeout{{HWCELL -}}"

    pattern = r"%HWCELL-BEGIN (\d+)\n(.*?)%HWCELL-END \1"
    body = re.sub(pattern, apart, body, flags=re.S)
    (work / "notebook.tex").write_text(body, encoding="utf-8")


def cells_with_latex_errors(notebook: Notebook, template_dir: Path) -> dict[int, str]:
    """{cell number: first LaTeX error} for the markdown cells LaTeX cannot typeset."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        latex_with_cells_apart(notebook, template_dir, work)
        subprocess.run(
            ["xelatex", "-interaction=nonstopmode", "-no-pdf", "notebook.tex"],
            cwd=work,
            capture_output=True,
            timeout=300,
        )
        log = (work / "notebook.log").read_text(encoding="utf-8", errors="replace")
    found: dict[int, str] = {}
    cell = None
    for line in log.splitlines():
        if line.startswith("HWCELL "):
            cell = None if line == "HWCELL -" else int(line.split()[1])
        elif line.startswith("! ") and cell is not None:
            found.setdefault(cell, line[2:].strip())
    return found


def as_verbatim(source: str) -> str:
    """LaTeX that shows source as it is, wrapped, under a note."""
    safe = source.replace("\\end{Verbatim}", "\\end {Verbatim}")
    return (
        "\\noindent\\textit{[export\\_pdf.sh: LaTeX could not typeset this markdown cell;"
        " it is shown as plain text.]}\n"
        "\\begin{Verbatim}[breaklines=true, breakanywhere=true, frame=single]\n"
        f"{safe}\n\\end{{Verbatim}}\n"
    )


def fix_latex(notebook: Notebook, template_dir: Path, shown: str) -> bool:
    """Turn the markdown cells LaTeX chokes on into verbatim text; False if none found."""
    bad = cells_with_latex_errors(notebook, template_dir)
    for number, error in sorted(bad.items()):
        cell = notebook["cells"][number - 1]
        source = text_of(cell.get("source", ""))
        first = next((line for line in source.splitlines() if line.strip()), "")
        warn(
            f"LaTeX cannot typeset markdown cell {number} of '{shown}' ({error}); it starts:"
            f" {first[:100]!r}. The PDF shows that cell as plain text: fix its math"
            " (between $ signs) and export again, or use --web"
        )
        cell["cell_type"] = "raw"
        # nbconvert keeps raw cells of its own output type: application/pdf for PDFExporter.
        cell["metadata"] = {**cell.get("metadata", {}), "raw_mimetype": "application/pdf"}
        cell["source"] = as_verbatim(source)
        cell.pop("attachments", None)
    return bool(bad)


# --- command line ----------------------------------------------------------------------------


def load(path: str, shown: str) -> Notebook:
    try:
        with open(path, encoding="utf-8") as f:
            notebook = json.load(f)
        if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
            raise ValueError("no list of cells")
        if not all(isinstance(cell, dict) for cell in notebook["cells"]):
            raise ValueError("a cell is not an object")
        return notebook
    except (ValueError, UnicodeDecodeError) as e:
        sys.exit(
            f"{PROG}: error: '{shown}' is not a valid notebook file ({e});"
            " open it in Jupyter and save it again"
        )


def save(notebook: Notebook, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(notebook, f)


def main(command: str, path: str, *args: str) -> None:
    if command == "prepare":
        name, shown, *options = args
        notebook = load(path, shown)
        for message in run_warnings(notebook):
            warn(f"{shown}: {message}")
        try:
            prepare(notebook, name, "--latex" in options)
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            sys.exit(f"{PROG}: error: '{shown}' is not a valid notebook file ({e!r})")
        save(notebook, path)
    elif command == "fix-latex":
        template_dir, shown = args
        notebook = load(path, shown)
        if not fix_latex(notebook, Path(template_dir), shown):
            sys.exit(3)
        save(notebook, path)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(*sys.argv[1:])
