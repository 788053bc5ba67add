"""Command line: ``homework-grader build|grade|release`` (also ``python -m grader ...``).

Imports are lazy: ``--help`` and ``build`` load neither torch nor torchvision.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from grader.course import Course, find_course

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True)

CourseOption = Annotated[
    Path | None,
    typer.Option(
        help="The course checkout (master notebook, tests, build/). "
        "Default: the one holding the current folder.",
        file_okay=False,
    ),
]


def _course(path: Path | None) -> Course:
    return Course(path.resolve()) if path else find_course()


@app.command()
def build(
    check: Annotated[bool, typer.Option(help="Only report generated files that drifted.")] = False,
    course: CourseOption = None,
) -> None:
    """Regenerate homework.ipynb, tests/, examples/, build/autograder/ and build/gradescope.zip."""
    from grader import build as builder

    where = _course(course)
    if not where.master.is_file():
        console.print(f"[red]No master notebook {where.master}: pass --course DIR.[/red]")
        raise typer.Exit(2)
    if check:
        drifted = builder.check_generated(where.root, where.master)
        if drifted:
            console.print("[red]Generated files differ from the master notebook:[/red]")
            for name in drifted:
                console.print(f"  {name}")
            console.print("Run `python -m grader build` and commit the result.")
            raise typer.Exit(1)
        console.print("Generated files match the master notebook.")
        return
    builder.build_course(where)
    console.print(
        "Built homework.ipynb, tests/, examples/, build/autograder/ and "
        f"{where.gradescope_zip.relative_to(where.root)}."
    )


@app.command()
def release(course: CourseOption = None) -> None:
    """Write dist/student-release.zip and dist/homework-single-file.ipynb for students."""
    from grader.release import write_release

    archive, single = write_release(_course(course))
    console.print(f"Wrote {archive} and {single}.")


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
    course: CourseOption = None,
) -> None:
    """Grade each submission in its own sandboxed process and write DIR/grades.csv."""
    from grader.canvas import write_grade_import
    from grader.grading import GradingSetup, grade_all, sandbox_user
    from grader.report import print_table, write_feedback, write_grades_csv

    where = _course(course)
    if not where.hidden_tests.is_dir():
        console.print(
            f"[red]No autograder tests in {where.hidden_tests}: run `python -m grader build` "
            "(or pass --course DIR).[/red]"
        )
        raise typer.Exit(2)
    out.mkdir(parents=True, exist_ok=True)
    setup = GradingSetup(
        tests_dir=where.hidden_tests,
        public_tests_dir=where.public_tests,
        out_dir=out,
        timeout=timeout,
        sandbox_user=sandbox_user(),
    )
    rows = grade_all(submissions, setup, progress=console.print)
    write_grades_csv(rows, out / "grades.csv")
    imported = write_grade_import(
        [(row.submission, row.total) for row in rows], canvas_assignment, out / "canvas_grades.csv"
    )
    if imported:
        console.print(f"Wrote {out / 'canvas_grades.csv'} for {imported} Canvas student(s).")
    else:  # no stale import from an earlier run in the same folder
        (out / "canvas_grades.csv").unlink(missing_ok=True)
    write_feedback(rows, out / "feedback")
    possible = {
        name: sum(c.points for c in tf.test_cases) for name, tf in setup.hidden_tests.items()
    }
    possible["total"] = sum(possible.values())
    print_table(rows, possible, Console(file=sys.stdout, width=160))
    console.print(f"Wrote {out / 'grades.csv'} and feedback for {len(rows)} submission(s).")


def main() -> None:
    """Console script ``homework-grader``."""
    app(prog_name="homework-grader")
