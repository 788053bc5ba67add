"""MNIST for the judge and every submission: found once, verified once, shared read-only."""

import hashlib
import os
from pathlib import Path

from grader.checks.q5 import MNIST_SHA256

FETCH_HINT = "run `make data` (downloads MNIST there, online) or pass --data-dir DIR"


class DataUnavailable(RuntimeError):
    """MNIST is missing or altered; the message is one line with the fix."""


def default_data_dir() -> Path:
    """``$HOMEWORK_DATA_DIR``, else ``./data``, made absolute."""
    return Path(os.environ.get("HOMEWORK_DATA_DIR") or "data").absolute()


def verify_data_dir(data_dir: Path) -> None:
    """Raise ``DataUnavailable`` unless ``data_dir/MNIST/raw`` holds the published files."""
    for name, digest in MNIST_SHA256.items():
        path = data_dir / "MNIST" / "raw" / name
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            raise DataUnavailable(f"MNIST is missing: no {path}; {FETCH_HINT}") from None
        if actual != digest:
            raise DataUnavailable(
                f"{path} is not the published MNIST file: delete it and {FETCH_HINT}"
            )
