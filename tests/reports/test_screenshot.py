"""The dashboard in Debian's Chromium with the demo data; the screenshot is a test artifact."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from core.demo import DEMO_PASSWORD, seed_demo
from core.settings import Settings
from core.temporal import DATA_CONVERTER, ensure_search_attributes
from models.db import make_engine
from tests.conftest import ARTIFACTS, binary, migrate, terminate_cases, unavailable
from tests.factories import running_worker
from tests.reports.conftest import with_report_routes

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


class Server:
    """uvicorn on a free port in a thread (its own event loop)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh server whose clock is the wall clock: the demo back-dates its cases from now."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=DATA_CONVERTER,
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def demo_site(
    ts_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    from api import create_app

    tmp: Path = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{tmp / 'caseloop.db'}"
    migrate(url)
    settings = Settings(
        database_url=url,
        task_queue=f"caseloop-demo-{uuid.uuid4().hex[:8]}",
        upload_dir=tmp / "uploads",
        public_base_url="http://127.0.0.1",
        secret_key=f"test-{uuid.uuid4().hex}",  # type: ignore[arg-type]
    )
    engine = make_engine(url)
    async with running_worker(ts_env.client, engine, settings):
        await seed_demo(engine, ts_env.client, settings)
        app = with_report_routes(create_app(settings, temporal=ts_env.client, engine=engine))
        with Server(app) as base_url:
            yield base_url
        await terminate_cases(ts_env, engine)
    engine.dispose()


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install the dev extras)")
        raise
    path = shutil.which("chromium")
    if path is None:
        unavailable("Debian's chromium is not installed (apt-get install chromium)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def test_dashboard_in_chromium_with_demo_data(demo_site: str, chromium: Any) -> None:
    from playwright.async_api import expect

    context = await chromium.new_context(
        base_url=demo_site, viewport={"width": 1360, "height": 900}
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    await page.goto("/login?next=/dashboard")
    await page.get_by_label("User name").fill("admin")
    await page.get_by_label("Password").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/dashboard")
    await expect(page.get_by_role("heading", name="Customer resolution dashboard")).to_be_visible()
    await expect(page.locator("#report h2").first).to_contain_text("12 cases created")
    await expect(page.locator("#chart-status svg a.bar")).to_have_count(4)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # A filter change re-renders the report in place (HTMX), and the URL follows it.
    await page.get_by_label("Unit", exact=True).select_option("4723")
    await expect(page).to_have_url(re.compile(r"unit=4723"))
    await expect(page.locator("#report h2").first).to_contain_text("5 cases created")

    # A bar is a link to the matching case list.
    bar = page.locator("#chart-status a.bar").filter(has_text="Overdue")
    await bar.click()
    await page.wait_for_url("**/dashboard/cases?**")
    await expect(page.locator("#list-title")).to_contain_text("case")
    assert "status=overdue" in page.url and "unit=4723" in page.url
    assert not errors, errors
    await context.close()
    await asyncio.sleep(0)
