"""MNIST for the judge and every submission: found once, verified once, shared read-only."""

import hashlib
import os
from pathlib import Path

# The published MNIST files (torchvision's raw layout); altered data is refused.
MNIST_SHA256 = {
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
}
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
