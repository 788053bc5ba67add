"""A notebook code cell's source as Python that ``ast`` can parse (read, never run)."""


def without_magics(source: str) -> str:
    """IPython magics and shell lines become ``pass`` (line numbers and indentation kept)."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        magic = stripped.startswith(("%", "!"))
        lines.append(line[: len(line) - len(stripped)] + "pass" if magic else line)
    return "\n".join(lines)
