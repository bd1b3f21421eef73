"""The demo case every template is checked and previewed against, and the check itself."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.sandbox import SecurityError
from pydantic import BaseModel

from domain.mail.format import local_time, one_line, text_to_html
from domain.mail.render import RenderedMessage, render_message
from domain.mail.sandbox import (
    KINDS,
    PARTS,
    Part,
    TemplateRejected,
    bounded_render,
    error_text,
    part_env,
    static_check,
)


def check_template(kind: str, part: Part, source: str) -> str:
    """Compile, inspect and render `source` against the demo case; the rendered demo text.

    Raises `TemplateRejected` (a ValueError: pydantic reports it on the field) for anything
    that would fail or be unsafe when a real message is sent.
    """
    if kind not in KINDS:
        raise TemplateRejected(kind, part, f"unknown message kind; one of {', '.join(KINDS)}")
    env = part_env(part, strict=True)
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateRejected(kind, part, exc.message or "syntax error", exc.lineno) from exc
    static_check(kind, part, ast)
    try:
        template = env.from_string(source)
        rendered = bounded_render(template, demo_context(kind))
    except SecurityError as exc:
        raise TemplateRejected(kind, part, f"not allowed: {exc}") from exc
    except TemplateSyntaxError as exc:  # in an included template
        raise TemplateRejected(kind, part, exc.message or "syntax error", exc.lineno) from exc
    except TemplateError as exc:
        raise TemplateRejected(kind, part, error_text(exc)) from exc
    except RecursionError as exc:
        raise TemplateRejected(kind, part, "the template recurses without end") from exc
    except Exception as exc:  # any Python error on the demo data
        raise TemplateRejected(kind, part, f"fails on the demo case: {error_text(exc)}") from exc
    if part == "subject" and not one_line(rendered):
        raise TemplateRejected(kind, part, "the subject renders empty on the demo case")
    return rendered


def preview(
    kind: str,
    template: BaseModel | Mapping[str, Any] | None = None,
    ctx: Mapping[str, Any] | None = None,
) -> RenderedMessage:
    """A message as it would go out, for the demo case (or `ctx`); rejects a bad template."""
    data = template.model_dump() if isinstance(template, BaseModel) else dict(template or {})
    for part in PARTS:
        if isinstance(data.get(part), str):
            check_template(kind, part, data[part])
    if kind not in KINDS:
        raise TemplateRejected(kind, "subject", "unknown message kind")
    return render_message(kind, ctx or demo_context(kind), data)


def demo_context(kind: str = "alert") -> dict[str, Any]:
    """A made-up case that fills every field, for previews and for checking templates."""
    tz = "Europe/Oslo"
    created = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)

    def at(hours: float) -> str:
        return local_time(created + timedelta(hours=hours), tz)

    owner = {"id": "ole", "name": "Ole Owner", "email": "ole@example.com"}
    manager = {"id": "mia", "name": "Mia Manager", "email": "mia@example.com"}
    text = (
        "Dear Kari Nordmann,\n\nThank you for taking the time to provide us with your "
        "feedback.\n\nKind regards,\nOle Owner"
    )
    return {
        "case": {
            "id": "C-000123",
            "link": "https://caseloop.example.com/cases/C-000123",
            "status": "in_progress",
            "status_label": "In progress",
            "priority": "normal",
            "category": "Housekeeping",
            "channel": "location_survey",
            "channel_label": "Location survey",
            "reason": "Did you have a concern? Yes: the room was not cleaned on arrival.",
            "verbatim": "The room smelled of smoke and nobody came when I called reception.",
            "external_ref": "SURVEY-88412",
            "created": at(0),
            "open_due": at(24),
            "resolve_due": at(72),
            "escalation_level": 1,
            "went_overdue": True,
            "closing_status": "resolved",
            "closing_status_label": "Resolved",
            "root_causes": ["staff", "cleanliness"],
            "resolution_methods": ["apology", "refund"],
            "final_note": "Called the guest, apologised and refunded one night.",
            "closed": at(50),
            "time_to_close": "2.1 days",
            "reopened_count": 0,
            "remeasure": {
                "status": "answered",
                "score": 2,
                "resolved": False,
                "resolved_label": "no",
                "comment": "Nobody called me back.",
            },
        },
        "unit": {"id": "4723", "name": "Oslo Harbour", "timezone": tz},
        "program": {"id": "recovery", "name": "Guest Recovery"},
        "customer": {
            "name": "Kari Nordmann",
            "first_name": "Kari",
            "email": "kari@example.com",
            "phone": "+47 555 12 345",
        },
        "transaction": [
            {"key": "date", "label": "Date", "value": "2026-11-20"},
            {"key": "room", "label": "Room", "value": "412"},
            {"key": "booking", "label": "Booking", "value": "BK-55821"},
        ],
        "owner": manager if kind == "escalation" else owner,
        "watchers": [
            {**manager, "access": "full"},
            {"id": "fred", "name": "Fred Field", "email": "fred@example.com", "access": "limited"},
        ],
        "late_owner": owner,
        "previous_owner": owner,
        "sender": owner,
        "history": [
            {"at": at(0), "kind": "opened", "actor": "intake", "summary": "Case opened"},
            {"at": at(25), "kind": "overdue", "actor": "system", "summary": "Open deadline missed"},
            {"at": at(72), "kind": "escalated", "actor": "system", "summary": "Escalated to Mia"},
        ],
        "event": {
            "kind": kind,
            "deadline": "resolve",
            "deadline_label": "resolution",
            "due": at(72),
            "reason": "Mia handles billing questions",
            "routing": "field: the unit's frontline owner",
            "note": "",
            "after_close": False,
            "by": "Ole Owner",
            "task": "Call the customer back",
            "task_due": at(8),
            "assignee": "Mia Manager",
        },
        "survey": {
            "link": "https://caseloop.example.com/survey/demo-token",
            "expires": at(240),
        },
        "message": {
            "subject": "Our apologies",
            "text": text,
            "html": text_to_html(text),
        },
    }
