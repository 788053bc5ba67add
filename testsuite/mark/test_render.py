"""Answers render as Jupyter shows them, and hostile ones render harmless."""

from __future__ import annotations

import re

import pytest

from grader.mark.render import answer_html
from testsuite.mark.classes import HOSTILE


def test_markdown_and_math_render() -> None:
    html = answer_html("**No.** The range is $[-1, 1]$, so $x_1 < x_2$:\n\n$$\\sum_i a_i$$")
    assert "<strong>No.</strong>" in html
    assert '<span class="math">\\([-1, 1]\\)</span>' in html
    assert '<span class="math">\\(x_1 &lt; x_2\\)</span>' in html  # _ is not emphasis in math
    assert '<div class="math">\\[\\sum_i a_i\\]</div>' in html


@pytest.mark.parametrize("answer", HOSTILE[:-1])
def test_hostile_markdown_keeps_no_active_content(answer: str) -> None:
    html = answer_html(answer)
    assert not re.search(r"<(script|style|iframe|svg|form|button)\b", html, re.I)
    assert not re.search(r"\s(on\w+|style|href|action)\s*=", html, re.I)
    assert not re.search(r"src=\"(?!data:image/)", html)


def test_script_is_shown_as_text() -> None:
    assert "&lt;script&gt;alert('script')&lt;/script&gt;" in answer_html(HOSTILE[0])


def test_a_huge_answer_is_cut_and_shown_as_text() -> None:
    html = answer_html("<b>" + "x" * 10_000_000)
    assert len(html) < 30_000
    assert "10,000,003 characters long" in html
    assert "&lt;b&gt;" in html


def test_inline_data_images_stay() -> None:
    html = answer_html("![plot](data:image/png;base64,iVBORw0KGgo=)")
    assert '<img src="data:image/png;base64,iVBORw0KGgo=" alt="plot">' in html
