"""A step that fails for good (text PostgreSQL refuses) flags the case instead of retrying forever.

The poison goes straight to the workflow with the Temporal client, past the API's edge check:
this is the defence behind it. Real dev server, real worker, real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.projection import ProjectionActivities, ProjectRequest
from core.settings import Settings
from domain.case import Actor
from models.case import Case, CaseEvent, CaseFailure, Notice, Outbox
from models.db import make_engine
from tests.conftest import migrated_db
from tests.factories import case_input, case_row, running_worker, seed, start_case
from tests.live import eventually
from workflows.case import CaseWorkflow
from workflows.messages import AddNote, SendReply, initial_view

OLE = Actor("ole")
POISON = "Called the guest\x00"  # PostgreSQL text cannot hold NUL


@pytest.fixture
def pg_engine(tmp_path: Path) -> Iterator[Engine]:
    for url in migrated_db("postgresql", tmp_path, "caseloop_poison"):
        engine = make_engine(url)
        seed(engine)
        yield engine
        engine.dispose()


def _settings(engine: Engine, tmp_path: Path) -> Settings:
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        task_queue=f"caseloop-poison-{uuid.uuid4().hex[:8]}",
        upload_dir=tmp_path / "uploads",
        public_base_url="http://testserver",
    )


def failures(engine: Engine, case_id: str) -> dict[str, CaseFailure]:
    with Session(engine) as s:
        rows = s.exec(select(CaseFailure).where(col(CaseFailure.case_id) == case_id)).all()
        return {r.step: r for r in rows}


def admin_notices(engine: Engine, case_id: str) -> list[Notice]:
    with Session(engine) as s:
        stmt = select(Notice).where(col(Notice.case_id) == case_id, col(Notice.kind) == "failure")
        return list(s.exec(stmt).all())


async def failed_markers(handle: Any) -> int:
    """Local-activity markers that hold a failure: one per attempt the workflow saw fail."""
    history = await handle.fetch_history()
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.HasField("failure")
    )


async def test_a_poisoned_note_flags_the_case_once_and_a_later_projection_clears_it(
    dev_env: WorkflowEnvironment, pg_engine: Engine, tmp_path: Path
) -> None:
    settings = _settings(pg_engine, tmp_path)
    case_id = f"P-{uuid.uuid4().hex[:8]}"
    async with running_worker(dev_env.client, pg_engine, settings):
        handle = await start_case(dev_env, pg_engine, settings, case_id)
        await eventually(lambda: case_row(pg_engine, case_id).version >= 1, what="projected")
        # Before the fix the update waited on a projection retried forever.
        view = await asyncio.wait_for(
            handle.execute_update(CaseWorkflow.add_note, AddNote(OLE, POISON)), timeout=15
        )
        assert view.version == 2  # the workflow holds the note
        flag = failures(pg_engine, case_id)["projection"]
        assert (flag.version, flag.error_type, flag.failures) == (2, "DataError", 1)
        assert case_row(pg_engine, case_id).version == 1, "the read model is behind"
        notices = admin_notices(pg_engine, case_id)
        assert [n.user_id for n in notices] == ["root"]  # every active admin: one here
        assert "DataError" in notices[0].subject and "\x00" not in notices[0].subject
        # No retry loop: one failed attempt, and the history stands still.
        assert await failed_markers(handle) == 1
        length = len((await handle.fetch_history()).events)
        await asyncio.sleep(3)
        assert len((await handle.fetch_history()).events) == length
        # The case goes on: the next action projects, and the flag is gone.
        view = await asyncio.wait_for(
            handle.execute_update(CaseWorkflow.add_note, AddNote(OLE, "Called again")), timeout=15
        )
        assert case_row(pg_engine, case_id).version == view.version == 3
        assert failures(pg_engine, case_id) == {}
        with Session(pg_engine) as s:
            kinds = s.exec(select(CaseEvent.kind).where(col(CaseEvent.case_id) == case_id)).all()
        assert sorted(kinds) == ["note", "opened"]  # the poisoned event lives in history only


async def test_a_poisoned_reply_flags_projection_and_notification_and_the_case_goes_on(
    dev_env: WorkflowEnvironment, pg_engine: Engine, tmp_path: Path
) -> None:
    settings = _settings(pg_engine, tmp_path)
    case_id = f"P-{uuid.uuid4().hex[:8]}"
    async with running_worker(dev_env.client, pg_engine, settings):
        handle = await start_case(dev_env, pg_engine, settings, case_id)
        await eventually(lambda: case_row(pg_engine, case_id).version >= 1, what="projected")
        reply = SendReply(OLE, "", "Our apologies\x00", "Dear guest, we are sorry.")
        await asyncio.wait_for(handle.execute_update(CaseWorkflow.send_reply, reply), timeout=15)
        flags = failures(pg_engine, case_id)
        assert {s: f.error_type for s, f in flags.items()} == {
            "projection": "DataError",
            "notification": "DataError",
        }
        with Session(pg_engine) as s:
            kinds = s.exec(select(Outbox.kind).where(col(Outbox.case_id) == case_id)).all()
        assert "reply" not in kinds
        assert len(admin_notices(pg_engine, case_id)) == 2
        state = await handle.query(CaseWorkflow.state)
        assert state.timeline[-1].kind == "reply"  # the workflow kept it
        view = await asyncio.wait_for(
            handle.execute_update(CaseWorkflow.add_note, AddNote(OLE, "Called")), timeout=15
        )
        assert case_row(pg_engine, case_id).version == view.version
        assert set(failures(pg_engine, case_id)) == {"notification"}  # the lost message stays


def _request(engine: Engine, case_id: str, name: str) -> ProjectRequest:
    inp = case_input(engine, case_id, datetime.now(UTC))
    inp.details.customer_name = name
    return ProjectRequest(view=initial_view(inp), events=[])


def test_deterministic_errors_are_non_retryable_and_outages_are_not(pg_engine: Engine) -> None:
    project = ProjectionActivities(pg_engine).project_case
    with pytest.raises(ApplicationError) as poisoned:
        project(_request(pg_engine, "P-nul", "Kari\x00"))
    assert poisoned.value.non_retryable and poisoned.value.type == "DataError"
    assert "Kari" not in str(poisoned.value) and poisoned.value.__cause__ is None
    with pytest.raises(ApplicationError) as surrogate:
        project(_request(pg_engine, "P-sur", "Kari\ud800"))
    assert surrogate.value.non_retryable and surrogate.value.type == "UnicodeEncodeError"
    # Nobody listens on port 9: the database is "down", which is worth retrying.
    down = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/none")
    with pytest.raises(ApplicationError) as outage:
        ProjectionActivities(down).project_case(_request(pg_engine, "P-down", "Kari"))
    assert not outage.value.non_retryable and outage.value.type == "OperationalError"
    assert "refused" in str(outage.value)  # the server's words, for the operator
    down.dispose()
    with Session(pg_engine) as s:
        assert s.get(Case, "P-nul") is None and s.get(Case, "P-sur") is None
