"""Classes of submissions for the similarity report, built from examples/ with nbformat.

Used by ``test_similarity.py`` and ``bench/similarity.py``; nothing is graded or trained: the
notebooks are written where grading keeps them, ``<out>/executed/<key>.ipynb``.
"""

from __future__ import annotations

import copy
import random
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
STARTER = ROOT / "homework.ipynb"
Q5_HEADING = "## Question 5"

# Q5 written independently of the reference solution: another structure, optimizer and loop.
OTHER_Q5 = """
import torchvision
from torch import nn


def make_net(bn):
    blocks = [nn.Flatten()]
    sizes = [784, 100, 100, 100]
    for n_in, n_out in zip(sizes, sizes[1:]):
        blocks += [nn.Linear(n_in, n_out)] + ([nn.BatchNorm1d(n_out)] if bn else [])
        blocks.append(nn.Sigmoid())
    return nn.Sequential(*blocks, nn.Linear(100, 10))


mnist = torchvision.datasets.MNIST("data", train=True)
xs, ts = mnist.data.float().div(255).unsqueeze(1), mnist.targets
test = torchvision.datasets.MNIST("data", train=False)
tx, tt = test.data[:300].float().div(255).unsqueeze(1), test.targets[:300]


def run(net):
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    hist = []
    for i in range(50000):
        idx = torch.randint(0, len(xs), (60,))
        opt.zero_grad()
        nn.functional.cross_entropy(net(xs[idx]), ts[idx]).backward()
        opt.step()
        if (i + 1) % 20 == 0:
            with torch.no_grad():
                hist.append((i + 1, (net(tx).argmax(1) == tt).float().mean().item()))
    return hist


q5_plain_model, q5_bn_model = make_net(False), make_net(True)
q5_plain_curve, q5_bn_curve = run(q5_plain_model), run(q5_bn_model)
"""

RENAMES = {
    "curve": "acc_log",
    "model": "net",
    "images": "pics",
    "labels": "targets_",
    "optimizer": "opt",
    "batch_norm": "use_bn",
    "layers": "mods",
    "width": "n_in",
    "held_out": "val",
    "train_data": "trn",
    "batches": "idx_table",
    "correct": "acc",
}


def example(name: str) -> nbformat.NotebookNode:
    return nbformat.read(EXAMPLES / name, as_version=4)


def heading_index(notebook: nbformat.NotebookNode, heading: str) -> int:
    return next(
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "markdown" and heading in cell.source
    )


def section_range(notebook: nbformat.NotebookNode, heading: str) -> range:
    """Cell indexes from ``heading`` to the next level-2 heading."""
    start = heading_index(notebook, heading)
    end = next(
        (
            i
            for i in range(start + 1, len(notebook.cells))
            if notebook.cells[i].cell_type == "markdown"
            and re.search(r"^## ", notebook.cells[i].source, re.MULTILINE)
        ),
        len(notebook.cells),
    )
    return range(start, end)


def with_blank_q5(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with its Question 5 (and after) as in the starter: no Q5 work."""
    blank = example("blank.ipynb")
    result = copy.deepcopy(notebook)
    result.cells = (
        result.cells[: heading_index(result, Q5_HEADING)]
        + blank.cells[heading_index(blank, Q5_HEADING) :]
    )
    return result


def with_other_q5(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with an independently written Q5 in its first Q5 code cell."""
    result = with_blank_q5(notebook)
    code = [i for i in section_range(result, Q5_HEADING) if result.cells[i].cell_type == "code"]
    result.cells[code[0]].source = OTHER_Q5
    return result


def rename(source: str, renames: dict[str, str]) -> str:
    for old, new in renames.items():
        source = re.sub(rf"\b{old}\b", new, source)
    return source


def planted_copy(notebook: nbformat.NotebookNode, seed: int = 0) -> nbformat.NotebookNode:
    """A copy disguised in Q5: variables renamed, cells split and reordered, comments changed,
    a print added."""
    rng = random.Random(seed)
    result = copy.deepcopy(notebook)
    q5 = list(section_range(result, Q5_HEADING))
    code = [i for i in q5 if result.cells[i].cell_type == "code"]
    for i in code:
        source = rename(result.cells[i].source, RENAMES)
        source = re.sub(r"#[^\n\"']*", lambda _: rng.choice(["# step", "# note", "# ok"]), source)
        result.cells[i].source = source
    library = result.cells[code[0]]
    split = library.source.index("def train(")
    first, second = copy.deepcopy(library), copy.deepcopy(library)
    first.source, second.source = library.source[split:], library.source[:split]
    first.source += '\nprint("training helpers ready", STEPS)\n'
    plot = next(i for i in code if "savefig" in result.cells[i].source)
    rest = [result.cells[i] for i in q5[1:] if i not in (code[0], plot)]
    moved = [result.cells[q5[0]], result.cells[plot], first, second, *rest]
    result.cells = result.cells[: q5[0]] + moved + result.cells[q5[-1] + 1 :]
    return result


def add_text_to_q5(notebook: nbformat.NotebookNode, text: str) -> nbformat.NotebookNode:
    """A markdown cell of the student's at the end of Question 5."""
    result = copy.deepcopy(notebook)
    end = section_range(result, Q5_HEADING)[-1] + 1
    result.cells.insert(end, nbformat.v4.new_markdown_cell(text))
    return result


def write_executed(out: Path, notebooks: dict[str, nbformat.NotebookNode]) -> None:
    """Write ``out/executed/<key>.ipynb`` for each notebook, as grading leaves them."""
    folder = out / "executed"
    folder.mkdir(parents=True, exist_ok=True)
    for key, notebook in notebooks.items():
        for index, cell in enumerate(notebook.cells):
            cell["id"] = f"cell-{index}"  # copied and split cells: ids stay unique
        nbformat.write(notebook, folder / f"{key}.ipynb")


OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "@", "<", ">", "==", "and", "or"]
CALLS = ["torch.relu", "np.mean", "len", "max", "sum", "abs", "sorted", "model.forward"]
WORDS = [
    "gradient",
    "layer",
    "batch",
    "step",
    "loss",
    "curve",
    "early",
    "sigmoid",
    "shift",
    "scale",
    "noise",
    "plateau",
]


def _expression(rng: random.Random, depth: int = 0) -> str:
    """A random Python expression: each student's own code has its own shape."""
    roll = rng.random()
    if depth > 1 or roll < 0.3:
        return rng.choice(["x", "y", "w", "h", "out", "1", "0.5", '"a"', "None"])
    if roll < 0.45:
        return (
            f"{_expression(rng, depth + 1)} {rng.choice(OPERATORS)} {_expression(rng, depth + 1)}"
        )
    if roll < 0.65:
        args = ", ".join(_expression(rng, depth + 1) for _ in range(rng.randint(0, 3)))
        return f"{rng.choice(CALLS)}({args})"
    if roll < 0.8:
        return f"{_expression(rng, depth + 1)}[{_expression(rng, depth + 1)}]"
    if roll < 0.9:
        return f"[{_expression(rng, depth + 1)} for x in {_expression(rng, depth + 1)}]"
    return f"(lambda x: {_expression(rng, depth + 1)})"


def _statement(rng: random.Random, indent: str) -> str:
    target = rng.choice(["x", "y", "tmp", "acc", "self.cache", "total[i]"])
    head = rng.choice(["", "", "", "if {e}: ", "while {e}: ", "for i in {e}: ", "return "])
    statement = head.format(e=_expression(rng)) + f"{target} = {_expression(rng)}"
    return indent + statement.replace("return " + target + " = ", "return ")


def _perturbed(source: str, rng: random.Random) -> str:
    """Lines of the source with a random statement of one's own after about half of them."""
    lines = []
    for line in source.split("\n"):
        if rng.random() < 0.1:
            continue
        lines.append(line)
        if rng.random() < 0.5:
            lines.append(_statement(rng, line[: len(line) - len(line.lstrip())]))
    return "\n".join(lines)


def variation(rng: random.Random) -> nbformat.NotebookNode:
    """One generated student of a large class: an example reworked with code and words of their
    own between its lines (some with their own Q5, no Q5, or a blank notebook)."""
    starter = {cell.source for cell in example("blank.ipynb").cells}
    roll = rng.random()
    if roll < 0.05:
        return example("blank.ipynb")
    notebook = example(rng.choice(["solution.ipynb", "partly_wrong.ipynb"]))
    if roll < 0.3:
        notebook = with_other_q5(notebook)
    elif roll < 0.4:
        notebook = with_blank_q5(notebook)
    names = dict(rng.sample(sorted(RENAMES.items()), k=rng.randint(0, len(RENAMES))))
    for cell in notebook.cells:
        if cell.source in starter:
            continue
        if cell.cell_type == "code":
            cell.source = _perturbed(rename(cell.source, names), rng)
        else:
            words = cell.source.split(" ")
            for _ in range(len(words) // 4):
                words.insert(rng.randrange(len(words) + 1), rng.choice(WORDS))
            cell.source = " ".join(words)
    return notebook
