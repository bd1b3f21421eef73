"""A case opened before deadlines could follow the program (PATCH_FOLLOW_POLICY) goes on after
the upgrade: opened and paused by a worker running the code from before it, finished by the new
worker after a program change told to the open cases. Real Temporal dev server; the old worker
is a separate process running the repository as it was (`git archive`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from core.settings import ROOT, Settings
from core.temporal import data_converter
from domain.case import Actor
from domain.vocabulary import ApplyTo, ClosingStatus
from services.case_start import start_case_workflow
from services.deadline_follow import reschedule_open_cases
from tests.conftest import unavailable
from tests.factories import case_input, seed
from tests.live import eventually
from tests.test_deadline_follow import change
from tests.test_replay import patches_in
from tests.test_worker_restart import events
from worker import build_worker
from workflows.case import PATCH_FOLLOW_POLICY, CaseWorkflow
from workflows.messages import AddNote, CloseCase, FanoutResult, PauseCase, ResumeCase
from workflows.policy_fanout import PolicyFanoutWorkflow

# The last commit before deadlines could follow the program: its CaseWorkflow lacks the patch.
BEFORE = "99fa8dd"
PROGRAM: dict[str, Any] = {"remeasure": {"enabled": False}}
OLE = Actor("ole")
Handle = WorkflowHandle[CaseWorkflow, Any]


@pytest.fixture
def old_tree(tmp_path: Path) -> Path:
    """The repository at BEFORE, unpacked (it runs on the shared virtualenv)."""
    tree = tmp_path / "old"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", BEFORE], capture_output=True, check=False
    )
    if archive.returncode != 0:
        unavailable(f"git archive {BEFORE} failed: {archive.stderr.decode()[:200]}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    assert "PATCH_FOLLOW_POLICY" not in (tree / "workflows" / "case.py").read_text()
    return tree


@contextlib.contextmanager
def old_worker(
    tree: Path, env: WorkflowEnvironment, settings: Settings, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    # The old tree's own worker process of the API tests: the worker alone, as production's.
    address = env.client.service_client.config.target_host
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.api.worker_process",
            address,
            settings.database_url,
            settings.task_queue,
        ],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def opened(env: WorkflowEnvironment, engine: Engine, settings: Settings) -> Handle:
    case_id = f"U-{uuid.uuid4().hex[:8]}"
    await start_case_workflow(env.client, settings, case_input(engine, case_id, datetime.now(UTC)))
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, case_id)

    async def projected() -> bool:
        with contextlib.suppress(Exception):  # until a worker answers the query
            return (await handle.query(CaseWorkflow.state)).view.version >= 1
        return False

    # A worker process starting on a busy machine takes a while to import and poll.
    await eventually(projected, within=60, what=f"{case_id} opened", every=0.2)
    return handle


async def test_a_case_opened_before_the_upgrade_finishes_after_it(
    dev_env: WorkflowEnvironment,
    engine: Engine,
    settings: Settings,
    old_tree: Path,
    tmp_path: Path,
) -> None:
    seed(engine, **PROGRAM)
    log = tmp_path / "old-worker.log"
    with old_worker(old_tree, dev_env, settings, log):
        old = await opened(dev_env, engine, settings)
        await old.execute_update(CaseWorkflow.add_note, AddNote(OLE, "Called the guest"))
        await old.execute_update(CaseWorkflow.pause, PauseCase(OLE, "Asked for the receipt"))
    async with build_worker(dev_env.client, engine, settings):
        before = (await old.query(CaseWorkflow.state)).view
        assert before.paused_since is not None
        new = await opened(dev_env, engine, settings)
        ch = change(
            engine,
            ApplyTo.OPEN,
            sla={"open_within": "PT4H", "resolve_within": "P2D", "warn_before": "PT1H"},
        )
        workflow_id = await reschedule_open_cases(dev_env.client, settings, engine, ch)
        assert workflow_id is not None
        fanout = dev_env.client.get_workflow_handle_for(PolicyFanoutWorkflow.run, workflow_id)
        assert await fanout.result() == FanoutResult(2, 0)

        async def new_moved() -> bool:
            timeline = (await new.query(CaseWorkflow.state)).timeline
            return any(e.kind == "deadline_moved" for e in timeline)

        await eventually(new_moved, within=20, what="the new case followed")
        # The old case keeps the policy it opened with: same deadline, nothing recorded.
        await old.execute_update(CaseWorkflow.resume, ResumeCase(OLE, "Receipt arrived"))
        after = (await old.query(CaseWorkflow.state)).view
        assert after.resolve_due_at is not None and before.resolve_due_at is not None
        # Moved by the paused time only (the new SLA would have added a day).
        assert timedelta(0) <= after.resolve_due_at - before.resolve_due_at < timedelta(hours=1)
        moved = (await new.query(CaseWorkflow.state)).view
        assert moved.resolve_due_at is not None  # two days from the opening (whole seconds)
        assert abs(moved.resolve_due_at - moved.created_at - timedelta(days=2)) < timedelta(
            seconds=1
        )
        for h in (old, new):
            await h.execute_update(
                CaseWorkflow.close,
                CloseCase(OLE, ClosingStatus.UNRESOLVED, ["staff"], "Unreachable"),
            )
            result = await h.result()
            assert result.closing_status == ClosingStatus.UNRESOLVED
    assert [e.kind for e in events(engine, old.id)] == [
        "opened",
        "note",
        "paused",
        "resumed",
        "closed",
    ]
    assert "deadline_moved" in [e.kind for e in events(engine, new.id)]
    # Both histories replay on the new code; only the new case took the patch.
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=data_converter(Settings()))
    histories = [await h.fetch_history() for h in (old, new)]
    for history in histories:
        await replayer.replay_workflow(history)
    assert [PATCH_FOLLOW_POLICY in patches_in(h) for h in histories] == [False, True]
