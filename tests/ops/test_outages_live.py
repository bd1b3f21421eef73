"""Outages under a live app (uvicorn over real HTTP) and a running worker.

- PostgreSQL: the test starts a cluster of its own (initdb + pg_ctl on a free port), migrates
  it, stops it under the app and starts it again. Meanwhile the API answers 503 problem+json
  with Retry-After, the pages show the unavailable page, /readyz says the database is down and
  Temporal up; a case's open deadline passes. Afterwards everything answers again, a case and an
  action retried with their Idempotency-Keys exist once, and the deadline has fired.
- Temporal: a dev server of its own (persisted to a file) stops under the app and starts again
  on the same port: /readyz says Temporal is down, intake and actions answer 503 (reads go on),
  and the retried requests apply once afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from core.temporal import data_converter
from domain.program import ProgramIn
from models.case import Case, CaseEvent
from models.db import make_engine
from services.configuration import apply_config
from services.tokens import create_client
from tests.api.conftest import bearer
from tests.api.test_cases import BODY
from tests.conftest import binary, migrate, sqlite_db, terminate_cases, unavailable
from tests.factories import config_with_passwords, running_worker
from tests.live import ServerThread, eventually, fill_login_form, free_port, log_in
from tests.pg_cluster import ClusterUnavailable, PgCluster
from workflows.search_attributes import SEARCH_ATTRIBUTES

PASSWORD = "correct horse battery"
PROBLEM = "application/problem+json"
# The open deadline passes while the database is down (the outage starts a few seconds after
# the case is opened and lasts past this).
OPEN_WITHIN_S = 15
OUTAGE_PROGRAM: dict[str, Any] = {
    "id": "outage",
    "name": "Outage Lane",
    "calendar": {"always_open": True},
    "sla": {"open_within": f"PT{OPEN_WITHIN_S}S", "resolve_within": "PT1H", "warn_before": None},
    "escalation": {"max_level": 1, "reassign_resolve_within": "PT1H"},
    "remeasure": {"enabled": False},
    "root_causes": ["staff"],
    "resolution_methods": ["apology"],
    "default_owner": "ole",
}


def seed(engine: Engine) -> dict[str, str]:
    doc = config_with_passwords(PASSWORD)
    doc.programs.append(ProgramIn.model_validate(OUTAGE_PROGRAM))
    apply_config(engine, doc)
    return bearer(create_client(engine, "outage", ["cases:write", "cases:read", "delegate"]).token)


@dataclass
class Live:
    base_url: str
    engine: Engine
    headers: dict[str, str]


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    try:
        pg = PgCluster()
    except ClusterUnavailable as exc:
        unavailable(f"PostgreSQL server binaries: {exc}")
        raise
    try:
        pg.start()
        yield pg
    finally:
        pg.close()


def assert_503(r: httpx.Response, component: str) -> None:
    assert r.status_code == 503, (r.request.url, r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM and r.headers["retry-after"].isdigit()
    assert r.json()["unavailable"] == component


def count(engine: Engine, model: Any, *where: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def note_count(engine: Engine, case_id: str, text: str) -> int:
    return count(
        engine,
        CaseEvent,
        col(CaseEvent.case_id) == case_id,
        col(CaseEvent.kind) == "note",
        col(CaseEvent.summary) == text,
    )


def status(engine: Engine, case_id: str) -> str | None:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        return None if case is None else case.status


async def readyz(base: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        return await c.get("/readyz")


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
async def pg_live(
    dev_env: WorkflowEnvironment, cluster: PgCluster, tmp_path: Path
) -> AsyncIterator[Live]:
    from api import create_app

    url = cluster.create_database("caseloop")
    migrate(url)
    engine = make_engine(url)
    headers = seed(engine)
    settings = Settings(
        database_url=url,
        temporal_address=dev_env.client.service_client.config.target_host,
        temporal_namespace=dev_env.client.namespace,
        task_queue=f"pg-outage-{uuid.uuid4().hex[:8]}",
        upload_dir=tmp_path / "uploads",
    )
    server = ServerThread(create_app(settings))  # its own engine and Temporal client
    async with running_worker(dev_env.client, engine, settings):
        await asyncio.to_thread(server.start)
        try:
            yield Live(server.base_url, engine, headers)
        finally:
            await asyncio.to_thread(server.stop)
            if cluster.running():
                await terminate_cases(dev_env, engine)
    engine.dispose()


async def test_a_postgresql_outage(
    pg_live: Live, cluster: PgCluster, browser: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    live, engine = pg_live, pg_live.engine
    note = {"acting_user": "ole", "text": "Called during the outage"}
    typed = "Typed while the database was away"
    async with httpx.AsyncClient(base_url=live.base_url, headers=live.headers, timeout=60) as c:
        opened = await c.post("/api/v1/cases", json={**BODY, "program_id": "outage"})
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["id"]
        await eventually(lambda: status(engine, case_id) == "new", 30, "projected")
        pages = httpx.AsyncClient(base_url=live.base_url, timeout=60)
        await log_in(pages, "ole", PASSWORD)
        context = await browser.new_context(base_url=live.base_url)
        tab = await context.new_page()
        await tab.goto(f"/cases/{case_id}")
        await fill_login_form(tab, "ole", PASSWORD)
        await tab.wait_for_url(f"**/cases/{case_id}")

        await asyncio.to_thread(cluster.stop)
        stopped = asyncio.get_running_loop().time()
        try:
            assert_503(await c.get("/api/v1/cases"), "database")
            assert_503(await c.get(f"/api/v1/cases/{case_id}"), "database")
            intake_key = {"Idempotency-Key": "pg-outage-intake"}
            action_key = {"Idempotency-Key": "pg-outage-note"}
            assert_503(await c.post("/api/v1/cases", json=BODY, headers=intake_key), "database")
            assert_503(
                await c.post(f"/api/v1/cases/{case_id}/notes", json=note, headers=action_key),
                "database",
            )
            page = await pages.get("/inbox")
            assert page.status_code == 503 and "temporarily unavailable" in page.text.lower()
            ready = await readyz(live.base_url)
            assert ready.status_code == 503, ready.text
            checks = ready.json()["checks"]
            assert (checks["database"]["status"], checks["temporal"]["status"]) == ("down", "up")
            async with httpx.AsyncClient(base_url=live.base_url) as plain:
                assert (await plain.get("/healthz")).status_code == 200
            # In the browser: the banner above the form, which keeps what was typed.
            await tab.get_by_label("Note", exact=True).fill(typed)
            await tab.get_by_role("button", name="Add note").click()
            banner = tab.locator("#outage")
            await expect(banner).to_contain_text("temporarily unavailable")
            await expect(banner).to_contain_text("not saved")
            await expect(tab.get_by_label("Note", exact=True)).to_have_value(typed)
            await tab.screenshot(path=str(artifacts / "outage-banner.png"), full_page=True)
            other = await context.new_page()
            await other.goto("/inbox")
            await expect(other.locator("h1")).to_have_text("Caseloop is temporarily unavailable")
            await other.screenshot(path=str(artifacts / "outage-page.png"), full_page=True)
            # The open deadline passes while the database is down.
            await asyncio.sleep(
                max(0.0, stopped + OPEN_WITHIN_S + 2 - asyncio.get_running_loop().time())
            )
        finally:
            await asyncio.to_thread(cluster.start)

        async def ready_again() -> bool:
            return (await readyz(live.base_url)).status_code == 200

        await eventually(ready_again, 30, "ready after the restart", every=0.5)
        again = await c.post("/api/v1/cases", json=BODY, headers=intake_key)
        assert again.status_code == 201, again.text
        replay = await c.post("/api/v1/cases", json=BODY, headers=intake_key)
        assert replay.json()["id"] == again.json()["id"]
        for _ in range(2):
            r = await c.post(f"/api/v1/cases/{case_id}/notes", json=note, headers=action_key)
            assert r.status_code == 200, r.text
        assert (await pages.get("/inbox")).status_code == 200
        await pages.aclose()
        # The same form sent again (the same action id): added once, the banner gone.
        await tab.get_by_role("button", name="Add note").click()
        await expect(tab.locator(".flash")).to_have_text("Note added.")
        await expect(tab.locator("#outage")).to_be_empty()
        await context.close()
    # Nothing lost, nothing twice: two cases, one note, and the deadline that passed has fired.
    assert count(engine, Case) == 2
    assert note_count(engine, case_id, note["text"]) == 1
    assert note_count(engine, case_id, typed) == 1
    await eventually(
        lambda: (
            count(
                engine,
                CaseEvent,
                col(CaseEvent.case_id) == case_id,
                col(CaseEvent.kind) == "overdue",
            )
            == 1
        ),
        30,
        "the deadline fired after the recovery",
    )


# ---------------------------------------------------------------- Temporal


class DevServer:
    """A Temporal dev server of its own, persisted to a file, to stop and start on one port."""

    def __init__(self, db_file: Path) -> None:
        self.port, self.binary, self.db_file = free_port(), binary("temporal"), db_file
        self.env: WorkflowEnvironment | None = None

    async def start(self) -> WorkflowEnvironment:
        self.env = await WorkflowEnvironment.start_local(
            port=self.port,
            dev_server_existing_path=self.binary,
            dev_server_extra_args=["--db-filename", str(self.db_file)],
            data_converter=data_converter(Settings()),
            search_attributes=list(SEARCH_ATTRIBUTES),
            dev_server_log_level="error",
        )
        return self.env

    async def stop(self) -> None:
        if self.env is not None:
            await self.env.shutdown()
            self.env = None


@pytest.fixture
async def temporal_live(tmp_path: Path) -> AsyncIterator[tuple[Live, DevServer]]:
    from api import create_app

    temporal = DevServer(tmp_path / "temporal.db")
    env = await temporal.start()
    url = sqlite_db(tmp_path)
    engine = make_engine(url)
    headers = seed(engine)
    settings = Settings(
        database_url=url,
        temporal_address=f"127.0.0.1:{temporal.port}",
        task_queue="temporal-outage",
        upload_dir=tmp_path / "uploads",
        intake_start_timeout_seconds=3,
        update_wait_seconds=3,
    )
    server = ServerThread(create_app(settings))
    try:
        async with running_worker(env.client, engine, settings):
            await asyncio.to_thread(server.start)
            try:
                yield Live(server.base_url, engine, headers), temporal
            finally:
                await asyncio.to_thread(server.stop)
    finally:
        await temporal.stop()
        engine.dispose()


async def test_a_temporal_outage(temporal_live: tuple[Live, DevServer]) -> None:
    live, temporal = temporal_live
    engine = live.engine
    note = {"acting_user": "ole", "text": "Called while Temporal was down"}
    intake_key = {"Idempotency-Key": "temporal-outage-intake"}
    action_key = {"Idempotency-Key": "temporal-outage-note"}
    async with httpx.AsyncClient(base_url=live.base_url, headers=live.headers, timeout=60) as c:
        opened = await c.post("/api/v1/cases", json=BODY)
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["id"]
        await eventually(lambda: status(engine, case_id) == "new", 30, "projected")

        await temporal.stop()
        ready = await readyz(live.base_url)
        assert ready.status_code == 503, ready.text
        checks = ready.json()["checks"]
        assert (checks["database"]["status"], checks["temporal"]["status"]) == ("up", "down")
        assert_503(await c.post("/api/v1/cases", json=BODY, headers=intake_key), "temporal")
        assert_503(
            await c.post(f"/api/v1/cases/{case_id}/notes", json=note, headers=action_key),
            "temporal",
        )
        assert (await c.get(f"/api/v1/cases/{case_id}")).status_code == 200  # reads go on
        await temporal.start()

        async def ready_again() -> bool:
            return (await readyz(live.base_url)).status_code == 200

        await eventually(ready_again, 60, "ready after the restart", every=0.5)
        again = await c.post("/api/v1/cases", json=BODY, headers=intake_key)
        assert again.status_code == 201, again.text
        assert (await c.post("/api/v1/cases", json=BODY, headers=intake_key)).json()[
            "id"
        ] == again.json()["id"]

        async def noted() -> bool:
            # 202 while the worker's pollers find the restarted server; the same key each time.
            r = await c.post(f"/api/v1/cases/{case_id}/notes", json=note, headers=action_key)
            assert r.status_code in (200, 202), r.text
            return r.status_code == 200

        await eventually(noted, 60, "the note applied", every=0.5)
        r = await c.post(f"/api/v1/cases/{case_id}/notes", json=note, headers=action_key)
        assert r.status_code == 200, r.text
    assert count(engine, Case) == 2
    assert note_count(engine, case_id, note["text"]) == 1
