"""The notebook transforms of the PDF route, as nbconvert preprocessors (``transforms``).

Both routes title the PDF with the assignment's first heading, mark the written-answer cells and
figures for the TA's index, replace progress-bar widgets by their final text and shorten huge
outputs. For LaTeX they also turn 256-colour/true-colour terminal codes into the basic colours
LaTeX handles, cut lines LaTeX could not even measure, and show as verbatim text the markdown
cells LaTeX cannot typeset (found by latex_errors.py). The exporter applies them before its own
preprocessors, to its copy of the notebook.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from typing import Any

from nbconvert.preprocessors import Preprocessor
from traitlets import Int, Set, Unicode

from pdf_export.notebook import MalformedNotebook, Notebook, text_of

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


def map_output_text(cell: dict[str, Any], change: Callable[[str], str]) -> None:
    """Apply change(str) -> str to every text of a cell's outputs, in place."""
    for output in cell.get("outputs", []):
        if "text" in output:
            output["text"] = change(text_of(output["text"]))
        data = output.get("data", {})
        if "text/plain" in data:
            data["text/plain"] = change(text_of(data["text/plain"]))
        if "traceback" in output:
            output["traceback"] = [change(line) for line in output["traceback"]]


def as_verbatim(source: str) -> str:
    """LaTeX that shows source as it is, wrapped, under a note."""
    safe = source.replace("\\end{Verbatim}", "\\end {Verbatim}")
    return (
        "\\noindent\\textit{[export\\_pdf.sh: LaTeX could not typeset this markdown cell;"
        " it is shown as plain text.]}\n"
        "\\begin{Verbatim}[breaklines=true, breakanywhere=true, frame=single]\n"
        f"{safe}\n\\end{{Verbatim}}\n"
    )


def make_verbatim(cell: dict[str, Any]) -> None:
    """Turn a markdown cell into a raw cell that LaTeX shows as plain text."""
    cell["cell_type"] = "raw"
    # nbconvert keeps raw cells of its own output type: application/pdf for PDFExporter.
    cell["metadata"] = {**cell.get("metadata", {}), "raw_mimetype": "application/pdf"}
    cell["source"] = as_verbatim(text_of(cell.get("source", "")))
    cell.pop("attachments", None)


# --- the preprocessors -----------------------------------------------------------------------


class NotebookTransform(Preprocessor):
    """A transform of this route: enabled, and a notebook lacking a part it needs is reported
    as MalformedNotebook (not as a failure of nbconvert)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(enabled=True, **kwargs)

    def __call__(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        try:
            return super().__call__(nb, resources)
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise MalformedNotebook(repr(e)) from e


class AssignmentTitle(NotebookTransform):
    """Title the PDF with the first level-1 heading, unless the notebook has a title."""

    fallback = Unicode(help="the title when no markdown cell has a level-1 heading")

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        if "title" not in nb.metadata:
            nb.metadata["title"] = assignment_title(nb, self.fallback)
        return nb, resources


class MarkForGrader(NotebookTransform):
    """Label the written answers and figures; the notebook's metadata gets the TA's index."""

    source = Unicode(help="the notebook's file name, shown under the title")

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        nb.metadata["homework"] = {"source": self.source, "index": mark_for_grader(nb)}
        return nb, resources


class WidgetsAsText(NotebookTransform):
    """Progress-bar widgets become their final saved text."""

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        replace_widgets(nb)
        return nb, resources


class ShortenOutputs(NotebookTransform):
    """Outputs of more than MAX_OUTPUT_LINES lines keep their first and last lines."""

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> tuple[Any, Any]:
        if cell.cell_type == "code":
            map_output_text(cell, shorten)
        return cell, resources


class LatexSafeText(NotebookTransform):
    """Code and outputs as LaTeX can typeset them: basic colours, no immeasurable lines."""

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> tuple[Any, Any]:
        if cell.cell_type == "code":
            cell.source = split_long_lines(cell.source)
            map_output_text(cell, lambda text: split_long_lines(basic_colours(text)))
        return cell, resources


class VerbatimMarkdown(NotebookTransform):
    """The given markdown cells (numbered from 1) become verbatim text."""

    cells = Set(Int(), help="numbers of the markdown cells that LaTeX cannot typeset")

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        for number in sorted(self.cells):
            make_verbatim(nb.cells[number - 1])
        return nb, resources


class NumberMarkdownCells(NotebookTransform):
    """Number the markdown cells: the homework_latex template then brackets each with markers."""

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> tuple[Any, Any]:
        if cell.cell_type == "markdown":
            cell.metadata["hwcell"] = index + 1
        return cell, resources


def transforms(name: str, latex: bool, verbatim: Iterable[int] = ()) -> list[Preprocessor]:
    """What the route does to the notebook ``name``.ipynb, in order, before nbconvert's own."""
    steps: list[Preprocessor] = [
        AssignmentTitle(fallback=name),
        MarkForGrader(source=f"{name}.ipynb"),
        WidgetsAsText(),
        ShortenOutputs(),
    ]
    if latex:
        steps += [LatexSafeText(), VerbatimMarkdown(cells=set(verbatim))]
    return steps
