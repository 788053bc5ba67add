"""Time export_pdf.sh on a notebook; print seconds per run and the PDF's page count.

Usage: .venv/bin/python bench/export_pdf.py [NOTEBOOK] [--runs N] [--web]
Default NOTEBOOK: the executed synthetic ~5-page notebook of
testsuite/pdf_export/sample_notebooks.py.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from testsuite.pdf_export.sample_notebooks import write_synthetic_notebook  # noqa: E402


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True)
    return int(
        next(line.split()[1] for line in info.stdout.splitlines() if line.startswith("Pages:"))
    )


def time_export(notebook: Path, web: bool) -> tuple[float, int]:
    """One export of a copy of notebook in a fresh temp dir: (seconds, pages)."""
    with tempfile.TemporaryDirectory() as tmp:
        nb = Path(tmp) / notebook.name
        shutil.copy(notebook, nb)
        cmd = ["bash", str(REPO / "export_pdf.sh"), *(["--web"] if web else []), str(nb)]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        return seconds, page_count(nb.with_suffix(".pdf"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", nargs="?", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--web", action="store_true", help="time the Chromium route")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        notebook = args.notebook or write_synthetic_notebook(Path(tmp) / "homework.ipynb")
        times = []
        for run in range(1, args.runs + 1):
            seconds, pages = time_export(notebook, args.web)
            times.append(seconds)
            print(f"run {run}: {seconds:.1f} s, {pages} pages")
        route = "web" if args.web else "latex"
        print(
            f"{notebook.name} ({route}): median {statistics.median(times):.1f} s, "
            f"min {min(times):.1f} s over {args.runs} runs, {pages} pages"
        )


if __name__ == "__main__":
    main()
