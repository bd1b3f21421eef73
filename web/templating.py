"""Jinja2 (autoescaped) with jinja2-fragments: one template per page, named blocks for HTMX.

`render` answers an HTMX request with the named block only and a normal request with the whole
page; both carry `Vary: HX-Request` so no cache mixes them up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from jinja2_fragments.fastapi import Jinja2Blocks
from markupsafe import Markup, escape
from starlette.responses import Response

from domain.vocabulary import Access, CaseStatus, ClosingStatus, Priority, Role
from services import reports
from services.inbox import due
from web import i18n
from web.auth import CSRF_FIELD, CSRF_HEADER, csrf_token
from web.i18n import N_

WEB = Path(__file__).resolve().parent
# The session key of a one-time message shown on the next page.
FLASH = "flash"
STATIC_DIR = WEB / "static"

# The report's labels, and the two filter choices the pages add.
STATUS_LABELS = {**reports.STATUS_LABELS, "open": "Open", "all": "All"}
CHANNEL_LABELS = reports.CHANNEL_LABELS


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or "UTC")
    except Exception:
        return ZoneInfo("UTC")


def when(value: datetime | None, tz: str | None = None) -> str:
    """ "Mon 23 Nov 2026, 14:05 CET" in the given zone (the unit's, on the case page), in the
    request's language (Babel)."""
    if value is None:
        return "—"
    local = value.astimezone(_zone(tz))
    return f"{i18n.format_when(local)} {local.tzname() or ''}".rstrip()


def number(value: float | None, digits: int | None = None) -> str:
    """A number in the request's language ("1,234.5" / "1 234,5"); "—" for none."""
    return "—" if value is None else i18n.format_number(value, digits)


def percent(value: float | None) -> str:
    """A 0-100 percentage in the request's language ("92.5%" / "92,5 %")."""
    return "—" if value is None else i18n.format_percent(value)


def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


def span(delta: timedelta) -> str:
    """A duration for people, in the request's language: minutes under an hour, else whole
    hours."""
    return due.span(delta, i18n.translations(i18n.current()))


def js_words() -> dict[str, Any]:
    """The words the page's scripts write (countdowns, the selection count, request errors), in
    the request's language: base.html hands them over as JSON (the scripts fall back to English).
    Plurals as [one, other]; placeholders as in the catalog."""
    t = i18n.translations(i18n.current())

    def forms(one: str, other: str) -> list[str]:  # msgids marked in services.inbox.due
        return [t.ngettext(one, other, 1), t.ngettext(one, other, 2)]

    return {
        "minute": forms("%(num)d minute", "%(num)d minutes"),
        "hour": forms("%(num)d hour", "%(num)d hours"),
        "past_due": t.gettext("%(late)s past due"),
        "in": t.gettext("in %(left)s"),
        "selected": [
            t.ngettext("%(num)d case selected.", "%(num)d cases selected.", 1),
            t.ngettext("%(num)d case selected.", "%(num)d cases selected.", 2),
        ],
        "select_hint": t.gettext("Select cases in the list below."),
        "too_large": t.gettext("The file is larger than the limit of %(limit)s."),
        "loading": t.gettext("Loading…"),
        "saving": t.gettext("Saving…"),
        "server_error": t.gettext(
            "Not done: the server answered with an error (%(status)s). Please try again."
        ),
        "server_error_wait": t.gettext(
            "Not done: the server answered with an error (%(status)s). "
            "Please try again in %(wait)s seconds."
        ),
        "unreachable": t.gettext(
            "Not sent: the server could not be reached. Check your connection and try again."
        ),
    }


def options(
    people: list[tuple[str, str]], selected: str | None, exclude: Iterable[str] = ()
) -> Markup:
    """<option>s for a person picker, built in one pass (organisations have many people)."""
    skip = set(exclude)
    parts = []
    for uid, name in people:
        if uid in skip:
            continue
        u = escape(uid)
        chosen = " selected" if uid == selected else ""
        parts.append(f'<option value="{u}"{chosen}>{escape(name)} ({u})</option>')
    return Markup("".join(parts))


# Words the pages show from data (statuses, channels), for the catalog: `label` and `_()` in the
# templates translate them.
DATA_WORDS = (
    N_("New"),
    N_("In progress"),
    N_("Overdue"),
    N_("Closed"),
    N_("Open"),
    N_("All"),
    N_("Contact center"),
    N_("Location survey"),
    N_("Contact card"),
    N_("Social media"),
    N_("Email"),
    N_("Web form"),
    N_("Chat"),
    N_("Phone"),
    N_("pending"),
    N_("sent"),
    N_("failed"),
    N_("Pending"),
    N_("Sent"),
    N_("Failed"),
    N_("day"),
    N_("resolved"),
    N_("unresolved"),
    N_("answered"),
    N_("expired"),
    N_("week"),
    # Priorities (capitalised), the case page's contact attempt choices and timeline kinds.
    N_("Low"),
    N_("Normal"),
    N_("High"),
    N_("Urgent"),
    N_("Text message"),
    N_("In person"),
    N_("Other"),
    N_("Reached the customer"),
    N_("No answer"),
    N_("Left a message"),
    N_("Wrong number"),
    N_("opened"),
    N_("note"),
    N_("contact attempt"),
    N_("document"),
    N_("reply"),
    N_("reassigned"),
    N_("reclassified"),
    N_("watcher added"),
    N_("watcher removed"),
    N_("warning"),
    N_("escalated"),
    N_("remeasure sent"),
    N_("remeasure reminder"),
    N_("remeasure expired"),
    N_("remeasured"),
    N_("reopened"),
    N_("customer reply"),
    N_("auto reply"),
    N_("Automatic reply received"),
    N_("The customer answered by email"),
    N_("deadline moved"),
    N_("merged"),
    N_("merged from"),
    N_("unmerged"),
    N_("category"),
    N_("priority"),
    N_("Projection"),
    N_("Notification"),
    # The timeline's fixed summaries (the workflow writes them in English).
    N_("Open deadline missed: no first action yet"),
    N_("Resolution survey sent to the customer"),
    N_("Survey reminder sent"),
    N_("Survey expired without an answer"),
    N_("Reopened: the customer says the recovery failed"),
)


def label(value: str | None) -> str:
    """A status or channel as people say it, in the request's language."""
    if not value:
        return ""
    text = STATUS_LABELS.get(value) or CHANNEL_LABELS.get(value) or value.replace("_", " ")
    return i18n.gettext(text)


def _context(request: Request) -> dict[str, Any]:
    return {
        "lang": i18n.current(),
        "languages": i18n.LANGUAGES,
        "csrf_token": csrf_token(request),
        "csrf_field": CSRF_FIELD,
        "csrf_header": CSRF_HEADER,
        "viewer": getattr(request.state, "viewer", None),
        "now": datetime.now(UTC),
    }


templates = Jinja2Blocks(directory=str(WEB / "templates"), context_processors=[_context])
templates.env.add_extension("jinja2.ext.i18n")
# `_`/`gettext`/`ngettext` in the request's language (web.i18n's context variable); new-style:
# `_("%(n)s cases", n=3)` formats (and escapes) its arguments.
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=lambda message: i18n.translations(i18n.current()).gettext(message),
    ngettext=lambda s, p, n: i18n.translations(i18n.current()).ngettext(s, p, n),
    newstyle=True,
)
templates.env.filters.update(
    when=when, iso=iso, label=label, span=span, number=number, percent=percent, day=i18n.format_day
)
# `tr(value)`: a word that comes as data (a title, a status), translated when the catalog has
# it and never read as a format string (`_()` formats, so a stray "%" in data would break it).
templates.env.globals.update(tr=lambda value: i18n.gettext(str(value)) if value else value)
templates.env.globals.update(js_words=js_words, options=options, new_id=lambda: uuid.uuid4().hex)
# The vocabulary, so templates compare with `CaseStatus.NEW`, never a spelled-out string.
templates.env.globals.update(
    {enum.__name__: enum for enum in (CaseStatus, ClosingStatus, Role, Access, Priority)}
)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


def is_htmx(request: Request) -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    block: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The whole page, or only `block` when HTMX asks (HX-Request) and a block is named."""
    session = request.session if "session" in request.scope else None
    i18n.activate(i18n.locale_for(session, request.headers.get("accept-language")))
    partial = block if block and is_htmx(request) else None
    # The language comes from the session or Accept-Language: a cache must tell them apart.
    vary = "HX-Request, Accept-Language, Cookie"
    all_headers = {"Vary": vary, "Cache-Control": "no-store", **(headers or {})}
    if partial:
        # HTMX takes a <title> from a partial response, so the page title follows the view.
        context = {**context, "partial": True}
        return templates.TemplateResponse(
            request, name, context, status_code=status, headers=all_headers, block_name=partial
        )
    return templates.TemplateResponse(
        request, name, context, status_code=status, headers=all_headers
    )
