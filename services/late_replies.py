"""A customer's answer to a closed case: kept on the case and its owner told, outside the workflow.

A closed case's workflow either waits for its survey (the reply is queued and only taken if the
case reopens) or has completed (no signal reaches it). Either way nobody would read the answer,
so services/inbound.py marks the row `after_close`, the case page shows it from SQL, and this
module tells the owner (the unit's manager when the owner has left) in the app and by email so
they can reopen the case (services/case_reopen.py). The outbox and the notices are unique per
(case, event key) and the key is the one the workflow uses for the same reply: told once.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.exceptions import ApplicationError

from activities.mail import MailActivities
from activities.notifications import Notification, NotificationActivities
from core.settings import Settings
from domain.vocabulary import ClosingStatus, InboundKind, InboundOutcome, MessageKind
from models.case import Case, CaseEvent, Document
from models.config import Unit, User
from models.inbound import InboundMessage

log = logging.getLogger(__name__)


def recipient(session: Session, case: Case) -> str | None:
    """The owner while active, else the unit's manager, else its field manager."""
    unit = session.get(Unit, case.unit_id)
    candidates: list[str | None] = [case.owner_id]
    if unit is not None:
        candidates += [unit.manager_id, unit.field_manager_id]
    for user_id in candidates:
        user = session.get(User, user_id) if user_id else None
        if user is not None and user.active:
            return user.id
    return None


def tell(engine: Engine, settings: Settings, case_id: str, inbound_id: int) -> None:
    """The in-app notice and the email; a failed delivery leaves the row in the outbox."""
    with Session(engine) as session:
        case = session.get(Case, case_id)
        if case is None or case.closing_status == ClosingStatus.ERASED:
            return  # an erased case is nobody's work any more
        to = recipient(session, case)
    if to is None:
        log.warning("inbound message %s: nobody to tell on case %s", inbound_id, case_id)
        return
    note = Notification(
        case_id=case_id,
        event_key=f"customer_reply:{inbound_id}",
        kind=MessageKind.CUSTOMER_REPLY,
        to_user_ids=[to],
        context={"after_close": "yes"},
    )
    outbox_id = NotificationActivities(engine, settings).enqueue(note)
    if outbox_id is None:
        return
    try:
        MailActivities(engine, settings).deliver_row(outbox_id)
    except (ApplicationError, smtplib.SMTPException, OSError) as err:
        log.warning(
            "inbound message %s: owner's email not sent: %s", inbound_id, type(err).__name__
        )


@dataclass(frozen=True)
class LateReply:
    """A customer's answer the case page shows from SQL: the timeline does not carry it."""

    id: int
    at: datetime
    subject: str
    text: str
    after_close: bool
    documents: list[Document]


def not_on_timeline(
    session: Session, case_id: str, events: list[CaseEvent], documents: dict[str, Document]
) -> list[LateReply]:
    """The case's answers no timeline event names: after the close (queued, or the workflow had
    completed), and those a case opened before inbound mail only used to resume its pause."""
    named = {str((e.data or {}).get("inbound")) for e in events if (e.data or {}).get("inbound")}
    rows = session.exec(
        select(InboundMessage)
        .where(
            col(InboundMessage.case_id) == case_id,
            col(InboundMessage.kind) == InboundKind.CUSTOMER,
            col(InboundMessage.outcome).in_([InboundOutcome.AFTER_CLOSE, InboundOutcome.THREADED]),
        )
        .order_by(col(InboundMessage.id).desc())
    ).all()
    return [
        LateReply(
            r.id,
            r.received_at,
            r.subject,
            r.text,
            r.outcome == InboundOutcome.AFTER_CLOSE,
            [documents[d] for d in (r.document_ids or []) if d in documents],
        )
        for r in rows
        if r.id is not None and str(r.id) not in named
    ]
