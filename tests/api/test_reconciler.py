"""The reconciler, both ways, on the real Temporal dev server.

- intake rows without a workflow: started by `python worker.py` itself, at start-up and on its
  timer (a row written while the worker runs is picked up by a later round);
- a running case workflow whose read-model rows are gone: projected again from its own state.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core.settings import ROOT, Settings
from core.temporal import PLAIN_DATA_CONVERTER
from domain.case import Actor
from models.api import CaseCreate
from models.case import Case, CaseEvent, CaseIntake, CaseWatcher
from models.intake import SurveyResponse
from services.case_start import start_case_workflow
from services.configuration import apply_config
from services.reconciler import Reconciler
from services.tokens import create_client
from tests.api.conftest import api_config, bearer
from tests.api.test_cases import BODY
from tests.api.test_surveys import SURVEY
from tests.conftest import terminate_cases
from tests.factories import running_worker, version0_case
from tests.live import eventually
from workflows.case import CaseWorkflow
from workflows.messages import AddNote


def started_at(engine: Engine, case_id: str) -> datetime | None:
    with Session(engine) as session:
        row = session.get(CaseIntake, int(case_id.split("-")[1]))
        assert row is not None
        return row.workflow_started_at


async def running(env: WorkflowEnvironment, case_id: str) -> bool:
    try:
        desc = await env.client.get_workflow_handle(case_id).describe()
    except RPCError:
        return False
    return desc.status == WorkflowExecutionStatus.RUNNING


def version(engine: Engine, case_id: str) -> int:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        return -1 if case is None else case.version


def worker_with_reconciler(
    env: WorkflowEnvironment, settings: Settings, log: Path
) -> subprocess.Popen[bytes]:
    """`python worker.py`, reconciling twice a second, with a 12-second grace period."""
    environ = {
        **os.environ,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "DATABASE_URL": settings.database_url,
        "TASK_QUEUE": settings.task_queue,
        "RECONCILE_INTERVAL_SECONDS": "0.5",
        "RECONCILE_GRACE_SECONDS": "12",
    }
    return subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=environ,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def test_the_worker_starts_workflows_missing_for_intake_rows(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    apply_config(engine, api_config())
    # Left by a crash before the worker started.
    abandoned = version0_case(engine, CaseCreate.model_validate(BODY)).case_id
    with Session(engine) as session:
        session.execute(
            update(CaseIntake)
            .where(col(CaseIntake.id) == int(abandoned.split("-")[1]))
            .values(created_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        session.commit()
    log = tmp_path / "worker.log"
    worker = worker_with_reconciler(dev_env, settings, log)
    try:
        try:
            await eventually(lambda: version(engine, abandoned) >= 1, 120, "the abandoned case")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nworker log:\n{log.read_text()[-4000:]}") from None
        assert await running(dev_env, abandoned)
        assert started_at(engine, abandoned) is not None
        # A row written now, with the reconciler running (as by a request still in flight), is
        # its request's business for the grace period (made with the worker up: a slow worker
        # start must not age it past the grace)...
        fresh = version0_case(engine, CaseCreate.model_validate(BODY)).case_id
        await asyncio.sleep(3)  # six reconciler rounds
        assert started_at(engine, fresh) is None and not await running(dev_env, fresh)
        # ...and the timer's, after it.
        await eventually(lambda: version(engine, fresh) >= 1, 60, "the fresh case, later")
        assert await running(dev_env, fresh) and started_at(engine, fresh) is not None
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        # Case ids repeat across test databases; the dev server is shared by the session.
        await terminate_cases(dev_env, engine)


async def test_a_workflow_without_its_read_model_rows_is_projected(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    apply_config(engine, api_config())
    inp = version0_case(engine, CaseCreate.model_validate(BODY))
    case_id = inp.case_id
    async with running_worker(dev_env.client, engine, settings):
        await start_case_workflow(dev_env.client, settings, inp)
        handle = dev_env.client.get_workflow_handle_for(CaseWorkflow.run, case_id)
        try:
            await handle.execute_update(CaseWorkflow.add_note, AddNote(Actor("ole"), "Called"))
            await eventually(lambda: version(engine, case_id) >= 2, 30, "the note projected")
            with Session(engine) as session:
                before = session.get(Case, case_id)
                assert before is not None
                expected = before.model_dump(exclude={"updated_at"})
            # The read model loses the case (a restore from an older backup, say).
            with Session(engine) as session:
                session.execute(delete(CaseEvent).where(col(CaseEvent.case_id) == case_id))
                session.execute(delete(CaseWatcher).where(col(CaseWatcher.case_id) == case_id))
                session.execute(delete(Case).where(col(Case.id) == case_id))
                session.commit()
            reconciler = Reconciler(engine, dev_env.client, settings)

            async def reprojected() -> bool:
                return case_id in (await reconciler.run_once()).projected

            # Visibility is eventually consistent: the listing may lag a moment.
            await eventually(reprojected, 30, "the case projected again", every=0.5)
            with Session(engine) as session:
                after = session.get(Case, case_id)
                assert after is not None
                assert after.model_dump(exclude={"updated_at"}) == expected
                kinds = session.exec(
                    select(CaseEvent.kind)
                    .where(CaseEvent.case_id == case_id)
                    .order_by(col(CaseEvent.seq))
                ).all()
                assert list(kinds) == ["opened", "note"]
                watchers = session.exec(
                    select(CaseWatcher.user_id).where(CaseWatcher.case_id == case_id)
                ).all()
                assert sorted(watchers) == ["fred", "mia"]
            # Nothing more to do: a second round changes nothing.
            assert (await reconciler.run_once()).projected == []
        finally:
            await handle.terminate("test finished")


async def test_cases_left_by_an_outage_are_started_and_linked_on_each_backend(
    dev_env: WorkflowEnvironment, any_db_url: str, any_engine: Engine, tmp_path: Path
) -> None:
    """The API answered 503 (Temporal down) and the clients never came back: the reconciler
    starts both cases and links the survey response to its case (SQLite and PostgreSQL)."""
    from api import create_app

    apply_config(any_engine, api_config())
    settings = Settings(
        database_url=any_db_url,
        task_queue=f"reconcile-{uuid.uuid4().hex[:8]}",
        upload_dir=tmp_path / "uploads",
        reconcile_grace_seconds=0,
    )
    token = create_client(any_engine, "outage", ["cases:write"]).token
    down = await Client.connect("127.0.0.1:1", lazy=True, data_converter=PLAIN_DATA_CONVERTER)
    app = create_app(settings, temporal=down, engine=any_engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers=bearer(token)
    ) as client:
        r = await client.post("/api/v1/cases", json=BODY, headers={"Idempotency-Key": "o-1"})
        s = await client.post("/api/v1/survey-responses", json={**SURVEY, "answers": {"ltr": 1}})
    assert (r.status_code, s.status_code) == (503, 503)
    with Session(any_engine) as session:
        ids = [row.case_id for row in session.exec(select(CaseIntake).order_by(col(CaseIntake.id)))]
    try:
        report = await Reconciler(any_engine, dev_env.client, settings).run_once()
        assert (report.started, report.linked, report.failed) == (ids, ids[1:], [])
        assert [await running(dev_env, i) for i in ids] == [True, True]
        assert all(started_at(any_engine, i) is not None for i in ids)
        with Session(any_engine) as session:
            assert session.exec(select(SurveyResponse.case_id)).one() == ids[1]
        # Done is done: the next round finds nothing.
        again = await Reconciler(any_engine, dev_env.client, settings).run_once()
        assert (again.started, again.linked) == ([], [])
    finally:
        await terminate_cases(dev_env, any_engine)
