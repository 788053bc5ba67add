"""The top pairs' matched passages side by side: one self-contained HTML page.

Everything from a submission is escaped (``html.escape``) and control and bidirectional
characters are shown as U+FFFD, so a passage can neither run script nor hide what it is. The
page loads nothing (a Content-Security-Policy allows only its own style sheet, by hash), has no
script and makes no request.
"""

from __future__ import annotations

import base64
import hashlib
import html
from pathlib import Path

from grader.report.similarity.analysis import Analysis, Comparison
from grader.report.similarity.compare import passages
from grader.report.similarity.tables import CONTROL, listed

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #111; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
td, th { border: 1px solid #bbb; padding: 0.2em 0.6em; text-align: left; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.side { min-width: 0; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 0.5em; overflow-x: auto;
      white-space: pre-wrap; word-break: break-all; font-size: 12px; }
mark { background: #ffd54f; }
.cell { color: #555; font-size: 12px; margin: 0.4em 0 0; }
details { margin: 0.6em 0; }
summary { cursor: pointer; font-weight: bold; }
"""
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
POLICY = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)
MAX_CELL_CHARS = 20_000  # of one cell on the page (the rest is cut, and says so)


def _escaped(value: str) -> str:
    return html.escape(CONTROL.sub("\ufffd", value), quote=True)


def marked(source: str, spans: list[tuple[int, int]]) -> str:
    """The source, escaped, with the spans in <mark>."""
    parts, position = [], 0
    for start, end in sorted(spans):
        start = max(start, position)
        if end <= start:
            continue
        parts += [_keep_lines(source[position:start]), "<mark>"]
        parts += [_keep_lines(source[start:end]), "</mark>"]
        position = end
    parts.append(_keep_lines(source[position:]))
    return "".join(parts)


def _keep_lines(value: str) -> str:
    """Escape but keep newlines and tabs (the other control characters become U+FFFD)."""
    return "\n".join(_escaped(line.replace("\t", "    ")) for line in value.split("\n"))


def _side(comparison: Comparison, analysis: Analysis, member: int, shared: tuple[int, ...]) -> str:
    found: dict[int, list[tuple[int, int]]] = {}
    document = comparison.documents[member]
    for cell, start, end in passages(document, shared, comparison.kind.k):
        found.setdefault(cell, []).append((start, end))
    sources = comparison.cells(analysis, member)
    name = analysis.submissions[comparison.members[member]].name
    parts = [f'<div class="side"><h4>{_escaped(name)}</h4>']
    for cell in sorted(found):
        source = sources.get(cell, "")
        cut = len(source) > MAX_CELL_CHARS
        spans = [(s, min(e, MAX_CELL_CHARS)) for s, e in found[cell] if s < MAX_CELL_CHARS]
        body = marked(source[:MAX_CELL_CHARS], spans)
        note = f" (first {MAX_CELL_CHARS:,} characters)" if cut else ""
        parts.append(f'<p class="cell">cell {cell}{note}</p><pre>{body}</pre>')
    return "\n".join([*parts, "</div>"])


def _comparison_html(analysis: Analysis, comparison: Comparison, top: int) -> list[str]:
    ranked = listed(comparison)[:top]
    anchor = f"{comparison.question}-{comparison.kind.name}"
    parts = [
        f'<h2 id="{anchor}">{comparison.question} {comparison.kind.label}</h2>',
        f"<p>{len(comparison.members)} submission(s) compared, {comparison.skipped} without "
        f"{comparison.kind.label} of their own skipped; "
        + (f"the top {len(ranked)} pair(s) of pairs.csv:</p>" if ranked else "no pair.</p>"),
    ]
    if not ranked:
        return parts
    rows = []
    for rank, index in enumerate(ranked, start=1):
        pair = comparison.pairs[index]
        a, b = (analysis.submissions[comparison.members[m]].name for m in (pair.a, pair.b))
        rows.append(
            f'<tr><td><a href="#{anchor}-{rank}">{rank}</a></td><td>{pair.score:.2f}</td>'
            f"<td>{_escaped(a)}</td><td>{_escaped(b)}</td>"
            f"<td>{pair.matched_a} / {pair.matched_b}</td></tr>"
        )
    parts += [
        "<table><tr><th>rank</th><th>score</th><th>submission</th><th>submission</th>"
        "<th>tokens matched</th></tr>",
        *rows,
        "</table>",
    ]
    for rank, index in enumerate(ranked, start=1):
        pair = comparison.pairs[index]
        parts += [
            f'<details id="{anchor}-{rank}"' + (" open" if rank == 1 else "") + ">",
            f"<summary>#{rank}, score {pair.score:.2f}</summary>",
            '<div class="pair">',
            _side(comparison, analysis, pair.a, pair.shared),
            _side(comparison, analysis, pair.b, pair.shared),
            "</div></details>",
        ]
    return parts


def write_page(analysis: Analysis, path: Path, top: int = 10) -> None:
    body = []
    for comparison in analysis.comparisons:
        body += _comparison_html(analysis, comparison, top)
    page = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
        '<meta name="referrer" content="no-referrer">',
        "<title>Similarity: matched passages</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Similarity: matched passages of the top pairs</h1>",
        "<p>Highlighted: the passages two submissions share (names, literals and comments "
        "ignored for code). A list for a person to read; it changes no points.</p>",
        *body,
        "</body></html>",
    ]
    path.write_text("\n".join(page) + "\n", encoding="utf-8")
