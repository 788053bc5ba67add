"""Command line: ``homework-grader build|grade|mark|report|excuse|release`` (``python -m grader``).

Imports are lazy: ``--help`` and ``build`` load neither torch nor torchvision.
"""

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from grader.course import Course, CourseError, find_course
from grader.settings import Settings, format_bytes, parse_disk, parse_memory

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True, soft_wrap=True)  # long lines stay whole in logs

CourseOption = Annotated[
    Path | None,
    typer.Option(
        help="The course folder (its course.toml names the master notebook, questions, data). "
        "Default: the one holding the current folder.",
        file_okay=False,
    ),
]


def _course(path: Path | None) -> Course:
    try:
        return Course.load(path) if path else find_course()
    except CourseError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


DEFAULTS = Settings()


@app.command()
def build(
    check: Annotated[bool, typer.Option(help="Only report generated files that drifted.")] = False,
    course: CourseOption = None,
) -> None:
    """Regenerate homework.ipynb, tests/, examples/, build/autograder/ and build/gradescope.zip."""
    from grader.build import assign as builder

    where = _course(course)
    if not where.master.is_file():
        console.print(f"[red]No master notebook {where.master}: pass --course DIR.[/red]")
        raise typer.Exit(2)
    if check:
        drifted = builder.check_generated(where)
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
    from grader.build.release import write_release

    archive, single = write_release(_course(course))
    console.print(f"Wrote {archive} and {single}.")


def _hidden_tests(where: Course) -> Path:
    if not where.hidden_tests.is_dir():
        console.print(
            f"[red]No autograder tests in {where.hidden_tests}: run `python -m grader build` "
            "(or pass --course DIR).[/red]"
        )
        raise typer.Exit(2)
    return where.hidden_tests


def _write_outputs(
    rows: list, out: Path, where: Course, canvas_assignment: str, partial: bool = False
) -> None:
    """grades.csv, the Canvas import, feedback and the class report; refuses bad manual points."""
    from grader.common.text import terminal_text
    from grader.judge.hidden_tests import load_hidden_tests, possible_points
    from grader.report.gradebook import CANVAS_CSV, print_table, write_report
    from grader.report.manual import ManualPointsError
    from grader.report.policy import PolicyError
    from grader.report.written import RubricError

    try:
        book = write_report(
            rows,
            possible_points(load_hidden_tests(where.hidden_tests)),
            out,
            canvas_assignment,
            where.master,
            partial=partial,
            starter=where.student_notebook if where.student_notebook.is_file() else None,
        )
    except (ManualPointsError, PolicyError, RubricError) as error:
        console.print(
            terminal_text(f"refused: {error} (nothing written; fix and rerun)"), style="red"
        )
        raise typer.Exit(2) from None
    style = "yellow" if not book.canvas.startswith("complete") else None
    console.print(terminal_text(f"Canvas import {out / CANVAS_CSV}: {book.canvas}"), style=style)
    print_table(book, Console(file=sys.stdout, width=160))
    console.print(
        f"Wrote {out / 'grades.csv'}, feedback and {out / 'class_report.md'} "
        f"for {len(book.rows)} submission(s)."
    )
    if (out / "similarity").is_dir():
        console.print(f"Similarity per question: {out / 'similarity' / 'index.html'}.")


CANVAS_ASSIGNMENT = typer.Option(
    help="Column header for canvas_grades.csv, e.g. 'Homework 1 (123456)'."
)


@app.command()
def grade(
    out: Annotated[Path, typer.Option(help="Folder for grades.csv, feedback/, executed/, pdfs/.")],
    submissions: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Notebooks, submission zips (each one submission) and folders of them."
        ),
    ] = None,
    canvas: Annotated[
        list[Path] | None,
        typer.Option(
            "--canvas",
            help="A Canvas bulk download (Download Submissions): each file in it is one input. "
            "Repeatable.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    timeout: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="CPU seconds one notebook cell may use (wall clock: --wall-factor times it); "
            "past it the cell is stopped, marked, and the next cell runs "
            f"(default: the course's, else {DEFAULTS.cell_seconds}).",
        ),
    ] = None,
    notebook_seconds: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="CPU seconds all student cells together may use; past it the remaining cells "
            "are not run, the exporter and probes still are "
            f"(default: the course's, else {DEFAULTS.notebook_seconds}).",
        ),
    ] = None,
    probe_seconds: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="CPU seconds of the definitions the grader's probes run on, in their own "
            f"kernel (default: the course's, else {DEFAULTS.probe_seconds}).",
        ),
    ] = None,
    restarts: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Times a notebook whose kernel died is re-run without the cell that killed it "
            f"(default: the course's, else {DEFAULTS.restarts}).",
        ),
    ] = None,
    wall_factor: Annotated[
        float | None,
        typer.Option(
            min=1.0,
            help="Wall-clock cap of every time limit, as a multiple of its CPU seconds (for code "
            f"that only waits; default: the course's, else {DEFAULTS.wall_factor:g}).",
        ),
    ] = None,
    canvas_assignment: Annotated[str, CANVAS_ASSIGNMENT] = "Homework autograded",
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Submissions graded at once (default: one per core; from 8 cores one per 2).",
        ),
    ] = None,
    shard: Annotated[
        str,
        typer.Option(help="K/N: grade only share K of N into --out's store (then run `report`)."),
    ] = "1/1",
    regrade: Annotated[bool, typer.Option(help="Grade again what --out already holds.")] = False,
    memory: Annotated[
        str | None,
        typer.Option(
            help="Memory of one submission, all its processes together, e.g. 6G or 512M "
            f"(default: the course's, else {format_bytes(DEFAULTS.memory_bytes)})."
        ),
    ] = None,
    disk: Annotated[
        str | None,
        typer.Option(
            help="What one submission may write, its folder, /tmp and /dev/shm together "
            f"(memory-backed; default: the course's, else {format_bytes(DEFAULTS.disk_bytes)})."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder holding the course's data (course.toml [data]; default: its "
            "variable, e.g. $HOMEWORK_DATA_DIR, else its default folder)."
        ),
    ] = None,
    no_sandbox: Annotated[
        bool,
        typer.Option(
            "--no-sandbox",
            help="Run submissions without bubblewrap (only where a container isolates each one).",
        ),
    ] = False,
    course: CourseOption = None,
) -> None:
    """Grade each submission in its own sandboxed process and write DIR/grades.csv.

    Results are stored in DIR/results/ as they finish: rerunning grades only what is missing
    or changed.
    """
    from grader.common.text import terminal_text
    from grader.grade.batch import (
        Interrupted,
        default_jobs,
        grade_all,
        parse_shard,
        threads_per_job,
    )
    from grader.grade.data import DataUnavailable
    from grader.grade.grading import GradingSetup
    from grader.grade.sandbox import SandboxUnavailable

    where = _course(course)
    _hidden_tests(where)
    try:
        shard_index, shard_count = parse_shard(shard)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--shard") from None
    if not submissions and not canvas:
        raise typer.BadParameter("name submissions or a --canvas download", param_hint="INPUTS")
    settings = _run_settings(where.settings, timeout, memory, jobs, disk)
    times = {
        "notebook_seconds": notebook_seconds,
        "probe_seconds": probe_seconds,
        "restarts": restarts,
        "wall_factor": wall_factor,
    }
    settings = replace(settings, **{key: v for key, v in times.items() if v is not None})
    jobs = settings.jobs or default_jobs()
    out.mkdir(parents=True, exist_ok=True)
    setup = GradingSetup(
        course=where,
        out_dir=out.absolute(),
        settings=settings,
        data_dir=data_dir.absolute() if data_dir else None,
        sandbox=not no_sandbox,
        threads=threads_per_job(jobs),
    )
    try:
        setup.prepare()
    except (DataUnavailable, SandboxUnavailable) as error:
        console.print(terminal_text(str(error)), style="red")
        raise typer.Exit(2) from None
    if setup.warning:
        console.print(terminal_text(f"warning: {setup.warning}"), style="yellow")
    try:
        rows = grade_all(
            submissions or [],
            setup,
            downloads=canvas or [],
            jobs=jobs,
            shard=(shard_index, shard_count),
            regrade=regrade,
            console=console,
        )
    except Interrupted as error:
        console.print(f"[yellow]{error}[/yellow]")
        raise typer.Exit(130) from None
    if shard_count > 1:
        console.print(
            f"Shard {shard} done. When every shard has finished: "
            f"python -m grader report --out {out}"
        )
        return
    _write_outputs(rows, out, where, canvas_assignment)


@app.command()
def report(
    out: Annotated[
        Path, typer.Option(help="The --out folder that `grade` (or its shards) filled.")
    ],
    canvas_assignment: Annotated[str, CANVAS_ASSIGNMENT] = "Homework autograded",
    partial: Annotated[
        bool,
        typer.Option(
            help="Write the Canvas import before every written answer is marked "
            "(unmarked answers count 0; the report says it is partial)."
        ),
    ] = False,
    course: CourseOption = None,
) -> None:
    """Merge the results store and the marks of DIR into grades.csv, the Canvas import, feedback
    and the class report, applying the course's submission policy."""
    where = _course(course)
    rows = _current_rows(out, where)
    _write_outputs(rows, out, where, canvas_assignment, partial)


def _current_rows(out: Path, where: Course) -> list:
    """The stored results graded by this autograder (says which others are left out)."""
    from grader.common.store import ResultStore, autograder_digest

    tests_dir = _hidden_tests(where)
    current = autograder_digest(tests_dir, where.questions_dir)
    records = ResultStore(out).records()
    stale = [record.identity for record in records if record.autograder != current]
    if stale:
        console.print(
            f"[yellow]{len(stale)} result(s) were graded by another version of the autograder "
            f"and are left out (grade them again): {', '.join(stale[:5])}[/yellow]"
        )
    rows = [record.row for record in records if record.autograder == current]
    if not rows:
        console.print(f"[red]No results for this autograder in {out}: run `grade` first.[/red]")
        raise typer.Exit(1)
    return rows


@app.command()
def excuse(
    key: Annotated[str, typer.Argument(help="The submission: its key (feedback/KEY.md) or file.")],
    out: Annotated[Path, typer.Option(help="The --out folder that `grade` filled.")],
    reason: Annotated[
        str | None, typer.Option(help="Why, e.g. 'extension to Friday' (the student reads it).")
    ] = None,
    withdraw: Annotated[bool, typer.Option(help="Withdraw KEY's excuse.")] = False,
) -> None:
    """Excuse one submission from the submission policy (late, missing PDF); run `report` next.

    Recorded in DIR/excused.csv with the time; no file needs editing by hand.
    """
    from grader.common.store import ResultStore
    from grader.common.text import terminal_text
    from grader.report.policy import EXCUSED_CSV, set_excuse

    reason = (reason or "").strip() or None
    if withdraw == (reason is not None):
        raise typer.BadParameter("give --reason TEXT, or --withdraw", param_hint="--reason")
    rows = [record.row for record in ResultStore(out).records()]
    names = {name for row in rows for name in (row.key, row.submission) if name}
    if key not in names:
        close = sorted(name for name in names if key.casefold() in name.casefold())[:5]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        console.print(terminal_text(f"No graded submission {key!r} in {out}.{hint}"), style="red")
        raise typer.Exit(1)
    set_excuse(out, key, reason)
    done = f"recorded ({reason})" if reason else "withdrawn"
    console.print(f"Excuse for {key} {done} in {out / EXCUSED_CSV}; run `report --out {out}`.")


@app.command()
def mark(
    out: Annotated[Path, typer.Option(help="The --out folder that `grade` filled.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one).", min=0, max=65535)] = 8765,
    course: CourseOption = None,
) -> None:
    """Serve the page where TAs grade the written answers, item by item; marks go to
    DIR/marks.sqlite as they are given. Open the printed URL (it holds the secret token)."""
    from grader.mark.serve import TOKEN_VARIABLE, open_marking, serve
    from grader.report.written import RubricError

    if not (out / "executed").is_dir():
        console.print(f"[red]No executed notebooks in {out}/executed: run `grade` first.[/red]")
        raise typer.Exit(2)
    try:
        marking = open_marking(out, _course(course).master)
    except RubricError as error:
        console.print(f"[red]The master notebook's rubric: {error}[/red]")
        raise typer.Exit(2) from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]Listening on {host}: anyone with the URL can mark.[/yellow]")

    def announce(url: str) -> None:
        count = len(marking.room.order)
        console.print(
            f"Marking {count} submission(s). Open (Ctrl-C stops; {TOKEN_VARIABLE} sets the token):"
        )
        print(url, flush=True)

    try:
        serve(marking, host, port, announce)
    except OSError as error:
        console.print(f"[red]Cannot listen on {host}:{port}: {error.strerror}[/red]")
        raise typer.Exit(2) from None


def _run_settings(
    base: Settings,
    timeout: int | None,
    memory: str | None,
    jobs: int | None,
    disk: str | None = None,
) -> Settings:
    """The course's settings with this run's options applied."""
    changes: dict = {"jobs": jobs or base.jobs}
    if timeout:
        changes["cell_seconds"] = timeout
    if memory:
        try:
            changes["memory_bytes"] = parse_memory(memory)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--memory") from None
    if disk:
        try:
            changes["disk_bytes"] = parse_disk(disk)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--disk") from None
    return replace(base, **changes)


@app.command()
def similarity(
    out: Annotated[Path, typer.Option(help="The --out folder that `grade` filled.")],
    course: CourseOption = None,
) -> None:
    """Write DIR/similarity/: which submissions share code or written answers, per question.

    Compares the notebooks in DIR/executed/ of every result in DIR/results/; changes no points
    (`grade` and `report` write it too, with its section in class_report.md).
    """
    from grader.common.store import ResultStore
    from grader.report.gradebook import write_similarity

    where = _course(course)
    if not where.student_notebook.is_file():
        notebook = where.student_notebook
        console.print(f"[red]No starter notebook {notebook}: pass --course DIR.[/red]")
        raise typer.Exit(2)
    rows = [record.row for record in ResultStore(out).records()]
    if not rows:
        console.print(f"[red]No results in {out}: run `grade` first.[/red]")
        raise typer.Exit(1)
    write_similarity(rows, out, where.student_notebook)
    console.print(f"Wrote {out / 'similarity'} for {len(rows)} submission(s): open index.html.")


def main() -> None:
    """Console script ``homework-grader``."""
    app(prog_name="homework-grader")
