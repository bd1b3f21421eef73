"""Retention: a program's cases are anonymised `retention_months` after they closed.

The activity on both databases (which cases, what stays, once only), the workflow on the
time-skipping server, the daily schedule created and updated idempotently on the dev server.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.erasure import RetentionActivities, anonymise_expired
from core.settings import Settings
from domain.erasure import ERASED, retention_cutoff, scrub_event
from domain.program import ConfigDoc
from models.case import Case, CaseEvent, Customer, CustomerErasure, Outbox
from models.config import Program
from services.configuration import export_config
from services.retention import SCHEDULE_ID, ensure_retention_schedule
from tests.factories import config, seed
from workflows.retention import RetentionWorkflow

FIXED = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
# The workflow tests run on the server's clock: the cases are placed around the real now.
NOW = datetime.now(UTC).replace(microsecond=0)


def test_cutoff_is_calendar_months_back() -> None:
    assert retention_cutoff(FIXED, 24) == datetime(2024, 12, 3, 12, 0, tzinfo=UTC)
    assert retention_cutoff(FIXED, 12 * 100) == datetime(1926, 12, 3, 12, 0, tzinfo=UTC)
    # 31 March minus one month: the last day of February.
    assert retention_cutoff(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert retention_cutoff(datetime(2026, 1, 15, tzinfo=UTC), 1) == datetime(
        2025, 12, 15, tzinfo=UTC
    )
    with pytest.raises(ValueError):
        retention_cutoff(FIXED, 0)


def test_events_keep_their_facts_not_their_words() -> None:
    summary, data = scrub_event("note", "Ann called about her passport", {"text": "passport"})
    assert "passport" not in summary and data == {}
    summary, data = scrub_event(
        "closed",
        "Closed as resolved; root causes: staff",
        {"closing_status": "resolved", "root_causes": ["staff"], "final_note": "Refunded Ann"},
    )
    assert summary == "Closed as resolved; root causes: staff" and "final_note" not in data
    summary, data = scrub_event(
        "contact_attempt",
        "Contact attempt by phone: reached — Ann's husband answered",
        {"method": "phone", "outcome": "reached", "note": "Ann's husband answered"},
    )
    assert "Ann" not in summary and data == {"method": "phone", "outcome": "reached"}
    # An unknown kind keeps nothing of what it said.
    assert scrub_event("new_kind", "Ann", {"who": "Ann"}) == ("Event ([erased])", {})


def test_retention_months_is_part_of_the_program_config(engine: Engine) -> None:
    seed(engine, retention_months=24)
    with Session(engine) as session:
        assert export_config(session).programs[0].retention_months == 24
    with pytest.raises(ValueError):
        config(retention_months=0)
    assert ConfigDoc.model_validate(config().model_dump()).programs[0].retention_months is None


def _case(session: Session, case_id: str, customer_id: int, closed: datetime | None) -> None:
    session.add(
        Case(
            id=case_id,
            program_id="recovery",
            unit_id="4723",
            channel="email",
            customer_id=customer_id,
            customer_name=f"Berit Blom {case_id}",
            contact_email="berit@example.org",
            owner_id="ole",
            status="closed" if closed else "in_progress",
            is_open=closed is None,
            closing_status="resolved" if closed else None,
            category="Housekeeping",
            root_causes=["staff"],
            verbatim=f"Towels missing in {case_id}",
            final_note="Brought towels to Berit" if closed else "",
            created_at=(closed or NOW) - timedelta(days=2),
            closed_at=closed,
        )
    )
    session.add(
        CaseEvent(
            case_id=case_id,
            seq=1,
            at=NOW,
            kind="note",
            actor="ole",
            summary="Berit wants towels",
            data={"text": "Berit wants towels"},
        )
    )
    session.add(
        Outbox(
            case_id=case_id,
            event_key="reply:2",
            kind="reply",
            to_addrs=["berit@example.org"],
            subject="Your towels, Berit",
            body_text="Dear Berit",
        )
    )


def _seed_cases(engine: Engine) -> None:
    seed(engine, retention_months=24)
    with Session(engine) as session:
        customer = Customer(name="Berit Blom", email="berit@example.org")
        session.add(customer)
        session.flush()
        assert customer.id is not None
        _case(session, "C-000001", customer.id, NOW - timedelta(days=3 * 365))  # expired
        _case(session, "C-000002", customer.id, NOW - timedelta(days=365))  # kept
        _case(session, "C-000003", customer.id, None)  # open
        session.commit()


def test_expired_cases_are_anonymised_once(any_engine: Engine, tmp_path: Path) -> None:
    _seed_cases(any_engine)
    first = anonymise_expired(any_engine, tmp_path, NOW, 200)
    assert (first.anonymised, first.more, first.programs) == (1, False, {"recovery": 1})
    with Session(any_engine) as session:
        old, newer, open_ = (session.get(Case, f"C-00000{n}") for n in (1, 2, 3))
        assert old is not None and newer is not None and open_ is not None
        assert old.customer_name == ERASED and old.verbatim == old.final_note == ""
        assert old.contact_email is None
        # Statistics stay.
        assert (old.status, old.closing_status, old.root_causes) == (
            "closed",
            "resolved",
            ["staff"],
        )
        assert newer.customer_name.startswith("Berit") and open_.verbatim.startswith("Towels")
        events = {e.case_id: e for e in session.exec(select(CaseEvent))}
        assert "Berit" not in events["C-000001"].summary + repr(events["C-000001"].data)
        assert "Berit" in events["C-000002"].summary
        mails = {m.case_id: m for m in session.exec(select(Outbox))}
        assert mails["C-000001"].to_addrs == [] and mails["C-000001"].body_text == ""
        assert mails["C-000002"].body_text == "Dear Berit"
        # The customer record stays: their newer cases are theirs still.
        (customer,) = session.exec(select(Customer)).all()
        assert customer.email == "berit@example.org"
        (record,) = session.exec(select(CustomerErasure)).all()
        assert (record.key, record.reason, record.case_ids) == (
            "retention:C-000001",
            "retention",
            ["C-000001"],
        )
        assert record.counts["cases"] == 1 and record.counts["messages"] == 1
    again = anonymise_expired(any_engine, tmp_path, NOW, 200)
    assert again.anonymised == 0
    # A year and more later the second case is past its retention too.
    later = anonymise_expired(any_engine, tmp_path, NOW + timedelta(days=400), 200)
    assert later.anonymised == 1


def test_no_retention_keeps_everything(engine: Engine, tmp_path: Path) -> None:
    _seed_cases(engine)
    with Session(engine) as session:
        program = session.get(Program, "recovery")
        assert program is not None
        program.retention_months = None
        session.add(program)
        session.commit()
    assert anonymise_expired(engine, tmp_path, NOW + timedelta(days=3650), 200).anonymised == 0


def test_batches_tell_the_workflow_to_ask_again(engine: Engine, tmp_path: Path) -> None:
    _seed_cases(engine)
    later = NOW + timedelta(days=400)
    first = anonymise_expired(engine, tmp_path, later, 1)
    assert (first.anonymised, first.more) == (1, True)
    second = anonymise_expired(engine, tmp_path, later, 1)
    assert (second.anonymised, second.more) == (1, True)
    assert anonymise_expired(engine, tmp_path, later, 1).anonymised == 0


async def test_retention_workflow_runs_the_batches(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    _seed_cases(engine)
    async with Worker(
        ts_env.client,
        task_queue=settings.task_queue,
        workflows=[RetentionWorkflow],
        activities=[RetentionActivities(engine, settings).anonymise_expired],
        activity_executor=ThreadPoolExecutor(2),
    ):
        result = await ts_env.client.execute_workflow(
            RetentionWorkflow.run,
            id=f"retention-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue,
        )
    # The server's clock is the wall clock here: only the case closed three years ago.
    assert result.anonymised >= 1 and result.batches == 1
    with Session(engine) as session:
        erased = session.exec(select(Case.id).where(col(Case.customer_name) == ERASED)).all()
    assert "C-000001" in erased and "C-000003" not in erased


async def test_the_schedule_is_created_then_updated(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    from tests.api.test_gdpr import own_namespace

    client: Client = await own_namespace(dev_env)
    assert await ensure_retention_schedule(client, settings) == "created"
    moved = settings.model_copy(update={"task_queue": "elsewhere"})
    assert await ensure_retention_schedule(client, moved) == "updated"
    described = await client.get_schedule_handle(SCHEDULE_ID).describe()
    action = described.schedule.action
    assert getattr(action, "workflow", None) == "RetentionWorkflow"
    assert getattr(action, "task_queue", None) == "elsewhere"
    spec = described.schedule.spec  # the cron is kept as a calendar: 03:15 every day
    assert [(c.hour[0].start, c.minute[0].start) for c in spec.calendars] == [(3, 15)]
    await client.get_schedule_handle(SCHEDULE_ID).delete()


async def test_the_schedule_runs_the_retention_through_the_worker(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    """Schedule -> RetentionWorkflow -> activity, on the worker `worker.py` builds."""
    from tests.api.test_gdpr import own_namespace
    from tests.live import eventually
    from worker import build_worker

    _seed_cases(engine)
    client: Client = await own_namespace(dev_env)
    await ensure_retention_schedule(client, settings)
    handle = client.get_schedule_handle(SCHEDULE_ID)
    async with build_worker(client, engine, settings):
        await handle.trigger()

        async def anonymised() -> bool:
            with Session(engine) as session:
                case = session.get(Case, "C-000001")
                return case is not None and case.customer_name == ERASED

        await eventually(anonymised, within=30, what="the expired case anonymised", every=0.2)
    with Session(engine) as session:
        kept = session.get(Case, "C-000002")
        assert kept is not None and kept.customer_name.startswith("Berit")
    await handle.delete()
