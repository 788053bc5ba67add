"""Hidden-test logic, one module per autograded question.

Each module declares what the judge needs from a submission (``VALUES``, ``MODELS``, ``FILES``)
and ``check_*`` functions that raise ``AssertionError`` with a student-readable message.
The hidden test cells of the master notebook call these functions with a ``ExportedAnswers``.
"""

from types import ModuleType

from grader.checks import q1, q2, q4, q5

QUESTION_MODULES: dict[str, ModuleType] = {"q1": q1, "q2": q2, "q4": q4, "q5": q5}


def exported_names(kind: str) -> list[str]:
    """All names of one kind (``VALUES``, ``MODELS`` or ``FILES``) that any question needs."""
    return sorted({name for module in QUESTION_MODULES.values() for name in getattr(module, kind)})


def prepare_all() -> None:
    """Load the judge's own data (fresh Q2 pairs, verified MNIST) before any student code runs."""
    for module in QUESTION_MODULES.values():
        if hasattr(module, "prepare"):
            module.prepare()
