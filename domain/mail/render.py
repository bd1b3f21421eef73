"""A message's subject, text and HTML from a context: the program's override where it works,
the shipped default where it does not (a message always goes out)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Template

from domain.mail.format import one_line, text_to_html
from domain.mail.sandbox import PARTS, Part, bounded_render, default_name, part_env, static_check

log = logging.getLogger(__name__)


@dataclass
class RenderedMessage:
    subject: str
    text: str
    html: str
    # Parts of a program's override that failed at send time and fell back to the default.
    fallbacks: tuple[str, ...] = ()


@lru_cache(maxsize=512)
def _compiled(kind: str, part: Part, source: str) -> Template:
    """A stored override, compiled once; the static checks again (data can change behind us)."""
    env = part_env(part, strict=False)
    static_check(kind, part, env.parse(source))
    return env.from_string(source)


def render_message(
    kind: str, ctx: Mapping[str, Any], override: Mapping[str, Any] | None = None
) -> RenderedMessage:
    """Subject, text and HTML for `kind`; a failing override part falls back to the default."""
    parts: dict[str, str] = {}
    fallbacks: list[str] = []
    custom = {p: override.get(p) for p in PARTS} if override else {}
    for part in PARTS:
        source = custom.get(part)
        if isinstance(source, str) and source.strip():
            try:
                parts[part] = bounded_render(_compiled(kind, part, source), ctx)
                if part == "subject" and not one_line(parts[part]):
                    raise ValueError("the subject rendered empty")
                continue
            except Exception as exc:  # never block a message on an admin's template
                log.warning("template %s.%s override failed, default used: %s", kind, part, exc)
                fallbacks.append(part)
        elif part == "html" and isinstance(custom.get("text"), str) and "text" not in fallbacks:
            # A custom text without a custom HTML: the HTML says the same thing.
            body = text_to_html(parts["text"])
            parts[part] = (
                part_env("html", False)
                .get_template("_from_text.html")
                .render({**ctx, "body": body})
            )
            continue
        template = part_env(part, False).get_template(default_name(kind, part))
        parts[part] = bounded_render(template, ctx)
    return RenderedMessage(
        subject=one_line(parts["subject"]),
        text=parts["text"].strip() + "\n",
        html=parts["html"],
        fallbacks=tuple(fallbacks),
    )
