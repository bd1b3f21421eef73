"""One intake request through the real app with an in-memory OpenTelemetry exporter.

In its own process: an OpenTelemetry tracer provider is global and can be set once, and the
rest of the suite runs untraced. Prints the finished spans as JSON on stdout.

    python -m tests.ops.tracing_probe ADDRESS DATABASE_URL TASK_QUEUE TOKEN
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


async def main(address: str, url: str, task_queue: str, token: str) -> None:
    import httpx
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    from api import create_app
    from core.settings import Settings
    from core.temporal import connect
    from models.db import make_engine
    from tests.api.test_cases import BODY
    from worker import build_worker

    settings = Settings(database_url=url, task_queue=task_queue, temporal_address=address)
    client = await connect(settings)
    engine = make_engine(url)
    app = create_app(settings, temporal=client, engine=engine)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        build_worker(client, engine, settings),
        httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as http,
    ):
        r = await http.post("/api/v1/cases", json=BODY)
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        for _ in range(200):  # the worker's first projection, traced in the same trace
            if (await http.get(f"/api/v1/cases/{case_id}", headers=headers)).json()["version"]:
                break
            await asyncio.sleep(0.05)
        await http.get("/api/v1/cases", params={"q": "Nordmann"})
        await http.get("/survey/probe-secret-token-0123456789")
        await client.get_workflow_handle(case_id).terminate("probe finished")
    engine.dispose()
    spans: list[dict[str, Any]] = [
        {
            "name": s.name,
            "kind": s.kind.name,
            "trace_id": format(s.context.trace_id, "032x") if s.context else "",
            "attributes": {k: str(v) for k, v in (s.attributes or {}).items()},
        }
        for s in exporter.get_finished_spans()
    ]
    print(json.dumps({"case_id": case_id, "spans": spans}))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
