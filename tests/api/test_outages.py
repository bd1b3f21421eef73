"""Outages over HTTP: the real app (ASGI), a real worker on the time-skipping server, SQLite.

The database "goes away" as a lost volume does: its folder is moved aside (SQLite then cannot
open the file) and moved back. Temporal is down for an app whose client points at a closed port.
The API answers 503 problem+json with Retry-After, the pages a "temporarily unavailable" page
(a banner fragment for HTMX), /healthz only says the process lives, /readyz names the part that
is down; a genuine bug is a 500 problem without internals. PostgreSQL and a Temporal server that
stops under a live app: tests/ops/test_outages_live.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.remeasurement import make_survey_token
from core.settings import Settings
from core.temporal import PLAIN_DATA_CONVERTER
from domain.case import Actor
from models.api import CaseCreate
from models.case import Case, CaseEvent
from services.case_actions import ActionPending, run_update, update_stage
from services.configuration import apply_config
from services.tokens import create_client
from tests.api.conftest import bearer
from tests.api.test_cases import BODY, wait_version
from tests.api.test_surveys import SURVEY
from tests.conftest import sqlite_db, terminate_cases
from tests.factories import config_with_passwords, running_worker, version0_case
from tests.live import ServerThread, csrf_of, eventually, free_port, log_in
from workflows.case import CaseWorkflow
from workflows.messages import AddNote

PASSWORD = "correct horse battery"
PROBLEM = "application/problem+json"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The database in a folder of its own, which a test can take away."""
    return sqlite_db(tmp_path / "db")


class LostVolume:
    """Moves the database's folder aside (and back): SQLite cannot open the file meanwhile."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.folder = Path(url.split("///", 1)[1]).parent
        self.aside = self.folder.with_name("db-away")

    def begin(self) -> None:
        self.engine.dispose()  # open connections would keep the moved file
        self.folder.rename(self.aside)

    def end(self) -> None:
        self.aside.rename(self.folder)
        self.engine.dispose()


@pytest.fixture
def lost(engine: Engine, sqlite_url: str) -> Iterator[LostVolume]:
    volume = LostVolume(engine, sqlite_url)
    yield volume
    if volume.aside.exists():
        volume.end()


@pytest.fixture
async def app(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> AsyncIterator[FastAPI]:
    from api import create_app

    apply_config(engine, config_with_passwords(PASSWORD))
    app = create_app(settings, temporal=ts_env.client, engine=engine)
    async with running_worker(ts_env.client, engine, settings):
        yield app
        await terminate_cases(ts_env, engine)


def client_for(app: FastAPI, **kw: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", **kw)


def token(engine: Engine, *scopes: str) -> dict[str, str]:
    return bearer(create_client(engine, f"outage-{len(scopes)}", list(scopes)).token)


def assert_unavailable(r: httpx.Response, component: str, *hidden: str) -> dict[str, Any]:
    """503 application/problem+json with Retry-After, naming `component`, nothing internal."""
    assert r.status_code == 503, (r.request.url, r.text)
    assert r.headers["content-type"] == PROBLEM
    assert r.headers["retry-after"].isdigit() and int(r.headers["retry-after"]) > 0
    body: dict[str, Any] = r.json()
    assert body["status"] == 503 and body["unavailable"] == component, body
    assert "Retry-After" in body["detail"] or "retry" in body["detail"].lower()
    for secret in hidden:
        assert secret not in r.text
    return body


def projected(engine: Engine, case_id: str) -> bool:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        return case is not None and case.version >= 1


def notes(engine: Engine, case_id: str, text_: str) -> int:
    with Session(engine) as session:
        found = session.exec(
            select(CaseEvent).where(
                col(CaseEvent.case_id) == case_id, col(CaseEvent.kind) == "note"
            )
        ).all()
        return sum(1 for e in found if e.summary == text_)


# ---------------------------------------------------------------- health and readiness


async def test_healthz_says_only_that_the_process_lives(app: FastAPI, lost: LostVolume) -> None:
    lost.begin()
    async with client_for(app) as c:
        r = await c.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_readyz_checks_the_database_and_temporal(
    app: FastAPI, lost: LostVolume, tmp_path: Path
) -> None:
    async with client_for(app) as c:
        ready = await c.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.headers["content-type"] == "application/json"
        assert ready.headers["cache-control"] == "no-store"
        body = ready.json()
        assert body["status"] == "ready"
        assert body["checks"]["database"]["status"] == "up"
        assert body["checks"]["temporal"]["status"] == "up"
        assert body["checks"]["database"]["latency_ms"] >= 0

        lost.begin()
        down = await c.get("/readyz")
        assert down.status_code == 503 and down.headers["retry-after"].isdigit()
        body = down.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"]["status"] == "down"
        assert body["checks"]["database"]["error"]  # the kind of error, for the operator
        assert body["checks"]["temporal"]["status"] == "up"
        assert str(tmp_path) not in down.text  # no paths (or hosts) on a public endpoint

        lost.end()
        assert (await c.get("/readyz")).status_code == 200


async def test_readyz_names_temporal_when_it_cannot_be_reached(
    engine: Engine, settings: Settings
) -> None:
    from api import create_app

    down = await Client.connect("127.0.0.1:1", lazy=True, data_converter=PLAIN_DATA_CONVERTER)
    async with client_for(create_app(settings, temporal=down, engine=engine)) as c:
        r = await c.get("/readyz")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert (checks["database"]["status"], checks["temporal"]["status"]) == ("up", "down")


async def test_the_app_starts_while_temporal_is_down(settings: Settings) -> None:
    """It connects on first use: up, not ready, and it says why."""
    from api import create_app

    down = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    with ServerThread(create_app(down)) as base:
        async with httpx.AsyncClient(base_url=base) as c:
            assert (await c.get("/healthz")).status_code == 200
            r = await c.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["temporal"]["status"] == "down"


# ---------------------------------------------------------------- the JSON API


async def test_the_api_answers_503_while_the_database_is_gone_and_loses_nothing(
    app: FastAPI, engine: Engine, lost: LostVolume, tmp_path: Path
) -> None:
    headers = token(engine, "cases:write", "cases:read", "delegate")
    async with client_for(app, headers=headers) as c:
        first = await c.post("/api/v1/cases", json=BODY)
        assert first.status_code == 201, first.text
        case_id = first.json()["id"]
        await wait_version(c, case_id, 1)

        lost.begin()
        keyed = {"Idempotency-Key": "during-the-outage"}
        note = {"acting_user": "ole", "text": "Called the guest"}
        answers = [
            await c.get("/api/v1/cases"),
            await c.get(f"/api/v1/cases/{case_id}"),
            await c.post("/api/v1/cases", json=BODY, headers=keyed),
            await c.post(f"/api/v1/cases/{case_id}/notes", json=note, headers=keyed),
            await c.post("/api/v1/survey-responses", json=SURVEY),
        ]
        for r in answers:
            assert_unavailable(r, "database", str(tmp_path), "sqlite", "Traceback")

        lost.end()
        again = await c.post("/api/v1/cases", json=BODY, headers=keyed)
        assert again.status_code == 201, again.text
        replay = await c.post("/api/v1/cases", json=BODY, headers=keyed)
        assert (replay.status_code, replay.json()["id"]) == (201, again.json()["id"])
        for _ in range(2):
            r = await c.post(f"/api/v1/cases/{case_id}/notes", json=note, headers=keyed)
            assert r.status_code == 200, r.text
    with Session(engine) as session:
        assert len(session.exec(select(Case.id)).all()) == 2
    assert notes(engine, case_id, "Called the guest") == 1


async def test_an_action_answers_503_when_temporal_cannot_take_it(
    engine: Engine, settings: Settings
) -> None:
    from api import create_app

    apply_config(engine, config_with_passwords(PASSWORD))
    case_id = version0_case(engine, CaseCreate.model_validate(BODY)).case_id
    down = await Client.connect("127.0.0.1:1", lazy=True, data_converter=PLAIN_DATA_CONVERTER)
    app = create_app(settings, temporal=down, engine=engine)
    headers = token(engine, "cases:write", "cases:read", "delegate")
    async with client_for(app, headers=headers) as c:
        r = await c.post(
            f"/api/v1/cases/{case_id}/notes",
            json={"acting_user": "ole", "text": "Called"},
            headers={"Idempotency-Key": "n-1"},
        )
        assert_unavailable(r, "temporal", "127.0.0.1:1", "Failed client connect")
        assert (await c.get(f"/api/v1/cases/{case_id}")).status_code == 200  # reads still work

        # The page's form: the banner, and the form stays as typed.
        await log_in(c, "ole", PASSWORD)
        page = await c.get(f"/cases/{case_id}")
        r = await c.post(
            f"/cases/{case_id}/notes",
            data={"text": "Called", "action_id": "a-1"},
            headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(page.text)},
        )
    assert r.status_code == 503 and r.headers["retry-after"].isdigit()
    assert r.headers["hx-retarget"] == "#outage" and r.headers["hx-reswap"] == "outerHTML"
    assert 'id="outage"' in r.text and "not saved" in r.text and "<html" not in r.text


async def test_a_bug_is_a_500_problem_without_internals(app: FastAPI, engine: Engine) -> None:
    def boom() -> None:
        raise RuntimeError("internal detail at /srv/secret/path")

    def bad_sql() -> None:
        with engine.connect() as conn:
            conn.execute(text("select * from no_such_table"))  # OperationalError on SQLite too

    app.add_api_route("/api/v1/boom", boom)
    app.add_api_route("/api/v1/bad-sql", bad_sql)
    app.add_api_route("/boom", boom)
    async with client_for(app) as c:
        for path in ("/api/v1/boom", "/api/v1/bad-sql"):
            r = await c.get(path)
            assert r.status_code == 500, r.text
            assert r.headers["content-type"] == PROBLEM
            body = r.json()
            assert body["title"] == "Internal Server Error"
            assert body["request_id"] == r.headers["x-request-id"]
            assert "secret" not in r.text and "no_such_table" not in r.text
            assert "retry-after" not in r.headers
        page = await c.get("/boom", headers={"Accept": "text/html"})
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in page.text and "secret" not in page.text
    assert page.headers["x-request-id"] in page.text
    assert "content-security-policy" in page.headers


# ---------------------------------------------------------------- pages


async def test_pages_show_a_friendly_unavailable_page(
    app: FastAPI, engine: Engine, settings: Settings, lost: LostVolume, tmp_path: Path
) -> None:
    case_id = version0_case(engine, CaseCreate.model_validate(BODY)).case_id
    async with client_for(app) as c:
        await log_in(c, "ole", PASSWORD)
        page = await c.get(f"/cases/{case_id}")
        assert page.status_code == 200
        csrf = csrf_of(page.text)
        lost.begin()

        full = await c.get("/inbox")
        assert full.status_code == 503 and full.headers["retry-after"].isdigit()
        assert full.headers["content-type"].startswith("text/html")
        assert "temporarily unavailable" in full.text.lower()
        assert 'class="site-header"' in full.text  # the pages' own layout
        assert re.search(r'<meta http-equiv="refresh" content="\d+">', full.text)  # tries again
        assert (
            "content-security-policy" in full.headers
            and "no-store" in full.headers["cache-control"]
        )
        assert str(tmp_path) not in full.text and "sqlite" not in full.text.lower()

        fragment = await c.get("/inbox", headers={"HX-Request": "true"})
        assert fragment.status_code == 503
        assert fragment.headers["hx-retarget"] == "#outage"
        assert 'id="outage"' in fragment.text and "<html" not in fragment.text

        form = await c.post(
            f"/cases/{case_id}/notes",
            data={"text": "Called", "action_id": "a-2"},
            headers={"HX-Request": "true", "X-CSRF-Token": csrf},
        )
        assert form.status_code == 503 and "not saved" in form.text

        events = await c.get("/events", headers={"Accept": "text/event-stream"})
        assert events.status_code == 503 and events.headers["retry-after"].isdigit()

        survey = await c.get(f"/survey/{make_survey_token(settings, case_id)}")
        assert survey.status_code == 503 and "try again" in survey.text.lower()
        assert "Sign out" not in survey.text  # the customer's own layout, no staff menu

        lost.end()
        assert (await c.get("/inbox")).status_code == 200


async def test_metrics_still_answer_while_the_database_is_gone(
    app: FastAPI, lost: LostVolume
) -> None:
    async with client_for(app) as c:
        assert "caseloop_read_model_up 1.0" in (await c.get("/metrics")).text
        lost.begin()
        r = await c.get("/metrics")
    assert r.status_code == 200
    assert "caseloop_read_model_up 0.0" in r.text
    assert "caseloop_http_request_duration_seconds" in r.text


# ---------------------------------------------------------------- an action the workflow holds


async def test_an_action_the_workflow_accepted_finishes_once_the_database_is_back(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings, lost: LostVolume
) -> None:
    """The worker runs but cannot write the read model: the workflow accepts the note (it is in
    the case's history) and its projection waits for the database; it applies once it is back."""
    from api import create_app

    apply_config(engine, config_with_passwords(PASSWORD))
    app = create_app(settings, temporal=dev_env.client, engine=engine)
    note = AddNote(Actor("ole"), "Written while the database was away")
    key: dict[str, Any] = {"idempotency_key": "accepted-1", "wait_seconds": 2}
    try:
        async with running_worker(dev_env.client, engine, settings):
            async with client_for(app, headers=token(engine, "cases:write", "delegate")) as c:
                r = await c.post("/api/v1/cases", json=BODY)
            case_id = r.json()["id"]
            await eventually(lambda: projected(engine, case_id), 30, "projected")
            lost.begin()
            try:
                with pytest.raises(ActionPending) as first:
                    await run_update(dev_env.client, case_id, CaseWorkflow.add_note, note, **key)
                # Accepted (durable) once the workflow task that took it completes, with its
                # projection still retrying; until then Temporal only holds it (admitted).
                assert first.value.stage in ("admitted", "accepted")
                action_id = first.value.action_id

                async def accepted() -> bool:
                    return await update_stage(dev_env.client, case_id, action_id) == "accepted"

                await eventually(accepted, 30, "the note accepted", every=0.5)
                with pytest.raises(ActionPending) as again:
                    await run_update(dev_env.client, case_id, CaseWorkflow.add_note, note, **key)
                assert (again.value.stage, again.value.action_id) == ("accepted", action_id)
            finally:
                lost.end()  # else the worker could not stop: its projection retries for ever
            await eventually(lambda: notes(engine, case_id, note.text) == 1, 30, "projected")
            ack = await run_update(
                dev_env.client, case_id, CaseWorkflow.add_note, note, idempotency_key="accepted-1"
            )
            assert ack.status.value == "in_progress"
        assert notes(engine, case_id, note.text) == 1
    finally:
        await terminate_cases(dev_env, engine)
