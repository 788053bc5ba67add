"""The Gradescope autograder zip (``build/gradescope.zip``), built from a course.

Gradescope unpacks it into ``/autograder/source``, runs ``setup.sh`` once (Ubuntu 22.04 base
image) and ``run_autograder`` for every submission (``grader.grade.gradescope_entry``). The zip
holds the grader (every file of the package, ``grader.common.sources``), the course's
``course.toml`` and question modules, its public and hidden tests, both requirement files and,
for a course with data, the checksums and mirrors ``setup.sh`` fetches it with. Building it loads
neither torch nor otter.
"""

import zipfile
from pathlib import Path

from grader.common.sources import PACKAGE, grader_files
from grader.common.zips import add_member
from grader.course import COURSE_FILE, Course
from grader.grade.gradescope_entry import COURSE, HIDDEN_TESTS, PUBLIC_TESTS

FILES = PACKAGE / "files"
SCRIPTS = {"setup.sh": "gradescope_setup.sh", "run_autograder": "run_autograder"}
GRADER_REQUIREMENTS = PACKAGE / "requirements.txt"
DATA_CHECKSUMS = f"{COURSE}/data.sha256"  # sha256sum lines, paths under the data directory
DATA_MIRRORS = f"{COURSE}/data.mirrors"  # one URL a line: <mirror>/<file name>.gz


def write_gradescope_zip(course: Course) -> Path:
    """Write ``build/gradescope.zip`` from the course's built tests; returns its path."""
    if not course.hidden_tests.is_dir():
        raise FileNotFoundError(f"{course.hidden_tests} is missing: run `grader build` first")
    course.gradescope_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(course.gradescope_zip, "w") as archive:
        for name, template in SCRIPTS.items():
            add_member(archive, name, (FILES / template).read_bytes(), executable=True)
        add_member(archive, "requirements.txt", course.requirements.read_bytes())
        for path in grader_files():
            add_member(archive, f"grader/{path.relative_to(PACKAGE)}", path.read_bytes())
        _add_course(archive, course)
        for folder, target in (
            (course.public_tests, PUBLIC_TESTS),
            (course.hidden_tests, HIDDEN_TESTS),
        ):
            for path in sorted(folder.glob("*.py")):
                add_member(archive, f"{target}/{path.name}", path.read_bytes())
    return course.gradescope_zip


def _add_course(archive: zipfile.ZipFile, course: Course) -> None:
    """What grading needs of the course: its settings, question modules and data manifest."""
    add_member(archive, f"{COURSE}/{COURSE_FILE}", (course.root / COURSE_FILE).read_bytes())
    for path in course.question_files().values():
        add_member(archive, f"{COURSE}/{path.relative_to(course.root)}", path.read_bytes())
    if course.data:
        add_member(archive, DATA_CHECKSUMS, course.data.checksum_lines().encode())
        add_member(archive, DATA_MIRRORS, "".join(f"{m}\n" for m in course.data.mirrors).encode())
