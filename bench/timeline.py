"""When each submission's notebook ran, from the executed notebooks that `grade` keeps.

Usage: .venv/bin/python bench/timeline.py OUT_DIR

Prints, per submission, when its first cell started and its last cell ended (seconds after the
earliest start) and its cells longer than 3 s: shows how jobs overlapped and where time went.
"""

import argparse
import json
from datetime import datetime
from pathlib import Path


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cell_times(notebook: Path) -> list[tuple[float, float, str]]:
    """(start, end, first line) of every executed code cell."""
    cells = json.loads(notebook.read_text())["cells"]
    times = []
    for cell in cells:
        execution = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in execution and "shell.execute_reply" in execution:
            first = "".join(cell["source"]).strip().splitlines()[0][:50]
            start = stamp(execution["iopub.execute_input"])
            times.append((start, stamp(execution["shell.execute_reply"]), first))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    runs = {
        path.stem: times
        for path in sorted((parser.parse_args().out / "executed").glob("*.ipynb"))
        if (times := cell_times(path))
    }
    zero = min(times[0][0] for times in runs.values())
    for name, times in runs.items():
        start, end = times[0][0] - zero, max(t[1] for t in times) - zero
        slow = [f"{e - s:.0f} s {line!r}" for s, e, line in times if e - s > 3]
        print(f"{name:20s} {start:7.1f} -> {end:7.1f} s  ({end - start:5.1f} s)  {'; '.join(slow)}")


if __name__ == "__main__":
    main()
