"""A student's Markdown answer as safe HTML, rendered as Jupyter shows it.

markdown-it-py (CommonMark, raw HTML allowed as in Jupyter) with the dollar-math plugin keeps
``$...$`` and ``$$...$$`` away from the Markdown parser; the math goes out as ``\\(...\\)`` and
``\\[...\\]`` inside ``class="math"`` elements, the only ones MathJax typesets. nh3 (the Ammonia
sanitiser) then keeps a safelist of tags and attributes: no script, no event handler, no style,
no link target, no image but inline ``data:image`` ones. The page's Content-Security-Policy is the
second wall.
"""

from __future__ import annotations

import html
import re

import nh3
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

MAX_RENDERED_CHARS = 100_000  # longer answers are shown as plain text, cut here
SHOWN_WHEN_TOO_LONG = 20_000
_SCRIPT_TAG = re.compile(r"<(/?)(script|style)\b", re.IGNORECASE)
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*\Z")
_TAGS = (nh3.ALLOWED_TAGS - {"img", "a", "map", "area"}) | {"img", "a"}
_ATTRIBUTES = {
    "img": {"alt", "src", "width", "height"},
    "a": {"title"},  # no href: a click never leaves this page
    "ol": {"start"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
}


def _render_math_inline(self, tokens, index, options, env) -> str:
    return f'<span class="math">\\({html.escape(tokens[index].content)}\\)</span>'


def _render_math_display_inline(self, tokens, index, options, env) -> str:
    return f'<span class="math">\\[{html.escape(tokens[index].content)}\\]</span>'


def _render_math_block(self, tokens, index, options, env) -> str:
    return f'<div class="math">\\[{html.escape(tokens[index].content)}\\]</div>\n'


def _render_link_open(self, tokens, index, options, env) -> str:
    return f'<a title="{html.escape(tokens[index].attrGet("href") or "")}">'


def _render_image(self, tokens, index, options, env) -> str:
    token = tokens[index]
    source = str(token.attrGet("src") or "")
    alt = html.escape(token.content)
    if _DATA_IMAGE.match(source):
        return f'<img src="{html.escape(source)}" alt="{alt}">'
    return f"<code>[image not shown: {html.escape(source)}]</code>"  # remote: never fetched


def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": True}).use(
        dollarmath_plugin, double_inline=True, allow_space=True, allow_digits=True
    )
    parser.enable("table")
    parser.add_render_rule("math_inline", _render_math_inline)
    parser.add_render_rule("math_inline_double", _render_math_display_inline)
    parser.add_render_rule("math_block", _render_math_block)
    parser.add_render_rule("math_block_label", _render_math_block)
    parser.add_render_rule("link_open", _render_link_open)
    parser.add_render_rule("image", _render_image)
    return parser


_MARKDOWN = _parser()


def _attribute(tag: str, name: str, value: str) -> str | None:
    if tag == "img" and name == "src" and not _DATA_IMAGE.match(value):
        return None  # raw <img src="http://..."> in the Markdown: dropped
    return value


def sanitise(fragment: str) -> str:
    """Only safelisted tags and attributes; script and style elements go with their content."""
    return nh3.clean(
        fragment,
        tags=_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute,
        url_schemes={"data"},
        allowed_classes={"span": {"math"}, "div": {"math"}},
        link_rel=None,
    )


def answer_html(markdown: str) -> str:
    """The answer as the TA sees it; a huge one as escaped text, cut, with a notice."""
    if len(markdown) > MAX_RENDERED_CHARS:
        shown = html.escape(markdown[:SHOWN_WHEN_TOO_LONG])
        return (
            f'<p class="notice">This answer is {len(markdown):,} characters long: shown as '
            f"plain text, the first {SHOWN_WHEN_TOO_LONG:,} only.</p><pre>{shown}</pre>"
        )
    visible = _SCRIPT_TAG.sub(r"&lt;\1\2", markdown)  # shown as text, not silently dropped
    return sanitise(_MARKDOWN.render(visible))
