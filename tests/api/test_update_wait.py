"""Owner actions while no worker runs: a bounded wait, then 202 with where to look, never a hang.

Real Temporal dev server; the worker is stopped after the case is opened. Temporal admits the
update and holds it for the worker (it is not durable until a worker accepts it), so the API
answers 202 Accepted with the case's Location once UPDATE_WAIT_SECONDS pass; repeating with the
same Idempotency-Key is safe (the same update). When the worker is back the action applies,
once. (An action Temporal cannot even admit answers 503: tests/api/test_outages.py.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from models.case import Case
from services.configuration import apply_config
from tests.api.test_cases import BODY
from tests.api.test_outages import PASSWORD, client_for, notes, token
from tests.conftest import terminate_cases
from tests.factories import config_with_passwords, running_worker
from tests.live import csrf_of, eventually, log_in

WAIT = 2.0


async def post(c: httpx.AsyncClient, url: str, **kw: Any) -> httpx.Response:
    """A request that must be answered: a hang fails the test instead of stalling the suite."""
    return await asyncio.wait_for(c.post(url, **kw), 60)


@dataclass
class Stopped:
    app: FastAPI
    case_id: str


@pytest.fixture
async def stopped_worker(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> AsyncIterator[Stopped]:
    """A case opened and projected with a worker running; the worker is gone afterwards."""
    from api import create_app

    apply_config(engine, config_with_passwords(PASSWORD))
    settings = settings.model_copy(update={"update_wait_seconds": WAIT})
    app = create_app(settings, temporal=dev_env.client, engine=engine)
    try:
        async with running_worker(dev_env.client, engine, settings):
            async with client_for(app, headers=token(engine, "cases:write", "delegate")) as c:
                r = await c.post("/api/v1/cases", json=BODY)
                assert r.status_code == 201, r.text
            case_id = r.json()["id"]
            await eventually(lambda: version(engine, case_id) >= 1, 30, "projected")
        yield Stopped(app, case_id)
    finally:
        await terminate_cases(dev_env, engine)


def version(engine: Engine, case_id: str) -> int:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        return -1 if case is None else case.version


async def test_an_api_action_answers_202_and_applies_once_when_the_worker_is_back(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings, stopped_worker: Stopped
) -> None:
    case_id = stopped_worker.case_id
    note = {"acting_user": "ole", "text": "Called while the worker was away"}
    keyed = {"Idempotency-Key": "worker-away-1"}
    async with client_for(
        stopped_worker.app, headers=token(engine, "cases:write", "delegate")
    ) as c:
        started = time.monotonic()
        r = await post(c, f"/api/v1/cases/{case_id}/notes", json=note, headers=keyed)
        waited = time.monotonic() - started
        assert r.status_code == 202, r.text
        assert waited >= WAIT  # it did wait for the workflow first (no upper bound asserted)
        assert r.headers["location"] == f"/api/v1/cases/{case_id}"
        body = r.json()
        assert body["case_id"] == case_id and body["stage"] == "admitted"
        assert body["action_id"] and "Idempotency-Key" in body["detail"]
        # The same key again: the same update, still waiting.
        same = await post(c, f"/api/v1/cases/{case_id}/notes", json=note, headers=keyed)
        assert same.json()["action_id"] == body["action_id"]

        async with running_worker(dev_env.client, engine, settings):
            await eventually(
                lambda: notes(engine, case_id, note["text"]) == 1, 30, "the note applied"
            )
            again = await c.post(f"/api/v1/cases/{case_id}/notes", json=note, headers=keyed)
            assert again.status_code == 200, again.text
    assert notes(engine, case_id, note["text"]) == 1


async def test_a_page_action_says_it_will_apply_when_processing_resumes(
    dev_env: WorkflowEnvironment, engine: Engine, settings: Settings, stopped_worker: Stopped
) -> None:
    case_id = stopped_worker.case_id
    async with client_for(stopped_worker.app) as c:
        await log_in(c, "ole", PASSWORD)
        page = await c.get(f"/cases/{case_id}")
        r = await post(
            c,
            f"/cases/{case_id}/notes",
            data={"text": "Asked about the refund", "action_id": "page-away-1"},
            headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(page.text)},
        )
        assert r.status_code == 202, r.text
        assert 'id="outage"' not in r.text
        assert "resumes" in r.text  # the case as it is, with the news of the pending note
        assert "Asked about the refund" not in r.text  # not on the timeline yet
        async with running_worker(dev_env.client, engine, settings):
            await eventually(
                lambda: notes(engine, case_id, "Asked about the refund") == 1, 30, "applied"
            )
        assert "Asked about the refund" in (await c.get(f"/cases/{case_id}")).text


async def test_without_a_key_the_202_still_says_where_to_look(
    engine: Engine, stopped_worker: Stopped
) -> None:
    case_id = stopped_worker.case_id
    async with client_for(
        stopped_worker.app, headers=token(engine, "cases:write", "delegate")
    ) as c:
        r = await post(
            c, f"/api/v1/cases/{case_id}/notes", json={"acting_user": "ole", "text": "No key"}
        )
    assert r.status_code == 202 and r.headers["location"] == f"/api/v1/cases/{case_id}"
    assert r.json()["stage"] == "admitted"
