"""A course: the folder the grader is pointed at, described by its ``course.toml``.

The installed grader names no question and no dataset. A course folder holds its master
notebook, its question modules (loaded by path, under a module name unique to the course, so
two courses' ``q1`` never clash), its example mistakes, the data it needs with their checksums,
and its budgets. ``--course DIR`` names it; by default the nearest folder at or above the current
one that holds a ``course.toml``. Light on purpose: importing it loads neither torch nor otter.
"""

import hashlib
import importlib.util
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.settings import Settings

COURSE_FILE = "course.toml"
# The notebook's otter.Notebook object. otter assign calls it `grader`, the name of this package;
# `grader build` renames it so that each name means one thing.
OTTER_OBJECT = "checker"


class CourseError(ValueError):
    """The course folder or its ``course.toml`` is not usable; the message says why."""


@dataclass(frozen=True)
class DataSpec:
    """Files a course's questions read (e.g. MNIST), verified by SHA-256 before grading.

    ``folder`` (under the data directory) is what each sandbox sees read-only, both at the data
    directory's own path and at ``data/<folder>`` beside the notebook.
    """

    name: str
    variable: str  # the environment variable naming the data directory
    default: str  # the data directory when the variable is unset (relative to the cwd)
    folder: str
    sha256: dict[str, str]  # path relative to the data directory -> digest
    mirrors: tuple[str, ...] = ()  # Gradescope's setup fetches <mirror>/<file name>.gz
    fetch_hint: str = "pass --data-dir DIR"

    def checksum_lines(self) -> str:
        """``sha256sum --check`` input, paths relative to the data directory."""
        return "".join(f"{digest}  {path}\n" for path, digest in sorted(self.sha256.items()))


@dataclass(frozen=True)
class Course:
    """A course folder: master notebook in; student files, autograder and releases out."""

    root: Path
    config: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, root: Path) -> "Course":
        """The course in ``root``, read from its ``course.toml``."""
        root = root.resolve()
        try:
            config = tomllib.loads((root / COURSE_FILE).read_text())
        except FileNotFoundError:
            raise CourseError(f"{root} is not a course: no {COURSE_FILE}") from None
        except tomllib.TOMLDecodeError as error:
            raise CourseError(f"{root / COURSE_FILE}: {error}") from None
        return cls(root, config)

    def _path(self, key: str, default: str) -> Path:
        return self.root / self.config.get("course", {}).get(key, default)

    @property
    def title(self) -> str:
        return self.config.get("course", {}).get("title", self.root.name)

    @property
    def master(self) -> Path:
        return self._path("master", "solutions/homework.ipynb")

    @property
    def student_notebook(self) -> Path:
        return self._path("student_notebook", "homework.ipynb")

    @property
    def questions_dir(self) -> Path:
        """The question modules ``qN.py`` (hidden-test logic and what to export)."""
        return self._path("questions", "solutions/questions")

    @property
    def examples_module(self) -> Path:
        """``MISTAKES`` that turn the solution into the partly wrong example (optional)."""
        return self._path("examples", "solutions/examples.py")

    @property
    def requirements(self) -> Path:
        """What the student notebook needs (shipped to students and to Gradescope)."""
        return self._path("requirements", "requirements.txt")

    @property
    def public_tests(self) -> Path:
        return self.root / "tests"

    @property
    def examples(self) -> Path:
        return self.root / "examples"

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

    @cached_property
    def settings(self) -> Settings:
        """The grader's defaults with this course's ``[budgets]`` applied."""
        return Settings.from_mapping(self.config.get("budgets", {}))

    @cached_property
    def data(self) -> DataSpec | None:
        """The data this course's questions need, or None (a course without data)."""
        spec = self.config.get("data")
        if not spec:
            return None
        return DataSpec(
            name=spec["name"],
            variable=spec.get("variable", "COURSE_DATA_DIR"),
            default=spec.get("default", "data"),
            folder=spec["folder"],
            sha256=dict(spec.get("sha256", {})),
            mirrors=tuple(spec.get("mirrors", ())),
            fetch_hint=spec.get("fetch_hint", "pass --data-dir DIR"),
        )

    def question_files(self) -> dict[str, Path]:
        """Question name -> module file (``q1`` -> ``solutions/questions/q1.py``)."""
        return {path.stem: path for path in sorted(self.questions_dir.glob("q*.py"))}

    def question_module(self, name: str) -> ModuleType | None:
        """The question's module, loaded from the course folder once; None when it has none."""
        path = self.question_files().get(name)
        return load_module(self._module_prefix, name, path) if path else None

    def examples_mistakes(self) -> list[tuple[str, str]]:
        """The course's example mistakes (``(old, new)`` replacements), [] when it has none."""
        path = self.examples_module
        if not path.is_file():
            return []
        return list(load_module(self._module_prefix, "examples", path).MISTAKES)

    @property
    def _module_prefix(self) -> str:
        return "course_" + hashlib.sha256(str(self.root).encode()).hexdigest()[:10]


def load_module(prefix: str, name: str, path: Path) -> ModuleType:
    """Import ``path`` as ``<prefix>.<name>`` (kept in ``sys.modules``: source and pickles work)."""
    qualified = f"{prefix}.{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    if prefix not in sys.modules:  # a namespace for the course's modules
        package = ModuleType(prefix)
        package.__path__ = []
        sys.modules[prefix] = package
    spec = importlib.util.spec_from_file_location(qualified, path)
    if spec is None or spec.loader is None:
        raise CourseError(f"{path} cannot be imported as a question module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[qualified]
        raise
    return module


def find_course(start: Path | None = None) -> Course:
    """The course holding ``start`` (default: the current folder)."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / COURSE_FILE).is_file():
            return Course.load(folder)
    raise CourseError(f"no {COURSE_FILE} at or above {start}: pass --course DIR")
