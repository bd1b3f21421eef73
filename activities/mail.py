"""SMTP delivery of one outbox row: a regular activity, retried by Temporal with backoff.

Once per message:
- a row already marked `sent` is never sent again (a retried activity or a replayed workflow
  finds it sent and stops);
- the row is marked `sent` right after the server accepts the message. The one window left —
  the worker dies between the server's "250 OK" and that update — makes the retry send it again
  with the *same* Message-ID (derived from case id and event key), which mail clients and
  archivers treat as one message. SMTP offers no stronger guarantee; losing a message would be
  worse than this.

Errors:
- the server is down, refuses to talk, or answers 4xx (try later): the attempt is recorded on
  the row (attempts, last_error) and the activity raises, so Temporal retries it with backoff
  for as long as the workflow allows (days): the message goes out when the server is back;
- a permanent 5xx for every recipient (mailbox unknown, message refused): the row is marked
  `failed` and the error is non-retryable — repeating it cannot succeed.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from sqlalchemy import Engine, update
from sqlmodel import Session, col
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import classify_errors
from core.settings import Settings
from domain.inbound import reply_address
from domain.vocabulary import MessageKind
from models.case import Outbox

# Messages to the customer; every other kind is a staff notice.
CUSTOMER_MESSAGES = (
    MessageKind.REMEASURE,
    MessageKind.REMEASURE_REMINDER,
    MessageKind.REPLY,
    MessageKind.ACKNOWLEDGEMENT,
)


@dataclass
class DeliveryRequest:
    """Send one outbox row over SMTP; the row's status makes a repeat a no-op."""

    outbox_id: int
    case_id: str
    kind: str


SMTP_TIMEOUT = 30.0  # seconds per SMTP command; the activity's attempt timeout is longer
# CRLF line ends; headers folded only past RFC 5322's hard limit, so a subject stays one line.
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)
PERMANENT = "SmtpPermanentFailure"
NOT_CONFIGURED = "SmtpNotConfigured"


def message_id(case_id: str, event_key: str, mail_from: str) -> str:
    """The same (case, event) always has the same Message-ID, whichever attempt sends it."""
    digest = hashlib.sha256(f"{case_id}\x00{event_key}".encode()).hexdigest()[:32]
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "caseloop.invalid"
    return f"<{case_id}.{digest}@{domain}>"


def case_reply_address(settings: Settings, case_id: str) -> str | None:
    """Where the customer's answer to a case goes (cli/inbound_smtp.py); None: no inbound."""
    if not settings.reply_domain:
        return None
    secret = settings.secret_key.get_secret_value().encode()
    return reply_address(secret, settings.reply_local, settings.reply_domain, case_id)


def build_message(row: Outbox, settings: Settings) -> EmailMessage:
    """multipart/alternative: the plain-text part first, the HTML part preferred by clients."""
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["Subject"] = " ".join(row.subject.split()) or f"Case {row.case_id}"
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(row.to_addrs)
    if row.cc_addrs:
        msg["Cc"] = ", ".join(row.cc_addrs)
    msg["Message-ID"] = row.message_id or message_id(row.case_id, row.event_key, settings.mail_from)
    msg["Date"] = format_datetime(row.created_at or datetime.now(UTC))
    msg["X-Caseloop-Case"] = row.case_id
    msg["X-Caseloop-Kind"] = row.kind
    if row.kind not in CUSTOMER_MESSAGES:
        msg["Auto-Submitted"] = "auto-generated"  # staff notices: no out-of-office replies
    elif (reply_to := case_reply_address(settings, row.case_id)) is not None:
        msg["Reply-To"] = reply_to  # the customer's answer is threaded into the case
    msg.set_content(row.body_text or "", subtype="plain", charset="utf-8")
    if row.body_html:
        msg.add_alternative(row.body_html, subtype="html", charset="utf-8")
    return msg


def _connect(settings: Settings) -> smtplib.SMTP:
    host, port = settings.smtp_host or "", settings.smtp_port
    if port == 465:  # implicit TLS ("SMTPS")
        return smtplib.SMTP_SSL(
            host, port, timeout=SMTP_TIMEOUT, context=ssl.create_default_context()
        )
    server = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
    if settings.smtp_starttls:
        server.starttls(context=ssl.create_default_context())
    return server


def send(settings: Settings, msg: EmailMessage, recipients: list[str]) -> dict[str, str]:
    """Hand one message to the SMTP server; the recipients it refused (the others got it)."""
    server = _connect(settings)
    try:
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            server.login(settings.smtp_username, password)
        refused = server.send_message(
            msg, from_addr=parseaddr(settings.mail_from)[1], to_addrs=recipients
        )
    finally:
        try:
            server.quit()
        except (smtplib.SMTPException, OSError):
            server.close()
    return {
        addr: f"{code} {text.decode(errors='replace')}" for addr, (code, text) in refused.items()
    }


def _is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False  # a configuration problem an operator fixes: keep trying
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        err = exc.smtp_error
        text = err.decode(errors="replace") if isinstance(err, bytes) else str(err)
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{a}: {c} {t.decode(errors='replace')}" for a, (c, t) in exc.recipients.items()
        )
    return f"{type(exc).__name__}: {exc}"


class MailActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def _record(self, outbox_id: int, **values: object) -> None:
        with Session(self.engine) as session:
            session.execute(
                update(Outbox)
                .where(col(Outbox.id) == outbox_id, col(Outbox.status) != "sent")
                .values(attempts=col(Outbox.attempts) + 1, **values)
            )
            session.commit()

    def deliver_row(self, outbox_id: int) -> str:
        """Send the row unless it was sent already; "sent" or "already sent"."""
        with Session(self.engine) as session:
            row = session.get(Outbox, outbox_id)
            if row is None:
                raise ApplicationError(f"outbox row {outbox_id} does not exist", non_retryable=True)
            session.expunge(row)
        if row.status == "sent":
            return "already sent"
        if not self.settings.smtp_host:
            # Configuration changed since the workflow asked: the row waits in the outbox.
            raise ApplicationError(
                "SMTP is not configured", type=NOT_CONFIGURED, non_retryable=True
            )
        recipients = list(dict.fromkeys([*row.to_addrs, *row.cc_addrs]))
        if not recipients:
            self._record(outbox_id, status="failed", last_error="no recipient address")
            raise ApplicationError("no recipient address", type=PERMANENT, non_retryable=True)
        try:
            msg = build_message(row, self.settings)
        except ValueError as exc:  # e.g. a header the email library refuses: never sendable
            error = f"the message cannot be built: {type(exc).__name__}"
            self._record(outbox_id, status="failed", last_error=error)
            raise ApplicationError(error, type=PERMANENT, non_retryable=True) from None
        try:
            refused = send(self.settings, msg, recipients)
        except (smtplib.SMTPException, OSError) as exc:
            error = _describe(exc)[:2000]
            if _is_permanent(exc):
                self._record(outbox_id, status="failed", last_error=error)
                raise ApplicationError(error, type=PERMANENT, non_retryable=True) from exc
            self._record(outbox_id, last_error=error)
            raise  # retried by Temporal with backoff
        # The last error of an earlier attempt stays for the record, unless someone was refused.
        note = "; ".join(f"refused {a}: {why}" for a, why in refused.items())
        extra = {"last_error": note[:2000]} if note else {}
        self._record(outbox_id, status="sent", sent_at=datetime.now(UTC), **extra)
        return "sent"

    @activity.defn(name="deliver")
    @classify_errors("delivery")
    def deliver(self, req: DeliveryRequest) -> str:
        return self.deliver_row(req.outbox_id)
