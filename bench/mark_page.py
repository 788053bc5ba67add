"""Time the marking page on a class of 300: open it, move to the next answer, apply an item.

Usage: .venv/bin/python bench/mark_page.py [--students 300] [--runs 40]
Builds a class by hand (copies of examples/solution, partly_wrong and blank with varied answers,
every 10th a duplicate of another so groups form, each with a Q5 figure and a 200 KB output as
executed notebooks carry), starts `homework-grader mark` on it and drives Debian's Chromium with
Playwright. Each interaction is timed from the key press until the page shows the server's
answer (median and 90th percentile, ms); opening also as the page itself sees it (from the
navigation's start to the first answer shown); the JSON API alone over one connection.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from testsuite.mark.classes import (
    EXAMPLES,
    TOKEN,
    Server,
    example,
    items,
    make_class,
    with_answers,
)

SETTLED = "body[data-pending='0']"


def build_class(out: Path, students: int) -> None:
    sources = {name: example(name) for name in EXAMPLES}
    notebooks = {}
    for index in range(students):
        notebook = nbformat.from_dict(sources[EXAMPLES[index % 3]])
        notebook = nbformat.reads(nbformat.writes(notebook), as_version=4)  # a deep copy
        if index % 3 != 2 and index % 10:  # blanks stay blank; every 10th repeats an answer
            with_answers(
                notebook, {i.key: f"Student {index}: $x_{index}$ is {i.title}." for i in items()}
            )
        notebook.cells[0].setdefault("outputs", [])
        notebook.cells.append(
            nbformat.v4.new_code_cell(
                "print()",
                outputs=[nbformat.v4.new_output("stream", name="stdout", text="y" * 200_000)],
            )
        )
        notebooks[f"student{index:03d}"] = notebook
    make_class(out, notebooks)


def timed(page: Page, action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    page.wait_for_selector(SETTLED, state="attached")
    return (time.perf_counter() - start) * 1000


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    median = statistics.median(values)
    return f"{name:<38} median {median:6.1f} ms   p90 {p90:6.1f} ms   (n={len(values)})"


def browser_figures(running: Server, runs: int) -> list[str]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(running.url)
        page.keyboard.type("bench")
        page.keyboard.press("Enter")
        page.wait_for_selector(SETTLED, state="attached")
        opened, in_page = [], []
        for _ in range(min(runs, 15)):
            start = time.perf_counter()
            page.reload()
            page.wait_for_selector(SETTLED, state="attached")
            page.wait_for_selector("#answer p")
            opened.append((time.perf_counter() - start) * 1000)
            mark = "performance.getEntriesByName('first-answer')[0].startTime"
            in_page.append(page.evaluate(mark))  # from the navigation's start
        nexts = [timed(page, lambda: page.keyboard.press("j")) for _ in range(runs)]
        applied = []
        ungraded = []
        for _ in range(runs):
            applied.append(timed(page, lambda: page.keyboard.press("1")))
            ungraded.append(timed(page, lambda: page.keyboard.press("n")))
        browser.close()
    return [
        summary("open the page (reload, first answer)", opened),
        summary("  of which in the page (navigation start)", in_page),
        summary("next answer (j)", nexts),
        summary("apply a rubric item (1)", applied),
        summary("next ungraded (n)", ungraded),
    ]


def api_figures(running: Server, runs: int) -> list[str]:
    """The JSON API alone, over one kept-alive connection (http.client: no client overhead)."""
    host, port = running.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port))
    headers = {"Cookie": f"mark-token-{port}={TOKEN}", "Content-Type": "application/json"}
    item = "q2_difficulties"

    def call(path: str, body: dict | None = None) -> dict:
        method = "GET" if body is None else "POST"
        connection.request(method, path, json.dumps(body) if body else None, headers)
        response = connection.getresponse()
        data = json.loads(response.read())
        assert response.status == 200, data
        return data

    def ms(path: str, body: dict | None = None) -> float:
        start = time.perf_counter()
        call(path, body)
        return (time.perf_counter() - start) * 1000

    numbers, after = [], None
    while len(numbers) < runs:
        after = call("/api/navigate", {"item": item, "holder": "b", "to": "next", "after": after})
        after = after["unit"]["number"]
        numbers.append(after)
    query = f"/api/unit?item={item}&holder=b&n="
    versions = {n: call(f"{query}{n}")["version"] for n in numbers}
    ungraded = {"item": item, "holder": "b", "to": "ungraded", "after": None}
    figures = [
        summary("API: items, rubrics, progress", [ms("/api/items") for _ in range(runs)]),
        summary("API: one answer", [ms(f"{query}{n}") for n in numbers]),
        summary(
            "API: next ungraded (with lease)", [ms("/api/navigate", ungraded) for _ in numbers]
        ),
        summary(
            "API: apply a rubric item",
            [
                ms(
                    "/api/mark",
                    {
                        "item": item,
                        "n": n,
                        "version": versions[n],
                        "applied": ["scale"],
                        "grader": "b",
                        "holder": "b",
                    },
                )
                for n in numbers
            ],
        ),
    ]
    connection.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "grades"
        build_class(out, args.students)
        size = sum(path.stat().st_size for path in (out / "executed").iterdir()) / 1e6
        print(f"{args.students} submissions, {size:.0f} MB of executed notebooks")
        start = time.perf_counter()
        running = Server(out)
        print(f"server start (read the class, print the URL): {time.perf_counter() - start:.2f} s")
        try:
            for line in browser_figures(running, args.runs) + api_figures(running, args.runs):
                print(line)
        finally:
            running.stop()


if __name__ == "__main__":
    main()
