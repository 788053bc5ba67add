"""Command line: ``python -m grader build`` and ``python -m grader grade``."""

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from grader import build as builder
from grader.canvas import write_grade_import
from grader.data import DataUnavailable, default_data_dir
from grader.grading import GradingSetup, grade_all
from grader.judge import possible_points
from grader.report import print_table, terminal_text, write_feedback, write_grades_csv
from grader.sandbox import SandboxUnavailable, parse_memory

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True)


@app.command()
def build(
    check: Annotated[bool, typer.Option(help="Only report generated files that drifted.")] = False,
) -> None:
    """Regenerate homework.ipynb, tests/, examples/ and build/autograder/ from the master."""
    if check:
        drifted = builder.check_generated()
        if drifted:
            console.print("[red]Generated files differ from the master notebook:[/red]")
            for name in drifted:
                console.print(f"  {name}")
            console.print("Run `python -m grader build` and commit the result.")
            raise typer.Exit(1)
        console.print("Generated files match the master notebook.")
        return
    builder.generate(builder.ROOT)
    console.print(f"Built homework.ipynb, tests/, examples/ and {builder.AUTOGRADER_DIR}/.")


@app.command()
def grade(
    submissions: Annotated[
        list[Path],
        typer.Argument(help="Notebooks, export zips, folders of them, or a Canvas bulk download."),
    ],
    out: Annotated[Path, typer.Option(help="Folder for grades.csv, feedback/, executed/, pdfs/.")],
    timeout: Annotated[int, typer.Option(help="Seconds one submission may run.")] = 900,
    canvas_assignment: Annotated[
        str, typer.Option(help="Column header for canvas_grades.csv, e.g. 'Homework 1 (123456)'.")
    ] = "Homework autograded",
    memory: Annotated[
        str, typer.Option(help="Memory each sandboxed process may use, e.g. 6G or 512M.")
    ] = "6G",
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Folder holding MNIST/raw/ (default $HOMEWORK_DATA_DIR, else ./data)."),
    ] = None,
    no_sandbox: Annotated[
        bool,
        typer.Option(
            "--no-sandbox",
            help="Run submissions without bubblewrap (only where a container isolates each one).",
        ),
    ] = False,
) -> None:
    """Grade each submission in its own sandboxed process and write DIR/grades.csv."""
    tests_dir = builder.ROOT / builder.AUTOGRADER_DIR / "tests"
    if not tests_dir.is_dir():
        console.print(
            f"[red]No autograder tests in {tests_dir}: run `python -m grader build`.[/red]"
        )
        raise typer.Exit(2)
    try:
        memory_bytes = parse_memory(memory)
    except ValueError as error:
        console.print(f"--memory: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    out.mkdir(parents=True, exist_ok=True)
    setup = GradingSetup(
        tests_dir=tests_dir,
        public_tests_dir=builder.ROOT / "tests",
        out_dir=out.absolute(),
        timeout=timeout,
        data_dir=(data_dir or default_data_dir()).absolute(),
        memory=memory_bytes,
        sandbox=not no_sandbox,
    )
    try:
        setup.prepare()
    except (DataUnavailable, SandboxUnavailable) as error:
        console.print(terminal_text(str(error)), style="red", soft_wrap=True)
        raise typer.Exit(2) from None
    if setup.warning:
        console.print(terminal_text(f"warning: {setup.warning}"), style="yellow")
    rows = grade_all(submissions, setup, progress=lambda line: console.print(terminal_text(line)))
    possible = possible_points(setup.hidden_tests)
    write_grades_csv(rows, out / "grades.csv", list(possible))
    imported = write_grade_import(
        [(row.submission, row.total) for row in rows], canvas_assignment, out / "canvas_grades.csv"
    )
    if imported:
        console.print(f"Wrote {out / 'canvas_grades.csv'} for {imported} Canvas student(s).")
    else:  # no stale import from an earlier run in the same folder
        (out / "canvas_grades.csv").unlink(missing_ok=True)
    write_feedback(rows, out / "feedback")
    print_table(rows, possible, Console(file=sys.stdout, width=160))
    console.print(f"Wrote {out / 'grades.csv'} and feedback for {len(rows)} submission(s).")
