"""A program's messaging as the admin pages and the case page use it: the effective templates
(override or default) per kind, saving an override, and the scripted replies for a case."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from activities.mail_context import message_context, stored_notifications, template_overrides
from domain.audit import Actor
from domain.mail.format import first_name
from domain.mail.preview import check_template
from domain.mail.render import RenderedMessage, render_message
from domain.mail.sandbox import KINDS, PARTS, TemplateRejected, default_source
from domain.mail.schema import (
    NotificationsIn,
    ReplyTemplateIn,
    TemplateIn,
    default_replies,
    fill_placeholders,
    unfilled_placeholders,
)
from domain.vocabulary import AuditObject, MessageKind
from models.case import Case
from models.config import Program, Unit
from services.audit import cli_actor, record
from services.configuration import program_state

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- rendering


# ---------------------------------------------------------------- the context (plain data)


# ---------------------------------------------------------------- scripted replies


@dataclass
class ReplyChoice:
    key: str
    name: str
    subject: str
    body: str


def program_replies(program: Program | None) -> list[ReplyTemplateIn]:
    raw = stored_notifications(program).get("replies") or []
    replies = []
    for r in raw:
        try:
            replies.append(ReplyTemplateIn.model_validate(r))
        except Exception:  # stored data was validated on save; skip what no longer is
            log.warning("skipping an invalid reply template of program %s", program)
    return replies or list(default_replies())


def placeholder_values(
    case: Case,
    *,
    unit_name: str,
    program_name: str,
    customer_name: str,
    sender_name: str,
) -> dict[str, str]:
    details = (case.verbatim or case.reason or "").strip()
    return {
        "CUSTOMER NAME": customer_name or "customer",
        "CUSTOMER FIRST NAME": first_name(customer_name) or "customer",
        "DETAILS FROM CUSTOMER": details,
        "REASON": case.reason,
        "CASE ID": case.id,
        "UNIT NAME": unit_name,
        "PROGRAM NAME": program_name,
        "SENDER NAME": sender_name,
        "TRANSACTION DATE": str((case.transaction or {}).get("date", "")),
    }


def reply_choices(session: Session, case: Case, sender_name: str = "") -> list[ReplyChoice]:
    """The program's scripted replies for this case, placeholders filled in from it."""
    program = session.get(Program, case.program_id)
    unit = session.get(Unit, case.unit_id)
    values = placeholder_values(
        case,
        unit_name=unit.name if unit else case.unit_id,
        program_name=program.name if program else case.program_id,
        customer_name=case.customer_name,
        sender_name=sender_name,
    )
    return [
        ReplyChoice(
            key=r.key,
            name=r.name,
            subject=fill_placeholders(r.subject, values),
            body=fill_placeholders(r.body, values),
        )
        for r in program_replies(program)
    ]


def effective_templates(program: Program | None) -> list[dict[str, Any]]:
    """Per kind: each part's source and whether the program overrides it (admin views)."""
    overrides = template_overrides(program)
    out: list[dict[str, Any]] = []
    for kind, purpose in KINDS.items():
        custom = overrides.get(kind, {})
        out.append(
            {
                "kind": kind,
                "purpose": purpose,
                **{
                    part: {
                        "source": custom.get(part) or default_source(kind, part),
                        "custom": bool(custom.get(part)),
                    }
                    for part in PARTS
                },
            }
        )
    return out


# ---------------------------------------------------------------- saving and replying


class ReplyRejected(ValueError):
    """A reply that cannot be sent as it is; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def save_template(
    session: Session,
    program_id: str,
    kind: str,
    template: TemplateIn | None,
    actor: Actor | None = None,
) -> NotificationsIn:
    """Set (or with None, remove) a program's override of one kind; checked before it is stored.

    Raises KeyError for an unknown program and TemplateRejected for a template that must not
    be saved — in which case nothing changes.
    """
    program = session.get(Program, program_id)
    if program is None:
        raise KeyError(program_id)
    if kind not in KINDS:
        raise TemplateRejected(kind, "subject", f"unknown message kind; one of {', '.join(KINDS)}")
    data = dict(stored_notifications(program))
    templates = dict(data.get("templates") or {})
    if template is None:
        templates.pop(kind, None)
    else:
        for part in PARTS:
            source = getattr(template, part)
            if source is not None:
                check_template(kind, part, source)
        templates[kind] = template.model_dump(exclude_none=True)
    data["templates"] = templates
    checked = NotificationsIn.model_validate(data)
    before = program_state(program)
    program.notifications = checked.model_dump(mode="json", exclude_defaults=True)
    session.add(program)
    kind_, after = AuditObject.PROGRAM, program_state(program)
    record(session, actor or cli_actor(), kind_, program_id, before, after)
    session.commit()
    return checked


def check_reply(case: Case, subject: str, text: str) -> None:
    """What the workflow would refuse, said in the page's words before anything is sent."""
    if not case.contact_email or "@" not in case.contact_email:
        raise ReplyRejected("customer", "This case's contact gave no email address.")
    if not subject.strip():
        raise ReplyRejected("subject", "Give the reply a subject.")
    if len(subject) > 200 or "\n" in subject.strip():
        raise ReplyRejected("subject", "The subject is one line of at most 200 characters.")
    if not text.strip():
        raise ReplyRejected("text", "Write the reply before sending it.")
    if len(text) > 20_000:
        raise ReplyRejected("text", "A reply is limited to 20,000 characters.")
    left = unfilled_placeholders(subject, text)
    if left:
        raise ReplyRejected("text", f"Fill in {', '.join(left)} before sending.")
    if not case.is_open:
        raise ReplyRejected("case", f"{case.id} is closed; it no longer accepts replies.")


def reply_preview(
    session: Session, case: Case, subject: str, text: str, sender_id: str, base_url: str
) -> RenderedMessage:
    """The reply as the customer will receive it (the program's `reply` template around it)."""
    event = {"subject": subject, "text": text, "sender": sender_id}
    ctx = message_context(session, case, kind=MessageKind.REPLY, event=event, base_url=base_url)
    return render_message(
        MessageKind.REPLY,
        ctx,
        template_overrides(session.get(Program, case.program_id)).get(MessageKind.REPLY),
    )
