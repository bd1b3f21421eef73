"""Customers answer by email, over real SMTP both ways.

Caseloop sends to the aiosmtpd sink (`smtp`); the customer's answers go to Caseloop's own
inbound SMTP server (cli/inbound_smtp.py, started here on the test's loop) through smtplib; the
case's workflow runs on the real worker. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from activities.mail import case_reply_address
from cli.inbound_smtp import start_server
from core.payload_crypto import key_ring
from core.settings import Settings
from domain.case import Actor
from domain.permissions import Viewer
from domain.vocabulary import ClosingStatus, Role
from models.case import Case, CaseEvent, Document, Notice
from models.config import User
from models.inbound import InboundMessage
from services import documents
from services.case_actions import run_update
from services.case_reopen import reopen_case
from services.gdpr import export_customer
from tests.factories import case_row, seed
from tests.live import eventually, free_port
from tests.notify.conftest import SmtpSink, notify_worker, open_test_case, outbox_rows
from web.routes.pages.cases import case_context
from workflows.case import CaseWorkflow
from workflows.messages import CloseCase, PauseCase, SendReply

OLE = Actor("ole")
INTAKE = "help@recovery.example"
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def inbound_settings(mail_settings: Settings) -> Settings:
    return mail_settings.model_copy(update={"reply_domain": "reply.example"})


@asynccontextmanager
async def inbound_server(
    env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> AsyncIterator[int]:
    port = free_port()
    server = await start_server(engine, env.client, settings, "127.0.0.1", port)
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


async def deliver(port: int, msg: EmailMessage, to: str) -> None:
    """The customer's mail server hands the message to Caseloop's inbound server."""

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.send_message(msg, from_addr="kari@example.com", to_addrs=[to])

    await asyncio.to_thread(send)


def mail(to: str, subject: str, text: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Kari Nordmann <kari@example.com>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="customer.example")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg


def events(engine: Engine, case_id: str, kind: str) -> list[CaseEvent]:
    with Session(engine) as s:
        rows = s.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
        ).all()
    return list(rows)


def until(engine: Engine, case_id: str, kind: str, count: int = 1) -> Callable[[], Any]:
    def check() -> list[CaseEvent] | None:
        found = events(engine, case_id, kind)
        return found if len(found) >= count else None

    return check


async def test_a_customer_answer_by_email_lands_on_the_case(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    inbound_settings: Settings,
    smtp: SmtpSink,
) -> None:
    settings = inbound_settings
    seed(engine)
    async with (
        notify_worker(ts_env, engine, settings),
        inbound_server(ts_env, engine, settings) as port,
    ):
        case_id = await open_test_case(ts_env, engine, settings)
        await smtp.wait_for(rf"^New case {case_id}\b")
        await run_update(
            ts_env.client,
            case_id,
            CaseWorkflow.send_reply,
            SendReply(OLE, "ask", "About your room", "Could you send us the receipt?"),
        )
        [sent] = await smtp.wait_for(r"^About your room")
        reply_to = str(sent.message["Reply-To"])
        assert reply_to == case_reply_address(settings, case_id)
        assert reply_to.startswith(f"cases+{case_id}.") and reply_to.endswith("@reply.example")
        [row] = [r for r in outbox_rows(engine, case_id) if r.kind == "reply"]
        assert sent.message["Message-ID"] == row.message_id
        await run_update(
            ts_env.client, case_id, CaseWorkflow.pause, PauseCase(OLE, "Asked for the receipt")
        )
        await eventually(lambda: case_row(engine, case_id).paused_since, what="the pause")

        # An out-of-office: recorded as automatic, the clock stays stopped.
        away = mail(
            reply_to,
            "Out of office: About your room",
            "I am away until Monday.",
            Auto_Submitted="auto-replied",
        )
        await deliver(port, away, reply_to)
        [auto] = await eventually(until(engine, case_id, "auto_reply"), what="the auto-reply")
        assert auto.summary == "Automatic reply received"
        assert "away" not in str(auto.data)
        assert case_row(engine, case_id).paused_since is not None
        assert events(engine, case_id, "customer_reply") == []

        # A bounce (a delivery status report): recorded as automatic too, resumes nothing.
        dsn = (
            "From: MAILER-DAEMON@mx.customer.example\r\n"
            f"To: {reply_to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            "Message-ID: <dsn-1@mx.customer.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
            "--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed\r\n"
            "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.customer.example\r\n\r\n"
            "Final-Recipient: rfc822; kari@example.com\r\nAction: failed\r\n"
            "Status: 5.1.1\r\n--B--\r\n"
        )

        def bounce() -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.sendmail("", [reply_to], dsn.encode())

        await asyncio.to_thread(bounce)
        await eventually(until(engine, case_id, "auto_reply", 2), what="the bounce")
        with Session(engine) as s:
            [row] = s.exec(
                select(InboundMessage).where(
                    col(InboundMessage.message_id) == "<dsn-1@mx.customer.example>"
                )
            ).all()
        assert row.kind == "bounce" and row.case_id == case_id
        assert case_row(engine, case_id).paused_since is not None

        # The customer's answer, quoting ours, with the receipt attached.
        answer = mail(
            reply_to,
            "Re: About your room",
            "Here is the receipt.\nKari\n\nOn Tue, 1 Dec 2026, Guest Recovery wrote:\n"
            "> Could you send us the receipt?\n",
            In_Reply_To=str(sent.message["Message-ID"]),
        )
        answer.add_attachment(PDF, maintype="application", subtype="pdf", filename="receipt.pdf")
        await deliver(port, answer, reply_to)
        [reply] = await eventually(until(engine, case_id, "customer_reply"), what="the answer")
        assert reply.data["text"] == "Here is the receipt.\nKari"
        assert reply.actor == "customer (email)"
        [doc_event] = await eventually(until(engine, case_id, "document"), what="the receipt")
        with Session(engine) as s:
            doc = s.get(Document, doc_event.data["document_id"])
        assert doc is not None and doc.filename == "receipt.pdf" and doc.case_id == case_id
        stored = documents.stored_path(settings.upload_dir, doc.id).read_bytes()
        assert stored != PDF  # encrypted at rest
        assert documents.load(settings.upload_dir, doc.id, key_ring(settings)) == PDF
        await eventually(
            lambda: case_row(engine, case_id).paused_since is None, what="the case resumed"
        )
        [resumed] = events(engine, case_id, "resumed")
        assert resumed.actor == "customer (email)"
        [told] = await smtp.wait_for(rf"^The customer answered on case {case_id}\b")
        assert told.rcpt_tos == ["ole@example.com"]

        # The same message again: stored once, on the timeline once.
        await deliver(port, answer, reply_to)
        with Session(engine) as s:
            same = s.exec(
                select(InboundMessage).where(
                    col(InboundMessage.message_id) == str(answer["Message-ID"])
                )
            ).all()
        assert len(same) == 1 and same[0].case_id == case_id
        assert len(events(engine, case_id, "customer_reply")) == 1

        # Nobody else lives here; a forged tag is nobody either.
        forged = reply_to.replace(case_id, "C-999999")
        for stranger in ("someone@reply.example", forged):
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                await deliver(port, mail(stranger, "Hi", "Hello"), stranger)
            assert refused.value.recipients[stranger][0] == 550


async def test_in_reply_to_threads_without_the_plus_address(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    inbound_settings: Settings,
    smtp: SmtpSink,
) -> None:
    settings = inbound_settings
    seed(engine)
    async with (
        notify_worker(ts_env, engine, settings),
        inbound_server(ts_env, engine, settings) as port,
    ):
        case_id = await open_test_case(ts_env, engine, settings)
        await run_update(
            ts_env.client,
            case_id,
            CaseWorkflow.send_reply,
            SendReply(OLE, "ask", "Your stay", "Which room were you in?"),
        )
        [sent] = await smtp.wait_for(r"^Your stay")
        bare = "cases@reply.example"
        answer = mail(
            bare,
            "Re: Your stay",
            "Room 412.\n\n> Which room were you in?",
            In_Reply_To="<unknown@elsewhere.example>",
            References=f"<older@elsewhere.example> {sent.message['Message-ID']}",
        )
        await deliver(port, answer, bare)
        [reply] = await eventually(until(engine, case_id, "customer_reply"), what="the answer")
        assert reply.data["text"] == "Room 412."
        # Without a reference to one of ours, the bare address threads nothing.
        stray = mail(bare, "Hello", "Anyone there?")
        await deliver(port, stray, bare)

        def stray_row() -> InboundMessage | None:
            with Session(engine) as s:
                return s.exec(
                    select(InboundMessage).where(
                        col(InboundMessage.message_id) == str(stray["Message-ID"])
                    )
                ).first()

        row = await eventually(stray_row, what="the stray message's row")
        assert row.outcome == "unmatched" and row.case_id is None


async def test_mail_to_the_intake_address_opens_a_case_for_the_known_customer(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    inbound_settings: Settings,
    smtp: SmtpSink,
) -> None:
    settings = inbound_settings
    seed(engine, intake={"email": INTAKE, "unit": "4723"})
    async with (
        notify_worker(ts_env, engine, settings),
        inbound_server(ts_env, engine, settings) as port,
    ):
        first = await open_test_case(ts_env, engine, settings)
        known = case_row(engine, first).customer_id
        assert known is not None
        msg = mail(INTAKE, "Broken shower", "The shower in room 412 is broken.\n-- \nKari")
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="booking.pdf")
        await deliver(port, msg, INTAKE)

        def opened() -> Case | None:
            with Session(engine) as s:
                return s.exec(
                    select(Case).where(col(Case.id) != first, col(Case.channel) == "email")
                ).first()

        case = await eventually(opened, what="a case from the intake mailbox")
        assert case.customer_id == known
        assert case.contact_email == "kari@example.com"
        assert case.reason == "Broken shower"
        assert case.verbatim == "The shower in room 412 is broken."
        [attached] = await eventually(until(engine, case.id, "document"), what="the attachment")
        assert attached.data["filename"] == "booking.pdf"
        assert events(engine, case.id, "customer_reply") == []
        [ack] = await smtp.wait_for(r"^We have received your message")
        assert case.id in ack.subject and ack.rcpt_tos == ["kari@example.com"]
        assert str(ack.message["Reply-To"]) == case_reply_address(settings, case.id)
        # An automatic message to the intake address opens nothing.
        away = mail(INTAKE, "Auto: away", "Away", Auto_Submitted="auto-replied")
        await deliver(port, away, INTAKE)
        with Session(engine) as s:
            row = await eventually(
                lambda: (
                    Session(engine)
                    .exec(
                        select(InboundMessage).where(
                            col(InboundMessage.message_id) == str(away["Message-ID"])
                        )
                    )
                    .first()
                ),
                what="the automatic message's row",
            )
            assert row.kind == "auto_reply" and row.outcome == "unmatched"
            assert len(s.exec(select(Case)).all()) == 2


async def test_a_message_above_the_size_limit_is_refused(
    ts_env: WorkflowEnvironment, engine: Engine, inbound_settings: Settings
) -> None:
    settings = inbound_settings.model_copy(update={"inbound_max_bytes": 20_000})
    seed(engine, intake={"email": INTAKE, "unit": "4723"})
    async with inbound_server(ts_env, engine, settings) as port:
        big = mail(INTAKE, "Photos", "See attached")
        big.add_attachment(PDF + b"0" * 30_000, maintype="application", subtype="pdf")
        with pytest.raises(smtplib.SMTPResponseException) as refused:
            await deliver(port, big, INTAKE)
        assert refused.value.smtp_code == 552
    with Session(engine) as s:
        assert s.exec(select(InboundMessage)).all() == []


def inbound_row(engine: Engine, message_id: str) -> Callable[[], InboundMessage | None]:
    def check() -> InboundMessage | None:
        with Session(engine) as s:
            row = s.exec(
                select(InboundMessage).where(col(InboundMessage.message_id) == message_id)
            ).first()
        return row if row is not None and row.outcome != "received" else None

    return check


def notices_of(engine: Engine, user_id: str, case_id: str) -> list[Notice]:
    with Session(engine) as s:
        rows = s.exec(
            select(Notice).where(
                col(Notice.user_id) == user_id,
                col(Notice.case_id) == case_id,
                col(Notice.kind) == "customer_reply",
            )
        ).all()
    return list(rows)


def late_shown(engine: Engine, case_id: str, viewer: Viewer, settings: Settings) -> list[Any]:
    """What the case page shows from SQL: replies the timeline does not carry."""
    with Session(engine) as s:
        return list(case_context(s, viewer, case_id, settings)["late_replies"])


async def test_an_answer_after_the_workflow_completed_is_kept_and_the_owner_told(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    inbound_settings: Settings,
    smtp: SmtpSink,
) -> None:
    settings = inbound_settings
    seed(engine)
    async with (
        notify_worker(ts_env, engine, settings),
        inbound_server(ts_env, engine, settings) as port,
    ):
        case_id = await open_test_case(ts_env, engine, settings)
        await run_update(
            ts_env.client,
            case_id,
            CaseWorkflow.close,
            CloseCase(OLE, ClosingStatus.UNRESOLVED, ["staff"], "No answer"),
        )
        await ts_env.client.get_workflow_handle_for(CaseWorkflow.run, case_id).result()
        reply_to = case_reply_address(settings, case_id)
        assert reply_to is not None
        late = mail(reply_to, "Re: your case", "It is still broken.\n\n> We closed it")
        late.add_attachment(PDF, maintype="application", subtype="pdf", filename="photo.pdf")
        await deliver(port, late, reply_to)
        row = await eventually(inbound_row(engine, str(late["Message-ID"])), what="the row")
        assert (row.outcome, row.case_id, row.text) == (
            "after_close",
            case_id,
            "It is still broken.",
        )
        [told] = await smtp.wait_for(rf"^The customer answered on case {case_id}\b.*after")
        assert told.rcpt_tos == ["ole@example.com"]
        assert "after the case closed" in told.part("plain")
        [notice] = notices_of(engine, "ole", case_id)
        assert notice.kind == "customer_reply"
        viewer = Viewer("ole", "Ole Owner", Role.AGENT)
        [shown] = late_shown(engine, case_id, viewer, settings)
        assert (shown.text, shown.after_close) == ("It is still broken.", True)
        assert [d.filename for d in shown.documents] == ["photo.pdf"]
        # The customer's export carries it (GDPR), with the attachment's name.
        customer_id = case_row(engine, case_id).customer_id
        assert customer_id is not None
        exported = export_customer(engine, settings, customer_id)
        assert exported is not None
        [sent] = exported["inbound_messages"]
        assert (sent["text"], sent["attachments"]) == ("It is still broken.", ["photo.pdf"])


async def test_an_answer_during_the_survey_says_after_close_and_reaches_the_manager(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    inbound_settings: Settings,
    smtp: SmtpSink,
) -> None:
    """The owner has left: the unit's manager is told instead."""
    settings = inbound_settings
    seed(engine)
    async with (
        notify_worker(ts_env, engine, settings),
        inbound_server(ts_env, engine, settings) as port,
    ):
        case_id = await open_test_case(ts_env, engine, settings)
        await run_update(
            ts_env.client,
            case_id,
            CaseWorkflow.close,
            CloseCase(OLE, ClosingStatus.RESOLVED, ["staff"], "Refunded a night"),
        )
        await eventually(lambda: case_row(engine, case_id).status == "closed", what="closed")
        with Session(engine) as s:
            ole = s.get(User, "ole")
            assert ole is not None
            ole.active = False
            s.add(ole)
            s.commit()
        reply_to = case_reply_address(settings, case_id)
        assert reply_to is not None
        late = mail(reply_to, "Re: your case", "Thanks, but one more thing.")
        await deliver(port, late, reply_to)
        row = await eventually(inbound_row(engine, str(late["Message-ID"])), what="the row")
        assert (row.outcome, row.case_id) == ("after_close", case_id)
        [told] = await smtp.wait_for(rf"^The customer answered on case {case_id}\b.*after")
        assert told.rcpt_tos == ["mia@example.com"]
        assert len(notices_of(engine, "mia", case_id)) == 1
        assert notices_of(engine, "ole", case_id) == []
        viewer = Viewer("mia", "Mia Manager", Role.MANAGER, ("4723",))
        [shown] = late_shown(engine, case_id, viewer, settings)
        assert shown.text == "Thanks, but one more thing."
        # Reopened while the survey is out: the workflow takes the queued answer onto the
        # timeline, the page stops showing it from SQL, and nobody is told twice.
        mia = Actor("mia", Role.MANAGER, "Mia Manager")
        await reopen_case(
            ts_env.client, settings, case_id, mia, "The guest wrote again", manages_unit=True
        )
        [reply] = await eventually(until(engine, case_id, "customer_reply"), what="the answer")
        assert reply.data["text"] == "Thanks, but one more thing."
        assert late_shown(engine, case_id, viewer, settings) == []
        assert len(notices_of(engine, "mia", case_id)) == 1
