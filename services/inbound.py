"""Inbound mail: a customer's answer threaded into its case, or a new case from an intake mailbox.

Threading: the case's reply address first (`cases+<case>.<tag>@REPLY_DOMAIN`, activities/mail.py
puts it in Reply-To), then In-Reply-To/References against the Message-IDs of the outbox.

Where the text lives: the `inbound_message` row keeps the customer's (quote-stripped) words; the
workflow gets the row's id as `reference` and the words in the signal's payload, which the codec
encrypts (core/payload_crypto.py), so the timeline shows them as it shows a note. Neither goes
into search attributes, memo or logs (the log lines here name the row and the case only).

Once per Message-ID: the row is written first (unique); a second delivery finds it and stops.
A message whose handling broke halfway (the row still `received`) is taken again.
"""

from __future__ import annotations

import email
import hashlib
import html
import logging
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.payload_crypto import key_ring
from core.settings import Settings
from core.threads import in_thread
from domain.inbound import classify, message_ids, parse_reply_address, strip_quotes
from domain.vocabulary import CaseStatus, Channel, InboundKind, InboundOutcome
from models.api import CaseCreate
from models.case import Case, Document, Outbox
from models.config import Program
from models.inbound import InboundMessage
from services import documents, late_replies
from services.intake import IntakeError, open_case
from workflows.case import CaseWorkflow
from workflows.messages import CustomerReplied, ReplyDocument

log = logging.getLogger(__name__)

RECEIVED = InboundOutcome.RECEIVED
THREADED, OPENED, UNMATCHED = (
    InboundOutcome.THREADED,
    InboundOutcome.OPENED,
    InboundOutcome.UNMATCHED,
)
AFTER_CLOSE = InboundOutcome.AFTER_CLOSE


@dataclass(frozen=True)
class Target:
    """What a recipient address is: a case's reply address, the bare reply address (threaded
    by headers only), or a program's intake mailbox."""

    case_id: str | None = None
    program_id: str | None = None


def _secret(settings: Settings) -> bytes:
    return settings.secret_key.get_secret_value().encode()


def intake_programs(session: Session) -> dict[str, Program]:
    """Intake mailbox (lower case) -> its program."""
    found: dict[str, Program] = {}
    for program in session.exec(select(Program)).all():
        address = (program.intake or {}).get("email")
        if address:
            found[str(address).lower()] = program
    return found


def target_of(engine: Engine, settings: Settings, address: str) -> Target | None:
    """What the address is to us; None: nobody here (answered 550 at RCPT)."""
    address = address.strip().strip("<>")
    if settings.reply_domain:
        parsed = parse_reply_address(
            _secret(settings), settings.reply_local, settings.reply_domain, address
        )
        if parsed is not None:
            return Target(case_id=parsed.case_id)
    with Session(engine) as session:
        program = intake_programs(session).get(address.lower())
    return Target(program_id=program.id) if program is not None else None


def polled_recipients(engine: Engine, settings: Settings, raw: bytes) -> list[str]:
    """The recipients of a message fetched from a mailbox (no SMTP envelope): the addresses
    of Delivered-To, X-Original-To, To and Cc that are ours, else IMAP_RECIPIENT."""
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    headers = ("Delivered-To", "X-Original-To", "To", "Cc")
    found: list[str] = []
    for _, address in getaddresses([str(v) for h in headers for v in msg.get_all(h) or []]):
        if address and address not in found and target_of(engine, settings, address):
            found.append(address)
    if not found and settings.imap_recipient:
        found.append(settings.imap_recipient)
    return found


@dataclass
class Received:
    outcome: str  # threaded | opened | after_close | unmatched | duplicate
    kind: str
    case_id: str | None = None
    inbound_id: int | None = None


# ---------------------------------------------------------------- parsing


def _headers(msg: EmailMessage) -> dict[str, str]:
    return {k.lower(): str(v) for k, v in msg.items()}


def _message_id(msg: EmailMessage, raw: bytes) -> str:
    found = message_ids(str(msg.get("Message-ID") or ""))
    if found:
        return found[0][:255]
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@inbound.caseloop.invalid>"


_TAG = re.compile(r"<[^>]*>")


def body_text(msg: EmailMessage) -> str:
    """The plain-text body; an HTML-only message loses its markup."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = str(part.get_content())
    except (LookupError, ValueError):  # unknown charset, broken encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if part.get_content_subtype() == "html":
        content = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", "", content)
        content = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", content)
        content = html.unescape(_TAG.sub("", content))
    return content.replace("\x00", "")


def _attachments(msg: EmailMessage) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True)
        if isinstance(data, bytes) and data:
            out.append((part.get_filename() or "attachment", data))
    return out


# ---------------------------------------------------------------- receiving


def _begin(engine: Engine, row: InboundMessage) -> InboundMessage | None:
    """Write the row; None when this Message-ID was handled already."""
    with Session(engine) as session:
        existing = session.exec(
            select(InboundMessage).where(col(InboundMessage.message_id) == row.message_id)
        ).first()
        if existing is not None:
            if existing.outcome != RECEIVED:
                return None
            session.expunge(existing)
            return existing
        session.add(row)
        try:
            session.commit()
        except IntegrityError:  # the same message, delivered twice at once
            return None
        session.refresh(row)
        session.expunge(row)
        return row


def _finish(engine: Engine, inbound_id: int, **values: object) -> None:
    with Session(engine) as session:
        session.execute(
            update(InboundMessage).where(col(InboundMessage.id) == inbound_id).values(**values)
        )
        session.commit()


def _case_by_headers(engine: Engine, msg: EmailMessage) -> str | None:
    """The case whose outgoing message this one answers (the newest reference first)."""
    refs = message_ids(str(msg.get("In-Reply-To") or ""), str(msg.get("References") or ""))
    if not refs:
        return None
    with Session(engine) as session:
        rows = session.exec(
            select(Outbox.message_id, Outbox.case_id).where(col(Outbox.message_id).in_(refs))
        ).all()
    by_id = {mid: case_id for mid, case_id in rows}
    for ref in reversed(refs):
        if ref in by_id:
            return by_id[ref]
    return None


def _store_attachments(
    engine: Engine, settings: Settings, case_id: str, files: list[tuple[str, bytes]]
) -> list[ReplyDocument]:
    """Each acceptable attachment as a case document (encrypted at rest); the others skipped."""
    stored: list[ReplyDocument] = []
    ring = key_ring(settings)
    for name, data in files:
        try:
            checked = documents.check_upload(name, data, settings.upload_max_bytes)
        except documents.UploadRefused:
            continue
        doc_id = documents.new_document_id()
        with Session(engine) as session:
            try:
                documents.check_quota(
                    session, case_id, checked.size, settings.upload_case_quota_bytes
                )
            except documents.UploadRefused:
                continue
            documents.store(settings.upload_dir, doc_id, data, ring)
            session.add(
                Document(
                    id=doc_id,
                    case_id=case_id,
                    filename=checked.filename,
                    content_type=checked.content_type,
                    size=checked.size,
                    uploaded_by="customer",
                )
            )
            session.commit()
        stored.append(ReplyDocument(doc_id, checked.filename, checked.content_type, checked.size))
    return stored


def _kept_documents(engine: Engine, inbound_id: int) -> list[ReplyDocument]:
    """The documents an earlier, broken-off attempt at this message stored already."""
    with Session(engine) as session:
        row = session.get(InboundMessage, inbound_id)
        ids = list(row.document_ids or []) if row is not None else []
        if not ids:
            return []
        docs = session.exec(select(Document).where(col(Document.id).in_(ids))).all()
    return [ReplyDocument(d.id, d.filename, d.content_type, d.size) for d in docs]


def _is_closed(engine: Engine, case_id: str) -> bool:
    with Session(engine) as session:
        case = session.get(Case, case_id)
    return case is not None and case.status == CaseStatus.CLOSED


async def receive(
    engine: Engine, client: Client, settings: Settings, raw: bytes, rcpt_tos: list[str]
) -> Received:
    """Handle one accepted message (its recipients were checked at RCPT)."""
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    msg = parsed
    headers = _headers(msg)
    kind = classify(headers, msg.get_content_type(), str(msg.get_param("report-type") or ""))
    sender = parseaddr(str(msg.get("From") or ""))
    text = strip_quotes(body_text(msg))[:20000]
    row = InboundMessage(
        message_id=_message_id(msg, raw),
        kind=kind,
        outcome=RECEIVED,
        from_addr=sender[1][:320],
        subject=" ".join(str(msg.get("Subject") or "").split())[:1000],
        text=text,
    )
    begun = await in_thread(_begin, engine, row)
    if begun is None:
        return Received("duplicate", kind)
    assert begun.id is not None
    targets = [t for t in [await in_thread(target_of, engine, settings, a) for a in rcpt_tos] if t]
    case_id = next((t.case_id for t in targets if t.case_id), None)
    if case_id is None:
        case_id = await in_thread(_case_by_headers, engine, msg)
    if case_id is not None:
        return await _thread(engine, client, settings, begun.id, case_id, kind, text, msg)
    program_id = next((t.program_id for t in targets if t.program_id), None)
    if program_id is not None and kind == InboundKind.CUSTOMER:
        return await _open(engine, client, settings, begun, program_id, sender, text, msg)
    await in_thread(_finish, engine, begun.id, outcome=UNMATCHED)
    log.info("inbound message %s (%s) matches no case", begun.id, kind)
    return Received(UNMATCHED, kind, inbound_id=begun.id)


async def _thread(
    engine: Engine,
    client: Client,
    settings: Settings,
    inbound_id: int,
    case_id: str,
    kind: str,
    text: str,
    msg: EmailMessage,
) -> Received:
    automatic = kind != InboundKind.CUSTOMER
    docs: list[ReplyDocument] = await in_thread(_kept_documents, engine, inbound_id)
    if not automatic and not docs:  # a bounce's attachments are our own message back
        docs = await in_thread(_store_attachments, engine, settings, case_id, _attachments(msg))
        # Kept before the signal: a retry after a failed signal sends these, not new copies.
        ids = [d.document_id for d in docs]
        await in_thread(_finish, engine, inbound_id, case_id=case_id, document_ids=ids)
    signal = CustomerReplied("email", str(inbound_id), "" if automatic else text, automatic, docs)
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_id)
    # A closed case's workflow queues the reply (taken only if the case reopens) or has
    # completed: either way nobody reads it on the timeline, so the row says so.
    closed = await in_thread(_is_closed, engine, case_id)
    outcome = AFTER_CLOSE if closed else THREADED
    try:
        await handle.signal(CaseWorkflow.customer_replied, signal)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise  # Temporal is down: the row stays `received`, the sender retries (4xx)
        outcome = AFTER_CLOSE  # the case's workflow has completed: kept, not threaded
    ids = [d.document_id for d in docs]
    if outcome == AFTER_CLOSE and not automatic:
        # Told before the row is final: a retry of a broken-off attempt tells again, once
        # (the outbox and notices are unique per event).
        await in_thread(late_replies.tell, engine, settings, case_id, inbound_id)
    await in_thread(_finish, engine, inbound_id, outcome=outcome, case_id=case_id, document_ids=ids)
    log.info("inbound message %s (%s) -> case %s: %s", inbound_id, kind, case_id, outcome)
    return Received(outcome, kind, case_id, inbound_id)


async def _open(
    engine: Engine,
    client: Client,
    settings: Settings,
    row: InboundMessage,
    program_id: str,
    sender: tuple[str, str],
    text: str,
    msg: EmailMessage,
) -> Received:
    assert row.id is not None
    with Session(engine) as session:
        program = session.get(Program, program_id)
        unit_id = str(((program.intake if program else None) or {}).get("unit") or "")
    name = " ".join(sender[0].split())[:200]
    fields = {
        "program_id": program_id,
        "unit_id": unit_id,
        "channel": Channel.EMAIL,
        "customer": {"name": name, "email": sender[1] or None},
        "reason": (row.subject or "Email to the intake address")[:5000],
        "verbatim": text,
        "external_ref": row.message_id[:200],
    }
    try:
        body = CaseCreate.model_validate(fields)
    except ValueError:  # an address email-validator refuses: the case opens without it
        body = CaseCreate.model_validate({**fields, "customer": {"name": name}})
    try:
        result = await open_case(
            engine, client, settings, body, opened_by="customer (email)", acknowledge=True
        )
    except IntakeError:
        log.exception("inbound message %s: intake mailbox of %s misconfigured", row.id, program_id)
        await in_thread(_finish, engine, row.id, outcome=UNMATCHED)
        return Received(UNMATCHED, row.kind, inbound_id=row.id)
    docs = await in_thread(_store_attachments, engine, settings, result.case_id, _attachments(msg))
    if docs:
        signal = CustomerReplied("email", str(row.id), documents=docs, opening=True)
        handle = client.get_workflow_handle_for(CaseWorkflow.run, result.case_id)
        await handle.signal(CaseWorkflow.customer_replied, signal)
    ids = [d.document_id for d in docs]
    await in_thread(
        _finish, engine, row.id, outcome=OPENED, case_id=result.case_id, document_ids=ids
    )
    log.info("inbound message %s opened case %s", row.id, result.case_id)
    return Received(OPENED, row.kind, result.case_id, row.id)
