"""What a message about a case may show, read from the read model as plain data (dicts, lists,
strings): the only thing a message template ever sees."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from domain.mail.format import duration, first_name, label, local_time, text_to_html
from domain.mail.sandbox import MAX_HISTORY
from models.case import Case, CaseEvent, CaseWatcher
from models.config import Program, Unit, User


def _person(user: User | None, fallback: str = "") -> dict[str, str] | None:
    if user is None:
        return {"id": fallback, "name": fallback, "email": ""} if fallback else None
    return {"id": user.id, "name": user.name or user.id, "email": user.email or ""}


@dataclass
class CaseData:
    """The rows a message about one case draws on, loaded in one go (few queries, one session)."""

    unit: Unit | None
    program: Program | None
    watchers: list[CaseWatcher]
    events: list[CaseEvent]
    users: dict[str, User]


EVENT_PEOPLE = ("late_owner", "previous_owner", "sender", "closed_by", "by", "assignee")


def load_case_data(
    session: Session,
    case: Case,
    event: Mapping[str, str] | None = None,
    extra_user_ids: Iterable[str] = (),
) -> CaseData:
    event = event or {}
    watchers = list(
        session.exec(
            select(CaseWatcher)
            .where(col(CaseWatcher.case_id) == case.id)
            .order_by(col(CaseWatcher.user_id))
        ).all()
    )
    events = list(
        session.exec(
            select(CaseEvent)
            .where(col(CaseEvent.case_id) == case.id)
            .order_by(col(CaseEvent.seq).desc())
            .limit(MAX_HISTORY)
        ).all()
    )[::-1]
    wanted = {case.owner_id, *(w.user_id for w in watchers), *(e.actor for e in events)}
    wanted |= {event.get(k, "") for k in EVENT_PEOPLE} | set(extra_user_ids)
    users = {
        u.id: u
        for u in session.exec(select(User).where(col(User.id).in_([w for w in wanted if w])))
    }
    return CaseData(
        unit=session.get(Unit, case.unit_id),
        program=session.get(Program, case.program_id),
        watchers=watchers,
        events=events,
        users=users,
    )


def message_context(
    session: Session,
    case: Case,
    *,
    kind: str,
    event: Mapping[str, str] | None = None,
    base_url: str = "",
    survey: Mapping[str, str] | None = None,
    data: CaseData | None = None,
) -> dict[str, Any]:
    """Everything a template may show about `case`, as plain dicts, lists and strings."""
    event = dict(event or {})
    data = data or load_case_data(session, case, event)
    unit, program = data.unit, data.program
    watchers, events, users = data.watchers, data.events, data.users
    tz = unit.timezone if unit else "UTC"

    def who(user_id: str | None) -> dict[str, str] | None:
        return _person(users.get(user_id or ""), user_id or "") if user_id else None

    transaction = [
        {"key": str(k), "label": label(str(k)), "value": str(v)}
        for k, v in list((case.transaction or {}).items())[:50]
    ]
    deadline = event.get("deadline", "")
    due_at = case.open_due_at if deadline == "open" else case.resolve_due_at
    by = who(event.get("closed_by") or event.get("by") or event.get("sender"))
    return {
        "case": {
            "id": case.id,
            "link": f"{base_url}/cases/{case.id}",
            "status": case.status,
            "status_label": label(case.status),
            "priority": case.priority,
            "category": case.category,
            "channel": case.channel,
            "channel_label": label(case.channel),
            "reason": case.reason,
            "verbatim": case.verbatim,
            "external_ref": case.external_ref or "",
            "created": local_time(case.created_at, tz),
            "open_due": local_time(case.open_due_at, tz),
            "resolve_due": local_time(case.resolve_due_at, tz),
            "escalation_level": case.escalation_level,
            "went_overdue": case.went_overdue,
            "closing_status": case.closing_status or "",
            "closing_status_label": label(case.closing_status),
            "root_causes": list(case.root_causes or []),
            "resolution_methods": list(case.resolution_methods or []),
            "final_note": case.final_note,
            "closed": local_time(case.closed_at, tz),
            "time_to_close": duration(case.closed_at - case.created_at) if case.closed_at else "",
            "reopened_count": case.reopened_count,
            "remeasure": {
                "status": case.remeasure_status,
                "score": case.remeasure_score,
                "resolved": case.remeasure_resolved,
                "resolved_label": {True: "yes", False: "no"}.get(case.remeasure_resolved, "—")
                if case.remeasure_resolved is not None
                else "—",
                "comment": case.remeasure_comment,
            },
        },
        "unit": {
            "id": case.unit_id,
            "name": unit.name if unit else case.unit_id,
            "timezone": tz,
        },
        "program": {"id": case.program_id, "name": program.name if program else case.program_id},
        # The case's own contact as intake was given it, never the customer record's: a
        # record may be another person who shares the phone (domain/customers.py).
        "customer": {
            "name": case.customer_name,
            "first_name": first_name(case.customer_name),
            "email": case.contact_email or "",
            "phone": case.contact_phone or "",
        },
        "transaction": transaction,
        "owner": who(case.owner_id),
        "watchers": [
            {**(who(w.user_id) or {}), "access": w.access} for w in watchers if who(w.user_id)
        ],
        "late_owner": who(event.get("late_owner")),
        "previous_owner": who(event.get("previous_owner")),
        "sender": who(event.get("sender")),
        "history": [
            {
                "at": local_time(e.at, tz),
                "kind": e.kind,
                "actor": (users[e.actor].name if e.actor in users else e.actor),
                "summary": e.summary,
            }
            for e in events
        ],
        "event": {
            "kind": kind,
            "deadline": deadline,
            "deadline_label": {"open": "first contact", "resolve": "resolution"}.get(deadline, ""),
            "due": local_time(due_at, tz) if deadline else "",
            "reason": event.get("reason", ""),
            "routing": event.get("routing", ""),
            "note": event.get("note", ""),
            # A customer's answer to a closed case (services/late_replies.py).
            "after_close": bool(event.get("after_close")),
            "by": by["name"] if by else "",
            # A task's title and due time, and whom it is for (issue 18); a mention's reader.
            "task": event.get("task", ""),
            "task_due": local_time(_when(event.get("task_due")), tz),
            "assignee": (who(event.get("assignee")) or {}).get("name", ""),
        },
        "survey": {"link": "", "expires": "", **dict(survey or {})},
        "message": {
            "subject": event.get("subject", ""),
            "text": event.get("text", ""),
            "html": text_to_html(event.get("text", "")),
        },
    }


def _when(iso: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(iso) if iso else None
    except ValueError:
        return None


def stored_notifications(program: Program | None) -> dict[str, Any]:
    raw = getattr(program, "notifications", None) if program is not None else None
    return raw if isinstance(raw, dict) else {}


def template_overrides(program: Program | None) -> dict[str, dict[str, Any]]:
    raw = stored_notifications(program).get("templates") or {}
    return {k: v for k, v in raw.items() if isinstance(v, dict)}
