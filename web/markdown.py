"""Markdown of knowledge-base articles to safe HTML: markdown-it (CommonMark, raw HTML off)
renders, nh3 (ammonia) keeps only an allow-list of tags, attributes and URL schemes.

Two locks, not one: markdown-it's own link validation already refuses `javascript:`, and the
allow-list catches whatever a renderer option or a future plugin lets through.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
SCHEMES = {"http", "https", "mailto"}


def render(source: str) -> Markup:
    """The article's Markdown as HTML that is safe to put on a page."""
    html = _md.render(source)
    return Markup(
        nh3.clean(
            html,
            tags=TAGS,
            attributes=ATTRIBUTES,
            url_schemes=SCHEMES,
            link_rel="noopener noreferrer nofollow",
        )
    )
