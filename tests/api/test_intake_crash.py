"""The API process dies between intake's commit and the workflow start; the retry finishes it.

Real Temporal dev server, the API (uvicorn) and the worker as their own OS processes; the crash
is injected with FAULT_EXIT_AFTER_INTAKE_COMMIT (os._exit right after the commit). The worker
here runs no reconciler, so it is the retry itself that starts the missing workflow.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from core.settings import ROOT, Settings
from models.case import Case, CaseIntake
from services.configuration import apply_config
from services.tokens import create_client
from tests.api.conftest import api_config, bearer
from tests.api.test_cases import BODY
from tests.conftest import terminate_cases
from tests.live import eventually, free_port


class Processes:
    def __init__(self, env: WorkflowEnvironment, settings: Settings, tmp: Path) -> None:
        self.address = env.client.service_client.config.target_host
        self.settings, self.log = settings, (tmp / "processes.log").open("ab")
        self.queue = [settings.database_url, settings.task_queue]
        self.started: list[subprocess.Popen[bytes]] = []

    def worker(self) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.api.worker_process", self.address, *self.queue],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        self.started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"worker ready"

    def _uvicorn(self, port: int, crash: bool) -> subprocess.Popen[bytes]:
        environ = {
            **os.environ,
            "DATABASE_URL": self.settings.database_url,
            "TEMPORAL_ADDRESS": self.address,
            "TASK_QUEUE": self.settings.task_queue,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "UPLOAD_DIR": str(self.settings.upload_dir),
            "FAULT_EXIT_AFTER_INTAKE_COMMIT": "1" if crash else "0",
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=environ,
            stdout=self.log,
            stderr=self.log,
        )
        self.started.append(proc)
        return proc

    async def api(self, *, crash: bool) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        proc = self._uvicorn(port, crash)
        base = f"http://127.0.0.1:{port}"

        async def up() -> bool:
            try:
                async with httpx.AsyncClient(base_url=base) as c:
                    return (await c.get("/readyz")).status_code == 200
            except httpx.TransportError:
                assert proc.poll() is None, "the API process exited at start-up"
                return False

        await eventually(up, within=30, what="the API process", every=0.1)
        return proc, base

    def stop(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
async def processes(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings, tmp_path: Path
) -> AsyncIterator[Processes]:
    apply_config(engine, api_config())
    running = Processes(dev_env, settings, tmp_path)
    try:
        yield running
    finally:
        running.stop()
        # Case ids repeat across test databases; the dev server is shared by the session.
        await terminate_cases(dev_env, engine)


def intake_rows(engine: Engine) -> list[tuple[CaseIntake, Case | None]]:
    with Session(engine) as session:
        rows = session.exec(select(CaseIntake).order_by(CaseIntake.id)).all()  # type: ignore[arg-type]
        return [(row, session.get(Case, row.case_id)) for row in rows]


async def workflow_status(env: WorkflowEnvironment, case_id: str) -> Any:
    try:
        return (await env.client.get_workflow_handle(case_id).describe()).status
    except RPCError as err:
        assert err.status == RPCStatusCode.NOT_FOUND
        return None


async def crash_during(processes: Processes, token: str, body: dict[str, Any], **kw: Any) -> None:
    proc, base = await processes.api(crash=True)
    async with httpx.AsyncClient(base_url=base, headers=bearer(token), timeout=30) as client:
        with pytest.raises(httpx.TransportError):  # the process is gone: no answer at all
            await client.post("/api/v1/cases", json=body, **kw)
    assert proc.wait(timeout=30) == 70


async def test_a_crash_after_the_intake_commit_is_finished_by_the_retry(
    dev_env: WorkflowEnvironment, engine: Engine, processes: Processes
) -> None:
    token = create_client(
        engine, f"crash-{uuid.uuid4().hex[:6]}", ["cases:write", "cases:read", "delegate"]
    )
    processes.worker()
    keyed = {**BODY, "verbatim": "Sent with an Idempotency-Key"}
    by_ref = {**BODY, "external_ref": f"CC-{uuid.uuid4().hex[:8]}"}
    await crash_during(processes, token.token, keyed, headers={"Idempotency-Key": "crash-1"})
    await crash_during(processes, token.token, by_ref)

    # What the crashes left: committed intake rows and version-0 cases, and no workflows.
    rows = intake_rows(engine)
    assert [c is not None and c.version for _, c in rows] == [0, 0]
    ids = [r.case_id for r, _ in rows]
    # (None, or a closed run of the same id left by an earlier test on the shared dev server.)
    for case_id in ids:
        assert await workflow_status(dev_env, case_id) != WorkflowExecutionStatus.RUNNING

    _, base = await processes.api(crash=False)
    async with httpx.AsyncClient(base_url=base, headers=bearer(token.token), timeout=30) as c:
        again = await c.post("/api/v1/cases", json=keyed, headers={"Idempotency-Key": "crash-1"})
        same_ref = await c.post("/api/v1/cases", json=by_ref)
        assert [again.json()["id"], same_ref.json()["id"]] == ids
        # Answered only with a running workflow behind each (today's main: none, 200 anyway).
        for case_id in ids:
            assert await workflow_status(dev_env, case_id) == WorkflowExecutionStatus.RUNNING

            async def projected(case_id: str = case_id) -> bool:
                case = (await c.get(f"/api/v1/cases/{case_id}")).json()
                return bool(case["version"] >= 1 and case["timeline"][0]["kind"] == "opened")

            await eventually(projected, within=30, what=f"{case_id} run by its workflow")
        # The key replays the first answer, which never went out; the reference answers 200.
        assert again.status_code == 201, again.text
        assert same_ref.status_code == 200, same_ref.text
        # And the case takes owner actions (the outage's cases answered 409 to every one).
        note = await c.post(
            f"/api/v1/cases/{ids[0]}/notes", json={"acting_user": "ole", "text": "Called back"}
        )
        assert note.status_code == 200, note.text
    assert all(r.workflow_started_at is not None for r, _ in intake_rows(engine))
