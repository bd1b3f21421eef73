"""OpenTelemetry: one intake request is one trace, from the HTTP span into Temporal."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from core.settings import ROOT, Settings
from models.db import make_engine
from services.configuration import apply_config
from services.tokens import create_client
from tests.api.conftest import api_config
from tests.conftest import sqlite_db


async def test_an_intake_request_is_one_trace_into_temporal(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    url = sqlite_db(tmp_path)
    engine = make_engine(url)
    apply_config(engine, api_config())
    token = create_client(engine, "traced", ["cases:write", "cases:read"]).token
    engine.dispose()
    address = dev_env.client.service_client.config.target_host
    queue = f"caseloop-trace-{uuid.uuid4().hex[:8]}"
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.ops.tracing_probe", address, url, queue, token],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    spans = found["spans"]
    by_name = {s["name"]: s for s in spans}
    # One server span per request: opentelemetry-instrumentation-fastapi's (FastAPI's own
    # telemetry stands aside when it sees that middleware).
    servers = [s["name"] for s in spans if s["kind"] == "SERVER" and " /" in s["name"]]
    assert servers.count("POST /api/v1/cases") == 1, servers
    assert not [s for s in spans if s["name"].startswith("fastapi.")]
    http = by_name["POST /api/v1/cases"]
    start = by_name["StartWorkflow:CaseWorkflow"]
    assert http["kind"] == "SERVER" and http["attributes"]["http.route"] == "/api/v1/cases"
    assert start["trace_id"] == http["trace_id"]
    assert start["attributes"]["temporalWorkflowID"] == found["case_id"]
    # The worker carries the trace on: the workflow and its activities join it.
    joined = {s["name"] for s in spans if s["trace_id"] == http["trace_id"]}
    assert "RunWorkflow:CaseWorkflow" in joined, sorted(joined)
    assert any(name.startswith("RunActivity:") for name in joined), sorted(joined)
    # A search by name leaves no name in its span.
    search = next(s for s in spans if s["name"] == "GET /api/v1/cases")
    assert search["attributes"]["http.target"] == "/api/v1/cases"
    assert "Nordmann" not in json.dumps(spans) and "Kari" not in json.dumps(spans)
    assert "probe-secret-token" not in json.dumps(spans)


def test_tracing_is_off_by_default() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from core.telemetry import temporal_interceptors, tracing_enabled

    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    assert not tracing_enabled(Settings()) and temporal_interceptors(Settings()) == []
    on = Settings(otel_exporter_otlp_endpoint="http://127.0.0.1:4318")
    assert tracing_enabled(on) and len(temporal_interceptors(on)) == 1
