"""A course's data (its ``[data]`` in ``course.toml``): found once, verified once, shared
read-only with the judge and every submission."""

import hashlib
import os
from pathlib import Path

from grader.course import DataSpec


class DataUnavailable(RuntimeError):
    """The course's data is missing or altered; the message is one line with the fix."""


def default_data_dir(spec: DataSpec | None) -> Path | None:
    """``$<variable>``, else the spec's default folder, made absolute; None without data."""
    if spec is None:
        return None
    return Path(os.environ.get(spec.variable) or spec.default).absolute()


def verify_data_dir(spec: DataSpec | None, data_dir: Path | None) -> None:
    """Raise ``DataUnavailable`` unless ``data_dir`` holds every file of ``spec`` unaltered."""
    if spec is None:
        return
    if data_dir is None:
        raise DataUnavailable(f"{spec.name} is needed: {spec.fetch_hint}")
    for relative, digest in sorted(spec.sha256.items()):
        path = data_dir / relative
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            raise DataUnavailable(f"{spec.name} is missing: no {path}; {spec.fetch_hint}") from None
        if actual != digest:
            raise DataUnavailable(
                f"{path} is not the published {spec.name} file: delete it and {spec.fetch_hint}"
            )
