"""The change log behind live pages: every write that changes what a page shows appends to it in
its own transaction, once, and on PostgreSQL in commit order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from activities.notifications import Notification, NotificationActivities
from activities.projection import ProjectRequest, apply_projection
from core.settings import Settings
from domain.case import CaseView, TimelineEvent
from domain.vocabulary import CaseStatus, Priority
from models.changes import CaseChange, record_notices
from models.db import make_engine
from services.notices import mark_seen
from tests.conftest import migrated_db
from tests.factories import seed
from tests.live import eventually

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def project(engine: Engine, case_id: str, version: int, note: str, owner: str = "ole") -> None:
    """What the worker's projection activity writes: the case at `version` and one event."""
    unit = "9000" if owner == "alex" else "4723"
    view = CaseView(
        case_id=case_id,
        version=version,
        program_id="recovery",
        unit_id=unit,
        channel="email",
        customer_id=None,
        customer_name="Live Liv",
        status=CaseStatus.IN_PROGRESS,
        owner_id=owner,
        watchers=[],
        priority=Priority.NORMAL,
        category="",
        reason="Cold room",
        verbatim="",
        external_ref=None,
        created_at=T0,
        open_due_at=T0 + timedelta(days=1),
        resolve_due_at=T0 + timedelta(days=3),
    )
    event = TimelineEvent(version, T0 + timedelta(minutes=version), "note", owner, note)
    apply_projection(engine, ProjectRequest(view, [event]))


def notify(engine: Engine, case_id: str, *user_ids: str) -> None:
    """A notice written for these users (what the notify activity appends)."""
    with engine.begin() as conn:
        record_notices(conn, case_id, user_ids)


def change_rows(engine: Engine) -> list[tuple[int, str, str | None, int | None]]:
    with Session(engine) as session:
        rows = session.exec(
            select(
                CaseChange.seq, CaseChange.kind, CaseChange.case_id, CaseChange.version
            ).order_by(col(CaseChange.seq))
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_retried_projection_logs_no_second_change(any_engine: Engine) -> None:
    project(any_engine, "C-000501", 1, "once")
    project(any_engine, "C-000501", 1, "once")  # the retried activity
    assert change_rows(any_engine) == [(1, "case", "C-000501", 1)]


def test_notices_and_marking_them_seen_are_logged(any_engine: Engine) -> None:
    seed(any_engine)
    project(any_engine, "C-000701", 1, "opened")
    notifications = NotificationActivities(any_engine, Settings(public_base_url="http://x"))
    alert = Notification("C-000701", "alert:1", "alert", ["ole"], ["mia"])
    notifications.enqueue(alert)
    with Session(any_engine) as session:
        assert mark_seen(session, "ole", 10**9) == 1
        assert mark_seen(session, "ole", 10**9) == 0  # nothing new: nothing logged
    with Session(any_engine) as session:
        rows = session.exec(
            select(CaseChange.kind, CaseChange.case_id, CaseChange.user_id).order_by(
                col(CaseChange.seq)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("case", "C-000701", None),
        ("notice", "C-000701", "ole"),
        ("notice", "C-000701", "mia"),
        ("notice", None, "ole"),
    ]


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    yield from migrated_db("postgresql", tmp_path, "caseloop_live")


async def test_postgresql_hands_out_seq_in_commit_order(pg_url: str) -> None:
    """A writer that took seq 10 but commits after one with 11 would let a reader skip 10: the
    second writer waits for the first to commit instead. (SQLite has one writer at a time.)"""
    engine = make_engine(pg_url)
    try:
        first = engine.connect()
        tx = first.begin()
        record_notices(first, "C-000601", ["ole"])
        second_done = threading.Event()

        def second() -> None:
            notify(engine, "C-000602", "mia")
            second_done.set()

        thread = threading.Thread(target=second)
        thread.start()

        waiting_sql = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        )

        def waiting() -> bool:
            with engine.connect() as conn:
                return bool(conn.execute(waiting_sql).scalar())

        await eventually(waiting, what="the second writer waiting for the first")
        assert not second_done.is_set() and change_rows(engine) == []
        tx.commit()
        first.close()
        await asyncio.to_thread(thread.join, 30)
        assert second_done.is_set()
        assert [r[2] for r in change_rows(engine)] == ["C-000601", "C-000602"]
    finally:
        engine.dispose()
