"""A worker killed mid-case and restarted: the case finishes with an intact timeline.

Runs on the real Temporal dev server with the worker as a separate OS process (kill -9).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from core.settings import ROOT, Settings
from core.temporal import data_converter
from domain.case import Actor
from domain.vocabulary import ClosingStatus
from models.case import CaseEvent
from services.case_start import start_case_workflow
from tests.factories import case_input, seed
from tests.live import eventually
from worker import build_worker
from workflows.case import CaseWorkflow
from workflows.messages import AddNote, CloseCase

Handle = WorkflowHandle[CaseWorkflow, Any]

FAST = {
    "sla": {"open_within": "PT3S", "resolve_within": "PT6S", "warn_before": "PT1S"},
    "escalation": {"max_level": 2, "reassign_resolve_within": "PT4S"},
}


def worker_process(
    env: WorkflowEnvironment, settings: Settings, log: Path
) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "DATABASE_URL": settings.database_url,
        "TASK_QUEUE": settings.task_queue,
    }
    return subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=environ,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def events(engine: Engine, case_id: str) -> list[CaseEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.seq))
            )
        )


async def test_killed_worker_resumes_without_lost_or_doubled_events(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    seed(engine, **FAST)
    log = tmp_path / "worker.log"
    case_id = f"K-{uuid.uuid4().hex[:8]}"
    worker = worker_process(dev_env, settings, log)
    try:
        inp = case_input(engine, case_id, datetime.now(UTC))
        await start_case_workflow(dev_env.client, settings, inp)
        await eventually(lambda: len(events(engine, case_id)) >= 2, 30, "the first warning")
        worker.send_signal(signal.SIGKILL)  # mid-case: timers keep running on the server
        worker.wait()
        await asyncio.sleep(5)
        assert len(events(engine, case_id)) <= 3  # nothing progressed without a worker
        worker = worker_process(dev_env, settings, log)

        def escalated_twice() -> bool:
            return [e.kind for e in events(engine, case_id)].count("escalated") == 2

        await eventually(escalated_twice, 60, "two escalations after the restart")
        handle = dev_env.client.get_workflow_handle_for(CaseWorkflow.run, case_id)
        await handle.execute_update(
            CaseWorkflow.close,
            CloseCase(Actor("dora"), ClosingStatus.UNRESOLVED, ["staff"], "Guest unreachable"),
        )
        await handle.result()
        state = await handle.query(CaseWorkflow.state)
    finally:
        worker.kill()
        worker.wait()

    stored = events(engine, case_id)
    # Every event the workflow recorded is in the read model exactly once, in order.
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert [(e.seq, e.kind) for e in stored] == [(e.seq, e.kind) for e in state.timeline]
    kinds = [e.kind for e in stored]
    assert kinds[0] == "opened" and kinds[-1] == "closed"
    assert kinds.count("overdue") == 1 and kinds.count("escalated") == 2
    # The search attributes tell admins the same story.
    query = f"WorkflowId = '{case_id}' AND CaseStatus = 'closed' AND CaseEscalationLevel = 2"

    async def listed_once() -> bool:
        return (await dev_env.client.count_workflows(query)).count == 1

    await eventually(listed_once, 10, "the closed case in the visibility store", every=0.2)


async def test_cases_that_compute_their_own_deadlines_survive_a_restart(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    """A case started without intake's deadlines computes them in a local activity first. Its
    patch decisions used to be taken after that activity, so a workflow task boundary falling
    between its marker and theirs (a query answered mid-task does it) made the history
    unreplayable: a restarted worker, with nothing cached, failed the case's next task."""
    seed(engine)
    client = dev_env.client
    ids = [f"D-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    async with build_worker(client, engine, settings):
        for case_id in ids:
            inp = case_input(engine, case_id, datetime.now(UTC))
            assert inp.initial_deadlines is None
            await start_case_workflow(client, settings, inp)
            handle = client.get_workflow_handle_for(CaseWorkflow.run, case_id)

            async def opened(h: Handle = handle) -> bool:
                return (await h.query(CaseWorkflow.state)).view.version >= 1

            # Queried while the first task runs, as intake's callers do.
            await eventually(opened, 30, f"{case_id} opened", every=0.01)
    # A fresh replay of each history, as a restarted worker does.
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=data_converter(settings))
    for case_id in ids:
        history = await client.get_workflow_handle(case_id).fetch_history()
        await replayer.replay_workflow(history)
    # A new worker (an empty cache) takes the next action on every case.
    async with build_worker(client, engine, settings):
        for case_id in ids:
            handle = client.get_workflow_handle_for(CaseWorkflow.run, case_id)
            noted = await asyncio.wait_for(
                handle.execute_update(CaseWorkflow.add_note, AddNote(Actor("ole"), "Called")), 30
            )
            assert noted.version == 2
            await handle.execute_update(
                CaseWorkflow.close,
                CloseCase(Actor("ole"), ClosingStatus.UNRESOLVED, ["staff"], "Unreachable"),
            )
            await asyncio.wait_for(handle.result(), 30)
    for case_id in ids:
        assert [e.kind for e in events(engine, case_id)] == ["opened", "note", "closed"]
