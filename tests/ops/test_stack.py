"""The API (uvicorn) and the worker as real OS processes on the dev server, as in production.

One case runs through; then every line either process wrote must be a JSON object carrying the
ids, none may hold the customer's personal data, `/metrics` shows the requests and the worker's
Prometheus endpoint serves the Temporal SDK's metrics.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core.settings import ROOT
from models.db import make_engine
from services.configuration import apply_config
from services.tokens import create_client
from tests.api.conftest import api_config
from tests.api.test_cases import BODY
from tests.conftest import sqlite_db
from tests.live import eventually, free_port
from workflows.case import CaseWorkflow
from workflows.messages import RemeasureAnswer

NOTE = "Spoke to Kari Nordmann, she wants a refund to kari@example.com"
PII = [
    "Kari",
    "Nordmann",
    "kari@example.com",
    "555 01 234",
    "smelled of smoke",
    "refund to",
]
CLIENT_NAME = "crm-sync"
SURVEY_TOKEN = "sv-forged-token-4711"


@dataclass
class Stack:
    case_id: str = ""
    answers: dict[str, httpx.Response] = field(default_factory=dict)
    app_metrics: str = ""
    worker_metrics: str = ""
    api_log: list[str] = field(default_factory=list)
    worker_log: list[str] = field(default_factory=list)


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def _get_text(url: str) -> str | None:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            r = await http.get(url)
    except httpx.HTTPError:
        return None
    return r.text if r.status_code == 200 else None


async def _run_a_case(base: str, token: str, stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=20) as api:
        r = await api.post("/api/v1/cases", json=BODY, headers={"X-Request-ID": "req-ops-1"})
        assert r.status_code == 201, r.text
        stack.answers["intake"], stack.case_id = r, r.json()["id"]
        url = f"/api/v1/cases/{stack.case_id}"

        async def projected() -> bool:
            return bool((await api.get(url)).json()["version"] >= 1)

        await eventually(projected, within=20, what="the first projection")
        stack.answers["search"] = await api.get("/api/v1/cases", params={"q": "Nordmann"})
        stack.answers["note"] = await api.post(
            f"{url}/notes", json={"acting_user": "ole", "text": NOTE}
        )
        stack.answers["answer"] = await api.post(
            f"{url}/remeasurement", json={"satisfaction": 4, "resolved": True, "comment": NOTE}
        )
        stack.answers["bad_id"] = await api.get(url, headers={"X-Request-ID": "no spaces <>"})
        stack.answers["survey"] = await api.get(f"/survey/{SURVEY_TOKEN}")
        stack.app_metrics = (await api.get("/metrics")).text


@pytest.fixture(scope="module")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    url = sqlite_db(tmp)
    engine = make_engine(url)
    apply_config(engine, api_config())
    token = create_client(engine, CLIENT_NAME, ["cases:write", "cases:read", "delegate"]).token
    engine.dispose()
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "TASK_QUEUE": f"caseloop-ops-{uuid.uuid4().hex[:8]}",
        "LOG_FORMAT": "json",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "UPLOAD_DIR": str(tmp / "uploads"),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        # Mail goes to a closed port: the delivery activity fails and the SDK logs it.
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(free_port()),
    }
    worker_env = {**env, "WORKER_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}"}
    api_log, worker_log = tmp / "api.log", tmp / "worker.log"
    uvicorn = ["-m", "uvicorn", "api:app", "--host", "127.0.0.1", "--port", str(port)]
    worker = _start([sys.executable, "worker.py"], worker_env, worker_log)
    api = _start([sys.executable, *uvicorn], env, api_log)
    stack = Stack()
    try:
        base = f"http://127.0.0.1:{port}"

        async def ready() -> str | None:
            return await _get_text(f"{base}/readyz")

        await eventually(ready, within=60, what="the API")
        await _run_a_case(base, token, stack)
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

        async def worker_metrics() -> str | None:
            text = await _get_text(metrics_url)
            return text if text and "temporal_" in text else None

        stack.worker_metrics = await eventually(worker_metrics, within=30, what="worker metrics")
        # No survey is pending: the workflow logs (workflow.logger) that it ignores the answer.
        handle = dev_env.client.get_workflow_handle_for(CaseWorkflow.run, stack.case_id)
        await handle.signal(CaseWorkflow.remeasure_answer, RemeasureAnswer(4, True, NOTE))

        def logged() -> bool:
            text = worker_log.read_text()
            return "Completing activity as failed" in text and "Ignoring remeasurement" in text

        await eventually(logged, within=30, what="the workflow's and the SDK's lines")
    finally:
        _stop(api)
        _stop(worker)
        with contextlib_suppress():
            await dev_env.client.get_workflow_handle(stack.case_id).terminate("test finished")
    stack.api_log = api_log.read_text().splitlines()
    stack.worker_log = worker_log.read_text().splitlines()
    yield stack


def contextlib_suppress() -> Any:
    import contextlib

    from temporalio.service import RPCError

    return contextlib.suppress(RPCError)


def _records(lines: list[str]) -> list[dict[str, Any]]:
    records = []
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)  # every line is one JSON object
        assert isinstance(record, dict), line
        assert {"timestamp", "level", "logger", "event"} <= set(record), line
        records.append(record)
    return records


def test_every_log_line_is_json_with_the_ids(stack: Stack) -> None:
    api, worker = _records(stack.api_log), _records(stack.worker_log)
    assert any(r["logger"] == "uvicorn.error" and "startup complete" in r["event"] for r in api)
    access = [r for r in api if r["logger"] == "uvicorn.access"]
    intake = next(r for r in access if r.get("request_id") == "req-ops-1")
    assert intake["case_id"] == stack.case_id and intake["api_client"] == CLIENT_NAME
    assert intake["route"] == "/api/v1/cases" and intake["status"] == 201
    on_case = [r for r in access if r.get("route") == "/api/v1/cases/{case_id}"]
    assert on_case and all(r["case_id"] == stack.case_id for r in on_case)
    # The access line names the route template, not the path (survey tokens, searches).
    assert '"GET /api/v1/cases/{case_id} HTTP/1.1" 200' in on_case[0]["event"]
    assert on_case[0]["path"] == "/api/v1/cases/{case_id}"
    assert len({r["request_id"] for r in access}) == len(access)  # one id per request
    # The workflow's own log line (workflow.logger) and the SDK's activity failure.
    ignored = next(r for r in worker if "Ignoring remeasurement answer" in r["event"])
    assert ignored["workflow_id"] == stack.case_id == ignored["case_id"]
    assert ignored["workflow_type"] == "CaseWorkflow" and ignored["logger"] == "temporalio.workflow"
    failed = next(r for r in worker if "Completing activity as failed" in r["event"])
    assert failed["activity_type"] == "deliver" and failed["case_id"] == stack.case_id
    assert "exception" in failed  # the traceback is one field of the one line
    assert any(r["logger"] == "worker" and "polling" in r["event"] for r in worker)


def test_the_request_id_is_echoed_or_made(stack: Stack) -> None:
    assert stack.answers["intake"].headers["x-request-id"] == "req-ops-1"
    made = stack.answers["bad_id"].headers["x-request-id"]
    assert made != "no spaces <>" and len(made) == 32


def test_no_personal_data_in_any_log_line(stack: Stack) -> None:
    assert stack.answers["search"].json()["items"]  # the search for the name did run
    assert stack.answers["survey"].status_code < 500
    assert stack.answers["note"].status_code == 200, stack.answers["note"].text
    text = "\n".join(stack.api_log + stack.worker_log)
    leaks = [word for word in [*PII, SURVEY_TOKEN] if word.lower() in text.lower()]
    assert not leaks, leaks


def test_app_metrics_show_the_requests(stack: Stack) -> None:
    text = stack.app_metrics
    assert 'caseloop_intake_requests_total{outcome="opened"} 1.0' in text
    assert (
        'caseloop_http_request_duration_seconds_count{method="POST",route="/api/v1/cases",'
        'status="201"} 1.0' in text
    )
    assert 'route="/api/v1/cases/{case_id}/notes",status="200"' in text
    assert "caseloop_outbox_unsent{" in text and "caseloop_projection_pending_cases 0.0" in text


def test_the_worker_serves_temporal_sdk_metrics(stack: Stack) -> None:
    names = {line.split("{")[0].split(" ")[0] for line in stack.worker_metrics.splitlines()}
    temporal = {n for n in names if n.startswith("temporal_")}
    assert "temporal_worker_task_slots_available" in temporal, sorted(temporal)
    assert any("activity" in n for n in temporal), sorted(temporal)
