"""Email over a real SMTP server (aiosmtpd), from cases on Temporal's time-skipping server.

The worker is the real one (build_worker): the local `notify` activity writes the outbox row,
the regular `deliver` activity sends it; nothing is mocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from markupsafe import escape
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.mail import MailActivities, message_id
from core.settings import Settings
from domain.case import Actor
from domain.mail.format import local_time
from domain.vocabulary import ClosingStatus
from services.case_actions import run_update
from tests.factories import case_row, seed
from tests.live import eventually
from tests.notify.conftest import (
    CUSTOMER,
    TRANSACTION,
    SmtpSink,
    notify_worker,
    open_test_case,
    outbox_rows,
)
from workflows.case import CaseWorkflow
from workflows.messages import AddNote, CloseCase, Reassign

OSLO = "Europe/Oslo"


@asynccontextmanager
async def alerted_case(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, smtp: SmtpSink, **program: Any
) -> AsyncIterator[str]:
    """Seed the program, run the worker, open a case and wait for its alert email."""
    seed(engine, **program)
    async with notify_worker(env, engine, settings):
        case_id = await open_test_case(env, engine, settings)
        await smtp.wait_for(rf"^New case {case_id}\b")
        yield case_id


async def close_unresolved(env: WorkflowEnvironment, case_id: str) -> WorkflowHandle[Any, Any]:
    """The owner closes the case unresolved; returns once the workflow has completed."""
    await run_update(
        env.client,
        case_id,
        CaseWorkflow.close,
        CloseCase(Actor("ole"), ClosingStatus.UNRESOLVED, ["staff"], "No answer"),
    )
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, case_id)
    await handle.result()
    return handle


async def test_alert_email_carries_every_field_owner_to_watchers_cc(
    ts_env: WorkflowEnvironment, engine: Engine, mail_settings: Settings, smtp: SmtpSink
) -> None:
    seed(engine)
    async with notify_worker(ts_env, engine, mail_settings):
        case_id = await open_test_case(ts_env, engine, mail_settings)
        [mail] = await smtp.wait_for(rf"^New case {case_id}\b")

        def alert_row() -> Any:
            rows = [r for r in outbox_rows(engine, case_id) if r.kind == "alert"]
            return rows[0] if rows and rows[0].status == "sent" else None

        row = await eventually(alert_row, what="the alert row marked sent")
    case = case_row(engine, case_id)
    msg = mail.message

    # Envelope and headers: owner in To, every watcher (full and limited) in Cc.
    assert mail.rcpt_tos == ["ole@example.com", "mia@example.com", "fred@example.com"]
    assert msg["To"] == "ole@example.com"
    assert msg["Cc"] == "mia@example.com, fred@example.com"
    assert msg["From"] == "Caseloop <caseloop@example.com>"
    assert msg["Message-ID"] == message_id(case_id, "alert", mail_settings.mail_from)
    # Subject: case id and unit.
    assert case_id in mail.subject and "Oslo Harbour" in mail.subject and "4723" in mail.subject
    assert msg.get_content_type() == "multipart/alternative"

    open_by = local_time(case.open_due_at, OSLO)
    resolve_by = local_time(case.resolve_due_at, OSLO)
    assert open_by.endswith((" CET", " CEST")) and open_by != resolve_by
    link = f"http://testserver/cases/{case_id}"
    text, body = mail.part("plain"), mail.part("html")
    expected = {
        "customer name": CUSTOMER["name"],
        "customer email": CUSTOMER["email"],
        "customer phone": CUSTOMER["phone"],
        "transaction date": TRANSACTION["date"],
        "transaction room": TRANSACTION["room"],
        "transaction booking": TRANSACTION["booking"],
        "open-by deadline (unit time zone)": open_by,
        "resolve-by deadline (unit time zone)": resolve_by,
        "why the alert was generated": "Room was not cleaned on arrival",
        "verbatim": 'The room smelled of smoke & nobody came. <b>"Unacceptable"</b>',
        "link to the case": link,
        "unit time zone named": OSLO,
    }
    for what, value in expected.items():
        assert value in text, f"plain-text part lacks the {what}: {value!r}"
        assert str(escape(value)) in body, f"HTML part lacks the {what}: {value!r}"
    assert "Transaction" in text and "Date: 2026-11-20" in text and "Room: 412" in text
    assert f'href="{link}"' in body
    # The customer's words are escaped in HTML, never markup.
    assert "<b>" not in body

    assert (row.attempts, row.sent_at is not None) == (1, True)


async def test_escalation_notice_exactly_once_when_delivery_is_retried(
    ts_env: WorkflowEnvironment, engine: Engine, mail_settings: Settings, smtp: SmtpSink
) -> None:
    async with alerted_case(ts_env, engine, mail_settings, smtp) as case_id:
        handle = ts_env.client.get_workflow_handle_for(CaseWorkflow.run, case_id)
        await handle.execute_update(CaseWorkflow.add_note, AddNote(Actor("ole"), "On it"))
        # The first DATA of the escalation notice is answered 451: the sender must retry.
        smtp.fail_next(rf"^Escalated to you: case {case_id}\b")
        await ts_env.sleep(timedelta(days=1, minutes=1))
        await smtp.wait_for(rf"^Escalated to you: case {case_id}\b")

        def sent() -> bool:
            rows = [r for r in outbox_rows(engine, case_id) if r.kind == "escalation"]
            return bool(rows) and rows[0].status == "sent"

        await eventually(sent, what="escalation row marked sent")
        await asyncio.sleep(2.5)  # room for a second copy, if there were going to be one
        history = await handle.fetch_history()
    notices = smtp.with_subject(rf"^Escalated to you: case {case_id}\b")
    assert len(smtp.refused) == 1 and smtp.refused[0] == notices[0].subject
    assert len(notices) == 1, [m.subject for m in notices]
    [notice] = notices
    assert notice.rcpt_tos[0] == "mia@example.com" and notice.message["To"] == "mia@example.com"
    assert notice.message["Message-ID"] == message_id(
        case_id, f"resolve_due:{1}", mail_settings.mail_from
    )
    text = notice.part("plain")
    # The late owner and the history so far.
    assert "Ole Owner <ole@example.com>" in text
    assert "History so far" in text and "On it" in text and "Case opened" in text
    [row] = [r for r in outbox_rows(engine, case_id) if r.kind == "escalation"]
    assert (row.status, row.attempts) == ("sent", 2)
    assert row.last_error.startswith("451")
    # Temporal retried the same activity (one schedule, two attempts).
    scheduled = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "deliver"
    ]
    started = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id
        in {s.event_id for s in scheduled}
        and e.activity_task_started_event_attributes.attempt == 2
    ]
    assert started, "the escalation delivery was not retried by Temporal"
    # A repeated delivery (retried activity, replayed workflow) finds the row sent: no send.
    before = len(smtp.messages)
    assert MailActivities(engine, mail_settings).deliver_row(row.id or 0) == "already sent"
    assert len(smtp.messages) == before


async def test_smtp_down_for_a_while_then_everything_goes_out_once(
    ts_env: WorkflowEnvironment, engine: Engine, mail_settings: Settings, smtp: SmtpSink
) -> None:
    seed(engine)
    smtp.stop()
    async with notify_worker(ts_env, engine, mail_settings):
        ids = [await open_test_case(ts_env, engine, mail_settings) for _ in range(3)]

        def all_failed_once() -> bool:
            rows = [r for r in outbox_rows(engine) if r.case_id in ids]
            return len(rows) == 3 and all(r.attempts >= 1 and r.status == "pending" for r in rows)

        await eventually(all_failed_once, what="a failed attempt on every message")
        assert not smtp.messages
        errors = {r.last_error for r in outbox_rows(engine) if r.case_id in ids}
        assert all("Connection refused" in e or "ConnectionRefused" in e for e in errors), errors
        await asyncio.sleep(1.5)  # still down for a while
        smtp.start()
        await smtp.wait_for(r"^New case ", count=3, within=60)

        def all_sent() -> bool:
            rows = [r for r in outbox_rows(engine) if r.case_id in ids]
            return all(r.status == "sent" for r in rows)

        await eventually(all_sent, what="every row marked sent")
        await asyncio.sleep(2)
    alerts = smtp.with_subject(r"^New case ")
    assert sorted(str(m.message["Message-ID"]) for m in alerts) == sorted(
        message_id(i, "alert", mail_settings.mail_from) for i in ids
    ), "a message was lost or doubled"
    assert all(r.attempts >= 2 for r in outbox_rows(engine) if r.case_id in ids)


async def test_without_smtp_messages_stay_pending_and_no_delivery_is_started(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    assert settings.smtp_host is None
    seed(engine)
    async with notify_worker(ts_env, engine, settings):
        case_id = await open_test_case(ts_env, engine, settings)
        handle = await close_unresolved(ts_env, case_id)
        history = await handle.fetch_history()
    rows = outbox_rows(engine, case_id)
    assert {r.kind for r in rows} == {"alert", "closing"}
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)
    assert all(r.body_text and r.body_html for r in rows)
    assert not any(
        e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in history.events
    ), "no SMTP configured: the workflow must not schedule deliveries"


async def test_workflow_completes_only_after_its_deliveries(
    ts_env: WorkflowEnvironment, engine: Engine, mail_settings: Settings, smtp: SmtpSink
) -> None:
    async with alerted_case(
        ts_env, engine, mail_settings, smtp, notifications={"notify_watchers_on_close": True}
    ) as case_id:
        smtp.fail_next(rf"^Closed \(Unresolved\): case {case_id}\b", times=2)
        await close_unresolved(ts_env, case_id)
    # The closing summary (to the watchers) was retried and sent before the case completed.
    [summary] = smtp.with_subject(rf"^Closed \(Unresolved\): case {case_id}\b")
    assert summary.rcpt_tos == ["mia@example.com", "fred@example.com"]
    text = summary.part("plain")
    assert "Root causes:        staff" in text and "No answer" in text
    [row] = [r for r in outbox_rows(engine, case_id) if r.kind == "closing"]
    assert (row.status, row.attempts) == ("sent", 3)


async def test_closing_summary_is_a_program_setting(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine, notifications={"notify_watchers_on_close": False})
    async with notify_worker(ts_env, engine, settings):
        case_id = await open_test_case(ts_env, engine, settings)
        await close_unresolved(ts_env, case_id)
    assert {r.kind for r in outbox_rows(engine, case_id)} == {"alert"}


async def test_warning_overdue_and_reassignment_notices(
    ts_env: WorkflowEnvironment, engine: Engine, mail_settings: Settings, smtp: SmtpSink
) -> None:
    async with alerted_case(ts_env, engine, mail_settings, smtp) as case_id:
        await ts_env.sleep(timedelta(hours=4, minutes=1))  # warning at 3 h, overdue at 4 h
        [warning] = await smtp.wait_for(rf"^Deadline approaching: case {case_id}\b")
        [overdue] = await smtp.wait_for(rf"^Overdue: case {case_id}\b")
        await run_update(
            ts_env.client,
            case_id,
            CaseWorkflow.reassign,
            Reassign(Actor("mia"), "alex", "Alex handles housekeeping complaints"),
        )
        [handover] = await smtp.wait_for(rf"^Case {case_id} at Oslo Harbour has been assigned")
    case = case_row(engine, case_id)
    assert warning.rcpt_tos == ["ole@example.com"]
    assert "first contact deadline" in warning.part("plain")
    assert local_time(case.open_due_at, OSLO) in warning.part("plain")
    assert overdue.rcpt_tos == ["ole@example.com", "mia@example.com"]
    assert "missed its first contact deadline" in overdue.subject + overdue.part("plain")
    assert handover.message["To"] == "alex@example.com"
    assert handover.message["Cc"] == "ole@example.com"
    text = handover.part("plain")
    assert "Mia Manager reassigned case" in text and "from Ole Owner to you" in text
    assert "Reason: Alex handles housekeeping complaints" in text
    assert local_time(case.resolve_due_at, OSLO) in text
