"""The runner's own start-up, paid once per submission inside its sandbox."""

import subprocess
import sys

from testsuite.helpers import ROOT


def test_runner_does_not_build_the_iri_grammar() -> None:
    """jsonschema's optional IRI checker costs ~1.2 s at import (bench/runner_startup.py)."""
    code = "import sys, grader.inside.runner; print(sys.modules.get('rfc3987_syntax', 'absent'))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() in {"None", "absent"}
