"""Safe, unique names for what a submission brings: output keys and store file names."""

import hashlib
import re
from pathlib import Path

UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(text: str, limit: int = 80) -> str:
    """``text`` with every run of unsafe characters replaced by ``_``, at most ``limit`` long."""
    return UNSAFE.sub("_", text)[:limit]


def short_digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:length]


def output_key(path: Path) -> str:
    """A safe name for a submission's files in --out: the stem of a plainly named notebook,
    else the cleaned stem plus a hash of the full name (``alice.zip`` -> ``alice-1f2e...``)."""
    stem = safe_stem(path.stem).strip("._-") or "submission"
    if path.suffix.lower() == ".ipynb" and stem == path.stem:
        return stem
    return f"{stem}-{short_digest(path.name, 8)}"


def numbered(name: str, seen: set[str], separator: str) -> str:
    """``name``, else ``name<separator>2``, ``...3``: the first not in ``seen`` (then added)."""
    candidate, count = name, 1
    while candidate in seen:
        count += 1
        candidate = f"{name}{separator}{count}"
    seen.add(candidate)
    return candidate


def unique_keys(paths: list[Path]) -> list[str]:
    """``output_key`` of each path, with -2, -3, ... where two paths would share one."""
    seen: set[str] = set()
    return [numbered(output_key(path), seen, "-") for path in paths]
