"""Notifications: every message is rendered and written to the outbox before anything is sent.

The outbox's unique (case_id, event_key) means a retried activity or a replayed workflow can
never produce a second copy of the same message. `notify` is a *local* activity (short and
idempotent: render + one insert), so an escalation storm does not pay two server round-trips
per message; it answers with the row's id when the row still has to go out over SMTP, and the
workflow then starts the regular `deliver` activity (activities/mail.py) in the background.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session
from temporalio import activity

from activities.failures import classify_errors
from activities.mail import message_id
from activities.mail_context import load_case_data, message_context, template_overrides
from core.settings import Settings
from domain.mail.render import render_message
from models.case import Case, Notice, Outbox
from models.changes import record_notices
from models.config import User


@dataclass
class Notification:
    """A message to put in the outbox; `event_key` makes it unique per case.

    The activity renders it from the read model, which the workflow projects first, and answers
    with the row's id when the row still has to go out over SMTP (else None: no SMTP configured,
    already sent, or nobody to send it to); the workflow then starts the `deliver` activity.
    """

    case_id: str
    event_key: str
    kind: str  # alert, warning, overdue, escalation, reassignment, closing, remeasure, ...
    to_user_ids: list[str]
    cc_user_ids: list[str] = field(default_factory=list)
    to_customer: bool = False
    context: dict[str, str] = field(default_factory=dict)


log = logging.getLogger(__name__)

NO_RECIPIENT = "no recipient with an email address"


def is_address(value: str | None) -> bool:
    return bool(value) and "@" in (value or "") and not any(c in (value or "") for c in "\r\n,;")


def smtp_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def _addresses(users: dict[str, User], ids: list[str]) -> list[str]:
    out: list[str] = []
    for uid in ids:
        user = users.get(uid)
        if user is not None and user.active and is_address(user.email) and user.email not in out:
            out.append(user.email)
    return out


def build_row(
    session: Session,
    n: Notification,
    base_url: str,
    survey: dict[str, str] | None = None,
    mail_from: str = "caseloop@localhost",
) -> dict[str, Any]:
    """The outbox row for one notification: recipients and the rendered message."""
    case = session.get(Case, n.case_id)
    if case is None:
        raise RuntimeError(f"case {n.case_id} is not projected yet")
    data = load_case_data(session, case, n.context, [*n.to_user_ids, *n.cc_user_ids])
    to = _addresses(data.users, n.to_user_ids)
    # The case's contact: replies and surveys go to whom the case was opened for.
    if n.to_customer and is_address(case.contact_email):
        to.append(str(case.contact_email))
    cc = [a for a in _addresses(data.users, n.cc_user_ids) if a not in to]
    if not to and cc:  # nobody in To has an address: the first Cc takes their place
        to, cc = cc[:1], cc[1:]
    ctx = message_context(
        session,
        case,
        kind=n.kind,
        event=n.context,
        base_url=base_url,
        survey=survey,
        data=data,
    )
    message = render_message(n.kind, ctx, template_overrides(data.program).get(n.kind))
    row: dict[str, Any] = {
        "case_id": n.case_id,
        "event_key": n.event_key,
        "kind": n.kind,
        "to_addrs": to,
        "cc_addrs": cc,
        "subject": message.subject,
        "body_text": message.text,
        "body_html": message.html,
        "message_id": message_id(n.case_id, n.event_key, mail_from),
    }
    if not to:
        row |= {"status": "failed", "last_error": NO_RECIPIENT}
    elif message.fallbacks:
        row["last_error"] = (
            f"program template failed for {', '.join(message.fallbacks)}; default used"
        )
    return row


class NotificationActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def enqueue(self, n: Notification, survey: dict[str, str] | None = None) -> int | None:
        """Write the message once; its id when it still has to be delivered over SMTP."""
        table = Outbox.__table__  # type: ignore[attr-defined]
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        # One connection for the reads that render the message and the writes (one checkout,
        # one transaction: this runs once per notice, an escalation storm runs it by the
        # thousand). The reads take no write lock: SQLite's transaction turns into a write
        # one at the insert, as before.
        with self.engine.begin() as conn:
            with Session(bind=conn) as session:
                row = build_row(
                    session, n, self.settings.public_base_url, survey, self.settings.mail_from
                )
            insert = (
                dialect.insert(table)
                .values(**row)
                .on_conflict_do_nothing(index_elements=["case_id", "event_key"])
                .returning(table.c.id, table.c.status)
            )
            notices = [
                {
                    "user_id": uid,
                    "case_id": n.case_id,
                    "event_key": n.event_key,
                    "kind": n.kind,
                    "subject": row["subject"],
                }
                for uid in dict.fromkeys([*n.to_user_ids, *n.cc_user_ids])
                if uid
            ]
            written = conn.execute(insert).first()
            if written is None:  # a retry or a replay: the row is there already
                written = conn.execute(
                    select(table.c.id, table.c.status).where(
                        table.c.case_id == n.case_id, table.c.event_key == n.event_key
                    )
                ).one()
            if notices:  # the header's badge: the same event, once per staff recipient
                conn.execute(
                    dialect.insert(Notice.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
                        index_elements=["user_id", "case_id", "event_key"]
                    ),
                    notices,
                )
                record_notices(conn, n.case_id, [r["user_id"] for r in notices])
        outbox_id, status = written
        if status != "pending" or not smtp_configured(self.settings):
            return None  # sent already, undeliverable, or no SMTP: it stays in the outbox
        return int(outbox_id)

    @activity.defn(name="notify")
    @classify_errors("notification")
    def notify(self, n: Notification) -> int | None:
        return self.enqueue(n)
