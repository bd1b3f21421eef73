"""`python worker.py --processes 2`: two Temporal workers on one task queue, stopped together.

Real processes on the dev server: the task queue shows two pollers with their own pids, SIGTERM
to the first stops both, and a second process that dies takes the set down (non-zero exit) so
that the supervisor restarts it whole. The sizing settings reach the Temporal worker.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.testing import WorkflowEnvironment

from core.settings import ROOT, Settings
from models.db import make_engine
from tests.conftest import sqlite_db
from tests.live import eventually
from worker import build_worker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] != "Z"


def _start(dev_env: WorkflowEnvironment, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    queue = f"procs-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": sqlite_db(tmp),
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "TASK_QUEUE": queue,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DEMO_MODE": "1",
        "UPLOAD_DIR": str(tmp / "uploads"),
    }
    log = (tmp / "worker.log").open("wb")
    argv = [sys.executable, "worker.py", "--processes", "2"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, queue


async def _poller_pids(dev_env: WorkflowEnvironment, queue: str) -> set[int]:
    """The pids of the workers polling `queue` (a worker's identity is `pid@host`)."""
    described = await dev_env.client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=dev_env.client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {int(p.identity.split("@", 1)[0]) for p in described.pollers}


async def _two_pollers(dev_env: WorkflowEnvironment, queue: str, log: Path) -> set[int]:
    async def two() -> set[int] | None:
        pids = await _poller_pids(dev_env, queue)
        return pids if len(pids) == 2 else None

    try:
        pids: set[int] = await eventually(two, within=300, what="two worker processes polling")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the workers' log:\n{log.read_text()[-3000:]}") from None  # noqa: ASYNC240
    return pids


async def test_two_processes_poll_and_stop_together(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    proc, queue = _start(dev_env, tmp_path)
    try:
        pids = await _two_pollers(dev_env, queue, tmp_path / "worker.log")
        assert proc.pid in pids
        (child,) = pids - {proc.pid}
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        assert code == 0, (tmp_path / "worker.log").read_text()[-4000:]
        await eventually(lambda: not _alive(child), within=30, what="the second process gone")
        log = (tmp_path / "worker.log").read_text()
        assert "process 1 of 2" in log and "process 2 of 2" in log
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_a_dead_process_stops_the_set(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    proc, queue = _start(dev_env, tmp_path)
    try:
        (child,) = await _two_pollers(dev_env, queue, tmp_path / "worker.log") - {proc.pid}
        os.kill(child, signal.SIGKILL)
        assert proc.wait(60) == 1
        assert "a worker process exited" in (tmp_path / "worker.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_the_sizing_settings_reach_the_worker(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=sqlite_db(tmp_path),
        task_queue="sizing",
        max_cached_workflows=7,
        max_concurrent_workflow_tasks=5,
        max_concurrent_activities=3,
    )
    engine = make_engine(settings.database_url)
    try:
        config = build_worker(dev_env.client, engine, settings).config()
    finally:
        engine.dispose()
    assert config["max_cached_workflows"] == 7
    assert config["max_concurrent_workflow_tasks"] == 5
    assert config["max_concurrent_activities"] == 3
