"""The dashboard in Debian's Chromium with the demo data; the screenshot is a test artifact."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from cli.demo import DEMO_PASSWORD, seed_demo
from core.settings import Settings
from models.db import make_engine
from tests.conftest import sqlite_db, terminate_cases, time_skipping_env
from tests.factories import running_worker
from tests.live import ServerThread, fill_login_form
from tests.reports.conftest import with_report_routes


@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh server whose clock is the wall clock: the demo back-dates its cases from now."""
    async with time_skipping_env() as env:
        yield env


@pytest.fixture(scope="module")
async def demo_site(
    ts_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    from api import create_app

    tmp: Path = tmp_path_factory.mktemp("demo")
    url = sqlite_db(tmp)
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
        with ServerThread(app) as base_url:
            yield base_url
        await terminate_cases(ts_env, engine)
    engine.dispose()


async def test_dashboard_in_chromium_with_demo_data(
    demo_site: str, browser: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(base_url=demo_site, viewport={"width": 1360, "height": 900})
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
    await fill_login_form(page, "admin", DEMO_PASSWORD)
    await page.wait_for_url("**/dashboard")
    await expect(page.get_by_role("heading", name="Customer resolution dashboard")).to_be_visible()
    await expect(page.locator("#report h2").first).to_contain_text("12 cases created")
    await expect(page.locator("#chart-status svg a.bar")).to_have_count(4)
    await page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

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


async def test_a_refused_filter_is_explained_next_to_its_field(
    demo_site: str, browser: Any, artifacts: Path
) -> None:
    """A filter change that cannot be used: the report's place says why and the form, swapped
    out of band, marks the field (the same message as the API's problem)."""
    from playwright.async_api import expect

    context = await browser.new_context(base_url=demo_site, viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    await page.goto("/login?next=/dashboard")
    await fill_login_form(page, "admin", DEMO_PASSWORD)
    await page.wait_for_url("**/dashboard")
    await page.get_by_label("Time zone").fill("Mars/Olympus")
    await page.get_by_label("Time zone").press("Enter")
    await expect(page.locator("#f-tz-error")).to_have_text("Unknown time zone 'Mars/Olympus'")
    await expect(page.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#report [role=alert]")).to_contain_text("Time zone")
    await page.screenshot(path=str(artifacts / "dashboard-refused-filter.png"), full_page=True)

    # Mended: the figures come back and the message goes.
    await page.get_by_label("Time zone").fill("Europe/Oslo")
    await page.get_by_label("Time zone").press("Enter")
    await expect(page.locator("#report h2").first).to_contain_text("cases created")
    await expect(page.locator("#f-tz-error")).to_have_count(0)
    await context.close()
