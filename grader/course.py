"""Where a course checkout keeps each file the grader reads or writes.

The grader package can be installed (``pip install``) apart from the course it grades:
``--course DIR`` names the checkout; by default the nearest folder at or above the current one
that holds the master notebook. Light on purpose: importing it loads neither torch nor otter.
"""

from dataclasses import dataclass
from pathlib import Path

MASTER = Path("solutions") / "homework.ipynb"
STUDENT_NOTEBOOK = "homework.ipynb"
# The notebook's otter.Notebook object. otter assign calls it `grader`, the name of this package;
# `grader build` renames it so that each name means one thing.
OTTER_OBJECT = "checker"


@dataclass(frozen=True)
class Course:
    """A course checkout: master notebook in, student files, autograder and releases out."""

    root: Path

    @property
    def master(self) -> Path:
        return self.root / MASTER

    @property
    def student_notebook(self) -> Path:
        return self.root / STUDENT_NOTEBOOK

    @property
    def public_tests(self) -> Path:
        return self.root / "tests"

    @property
    def autograder(self) -> Path:
        """otter assign's autograder folder (ignored by git): notebook and hidden tests."""
        return self.root / "build" / "autograder"

    @property
    def hidden_tests(self) -> Path:
        return self.autograder / "tests"

    @property
    def gradescope_zip(self) -> Path:
        return self.root / "build" / "gradescope.zip"

    @property
    def dist(self) -> Path:
        return self.root / "dist"


def find_course(start: Path | None = None) -> Course:
    """The checkout holding ``start`` (default: the current folder), else ``start`` itself."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / MASTER).is_file():
            return Course(folder)
    return Course(start)
