"""How values read in a message: local times, durations, labels, plain text as HTML."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup

from domain.mail.sandbox import SUBJECT_MAX


def one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SUBJECT_MAX else line[: SUBJECT_MAX - 1] + "…"


def text_to_html(text: str) -> Markup:
    """Plain text as HTML paragraphs (escaped, line breaks kept, links clickable)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    out = []
    for p in paragraphs:
        escaped = html.escape(p.strip())
        linked = re.sub(r"(https?://[^\s<>&\"']+)", r'<a href="\1">\1</a>', escaped)
        out.append(f'<p style="margin:0 0 12px;">{linked.replace(chr(10), "<br>")}</p>')
    return Markup("\n".join(out))


def zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except Exception:
        return ZoneInfo("UTC")


def local_time(at: datetime | None, tz: str | None) -> str:
    """ "Tue 24 Nov 2026, 14:05 CET" in the unit's zone."""
    if at is None:
        return ""
    local = at.astimezone(zone(tz))
    return local.strftime("%a %d %b %Y, %H:%M ") + (local.tzname() or "")


def duration(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 1:
        return f"{max(1, round(hours * 60))} minutes"
    if hours < 48:
        return f"{hours:.1f} hours"
    return f"{hours / 24:.1f} days"


def label(value: str | None) -> str:
    return (value or "").replace("_", " ").capitalize()


def first_name(name: str) -> str:
    return name.split()[0] if name.split() else ""
