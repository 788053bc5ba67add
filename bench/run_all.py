"""Time "Run All" of the reference solution notebook, as a student runs it, then its PDF export.

Usage: .venv/bin/python bench/run_all.py [NOTEBOOK] [--keep PATH] [--no-export]
Default NOTEBOOK: examples/solution.ipynb. Runs it top to bottom in a fresh kernel in a temp
copy of the repo's student files (tests/ for checker.check), prints the total and the slowest
cells, then times export_pdf.sh on the executed notebook by both routes (LaTeX and --web).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.export_pdf import time_export  # noqa: E402


def run_all(notebook: Path, folder: Path) -> tuple[nbformat.NotebookNode, list[tuple[float, str]]]:
    """Execute notebook in folder; returns it and (seconds, first line) per code cell."""
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    timings: list[tuple[float, str]] = []
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            start = time.perf_counter()
            client.execute_cell(cell, index)
            timings.append((time.perf_counter() - start, cell.source.splitlines()[0][:60]))
        client.set_widgets_metadata()
    return nb, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", nargs="?", type=Path, default=REPO / "examples/solution.ipynb")
    parser.add_argument("--keep", type=Path, help="also save the executed notebook here")
    parser.add_argument("--no-export", action="store_true", help="skip timing the PDF export")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copytree(REPO / "tests", folder / "tests")
        shutil.copy(args.notebook, folder / "homework.ipynb")  # the name otter's init cell reads
        start = time.perf_counter()
        nb, timings = run_all(folder / "homework.ipynb", folder)
        total = time.perf_counter() - start
        print(f"Run All of {args.notebook.name}: {total:.1f} s (kernel start included)")
        for seconds, first_line in sorted(timings, reverse=True)[:4]:
            print(f"  {seconds:6.1f} s  {first_line}")
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
        print(f"cells that raised errors: {len(errors)}")
        executed = folder / "homework.ipynb"
        nbformat.write(nb, executed)
        if args.keep:
            shutil.copy(executed, args.keep)
        if not args.no_export:
            for web in (False, True):
                seconds, pages = time_export(executed, web)
                route = "--web (Chromium)" if web else "LaTeX"
                print(f"export_pdf.sh {route}: {seconds:.1f} s, {pages} pages")
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
