"""The real app served by uvicorn (a background thread) on the real Temporal dev server.

Timers run on the wall clock, so the "fast" program's deadlines (seconds) really pass while a
browser watches. One app, one worker and one SQLite file per test module.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.program import ProgramIn, UnitIn
from models.api import CaseCreate
from models.db import make_engine
from services.configuration import apply_config
from services.intake import open_case
from tests.conftest import sqlite_db, terminate_cases
from tests.factories import config_with_passwords, running_worker
from tests.live import ServerThread, csrf_of, fill_login_form, free_port, log_in
from tests.notify.conftest import SmtpSink

PASSWORD = "correct horse battery"
UPLOAD_LIMIT = 256 * 1024

# Deadlines in seconds: a case goes overdue after 3 s and escalates to the owner's manager after
# 8 s; the designee then has an hour, and there is no second level.
FAST_PROGRAM: dict[str, Any] = {
    "id": "fast",
    "name": "Fast Lane",
    "calendar": {"always_open": True},
    "sla": {"open_within": "PT3S", "resolve_within": "PT8S", "warn_before": None},
    "escalation": {"max_level": 1, "reassign_resolve_within": "PT1H"},
    "remeasure": {"enabled": False},
    "root_causes": ["staff", "product"],
    "resolution_methods": ["apology"],
    "default_owner": "dora",
    # Its public web form (/forms/fast), every field shown.
    "intake": {
        "unit": "4723",
        "web_form": {
            "enabled": True,
            "fields": {
                "name": "required",
                "email": "required",
                "phone": "optional",
                "order_ref": "optional",
                "category": "optional",
                "message": "required",
            },
        },
    },
}


def seed_web(engine: Engine) -> None:
    """Test users with passwords; unit 4723 (owner ole) and 9000 (owner alex, unrelated to ole)."""
    doc = config_with_passwords(PASSWORD)
    doc.units.append(UnitIn(id="9000", name="Bergen Quay", frontline_owner="alex", manager="dora"))
    doc.programs.append(ProgramIn.model_validate(FAST_PROGRAM))
    apply_config(engine, doc)


@dataclass
class LiveApp:
    base_url: str
    engine: Engine
    settings: Settings
    client: Client

    async def open_case(self, **fields: Any) -> str:
        body: dict[str, Any] = {
            "program_id": "recovery",
            "unit_id": "4723",
            "channel": "contact_center",
            "customer": {"name": "Kari Nordmann", "email": "kari@example.com"},
            "transaction": {"date": "2026-11-20", "room": "412"},
            "category": "Housekeeping",
            "reason": "Room not cleaned on arrival",
            "verbatim": "The room smelled of smoke and nobody came.",
        }
        body.update(fields)
        result = await open_case(
            self.engine, self.client, self.settings, CaseCreate.model_validate(body)
        )
        return result.case_id


@asynccontextmanager
async def serve_app(
    dev_env: WorkflowEnvironment, tmp: Path, seed: Callable[[Engine], None], **settings: Any
) -> AsyncIterator[LiveApp]:
    """The app on its own port, SQLite file and task queue, with a worker, seeded by `seed`;
    `settings` add to (or replace) the ones every live app has."""
    from api import create_app

    url = sqlite_db(tmp)
    port = free_port()
    values: dict[str, Any] = {
        "database_url": url,
        "temporal_address": dev_env.client.service_client.config.target_host,
        "temporal_namespace": dev_env.client.namespace,
        "task_queue": f"caseloop-{tmp.name}-{uuid.uuid4().hex[:8]}",
        "upload_dir": tmp / "uploads",
        "public_base_url": f"http://127.0.0.1:{port}",
        "secret_key": f"test-{uuid.uuid4().hex}",
    }
    app_settings = Settings(**{**values, **settings})
    engine = make_engine(url)
    seed(engine)
    server = ServerThread(create_app(app_settings, engine=engine), port)
    async with running_worker(dev_env.client, engine, app_settings):
        await asyncio.to_thread(server.start)
        try:
            yield LiveApp(f"http://127.0.0.1:{port}", engine, app_settings, dev_env.client)
        finally:
            await asyncio.to_thread(server.stop)
            await terminate_cases(dev_env, engine)
    engine.dispose()


@pytest.fixture(scope="module")
async def live(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveApp]:
    tmp = tmp_path_factory.mktemp("web")
    async with serve_app(dev_env, tmp, seed_web, upload_max_bytes=UPLOAD_LIMIT) as app:
        yield app


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) that keeps what it receives, one per test module."""
    smtp = SmtpSink(free_port())
    smtp.start()
    yield smtp
    smtp.stop()


def mail_to(sink: SmtpSink) -> dict[str, Any]:
    """The settings of an app that sends its mail to `sink`."""
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": sink.port,
        "mail_from": "Guest Recovery <recovery@example.com>",
    }


# ---------------------------------------------------------------- HTTP helpers (no browser)


@asynccontextmanager
async def sign_in(
    live: LiveApp, username: str, password: str = PASSWORD
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with a signed-in session (cookie jar), as a browser would hold it."""
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
        await log_in(client, username, password)
        yield client


async def page_token(client: httpx.AsyncClient, path: str = "/inbox") -> str:
    r = await client.get(path)
    assert r.status_code == 200, r.text
    return csrf_of(r.text)


# ---------------------------------------------------------------- the browser


@pytest.fixture
async def open_page(browser: Any, live: LiveApp) -> AsyncIterator[Any]:
    """`await open_page(user, **context)`: a new browser context signed in as `user`."""
    from playwright.async_api import expect

    contexts: list[Any] = []

    async def signed_in(user: str, **context: Any) -> Any:
        ctx = await browser.new_context(base_url=live.base_url, **context)
        contexts.append(ctx)
        page = await ctx.new_page()
        await page.goto("/inbox")
        await page.wait_for_url("**/login?next=/inbox")
        await fill_login_form(page, user, PASSWORD)
        await page.wait_for_url("**/inbox")
        await expect(page).to_have_title(re.compile("Inbox"))
        return page

    yield signed_in
    for ctx in contexts:  # closes the pages' SSE streams before the server stops
        await ctx.close()


__all__ = [
    "PASSWORD",
    "UPLOAD_LIMIT",
    "LiveApp",
    "csrf_of",
    "page_token",
    "sign_in",
]
