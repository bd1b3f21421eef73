"""The dashboard in Debian's Chromium with the demo data; the screenshots are test artifacts."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from activities.remeasurement import make_survey_token
from cli.demo import DEMO_PASSWORD, seed_demo
from core.settings import Settings
from models.case import Case
from models.db import make_engine
from tests.conftest import sqlite_db, terminate_cases, time_skipping_env
from tests.factories import running_worker
from tests.live import ServerThread, eventually, fill_login_form
from tests.reports.conftest import with_report_routes


@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh server whose clock is the wall clock: the demo back-dates its cases from now."""
    async with time_skipping_env() as env:
        yield env


@dataclass(frozen=True)
class Demo:
    url: str
    settings: Settings
    engine: Engine


@pytest.fixture(scope="module")
async def demo(
    ts_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Demo]:
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
            yield Demo(base_url, settings, engine)
        await terminate_cases(ts_env, engine)
    engine.dispose()


@pytest.fixture(scope="module")
def demo_site(demo: Demo) -> str:
    return demo.url


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


# ---------------------------------------------------------------- My figures


def demo_case(engine: Engine, ref: str) -> Case:
    with Session(engine) as session:
        case = session.exec(select(Case).where(Case.external_ref == ref)).one()
        session.expunge(case)
        return case


def owned_by(engine: Engine, owner: str) -> list[Case]:
    with Session(engine) as session:
        return list(session.exec(select(Case).where(Case.owner_id == owner)).all())


async def test_an_owner_opens_my_figures_from_the_nav(
    demo: Demo, browser: Any, artifacts: Path
) -> None:
    """Olga's customer answers the survey of her resolved case; Olga signs in, opens "My
    figures" from the navigation, reads her SLA met %, the age of her open cases (chart and
    table) and her remeasurement score, and clicks through to her own cases."""
    from playwright.async_api import expect

    def surveyed() -> Case | None:
        case = demo_case(demo.engine, "demo-09")  # Olga's, closed as resolved
        return case if case.remeasure_status == "pending" else None

    resolved = await eventually(surveyed, what="demo-09 surveyed")
    token = make_survey_token(demo.settings, resolved.id, resolved.reopened_count)

    customer = await browser.new_context(base_url=demo.url)
    page = await customer.new_page()
    await page.goto(f"/survey/{token}")
    await page.get_by_label("4: Satisfied").check()
    await page.get_by_label("Yes", exact=True).check()
    await page.get_by_role("button", name="Send my answer").click()
    await expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    await customer.close()
    await eventually(
        lambda: demo_case(demo.engine, "demo-09").remeasure_status == "answered",
        what="the answer in the read model",
    )

    # What the figures must say, from Olga's rows in the read model.
    mine = owned_by(demo.engine, "olga")
    closed = [c for c in mine if c.status == "closed"]
    met = [c for c in closed if not c.went_overdue]
    sla = f"{round(100 * len(met) / len(closed), 1):g}%"
    open_now = sum(c.is_open for c in mine)
    assert closed and open_now

    context = await browser.new_context(base_url=demo.url, viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    await page.goto("/login")
    await fill_login_form(page, "olga", DEMO_PASSWORD)
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Dashboard")).to_have_count(0)
    await nav.get_by_role("link", name="My figures").click()
    await page.wait_for_url("**/dashboard")
    await expect(page.get_by_role("heading", name="My figures", exact=True)).to_be_visible()
    figures = page.get_by_role("list", name="Key figures")
    await expect(figures.get_by_role("listitem").filter(has_text="SLA met")).to_contain_text(sla)
    recovered = figures.get_by_role("listitem").filter(has_text="Recovered")
    await expect(recovered).to_contain_text("100%")
    await expect(recovered).to_contain_text("satisfaction 4.00/5")
    survey = figures.get_by_role("listitem").filter(has_text="Survey response")
    await expect(survey).to_contain_text("100%")
    # The age of her open cases: a chart, and the same figures as a table.
    chart = page.get_by_role("figure", name="Open cases by age")
    await expect(chart.get_by_role("link")).to_have_count(4)
    table = page.get_by_role("table", name="Open cases by age")
    await expect(table.get_by_role("row")).to_have_count(1 + 4)
    counts = {
        (await row.get_by_role("rowheader").inner_text()): int(
            await row.get_by_role("cell").inner_text()
        )
        for row in await table.get_by_role("row").all()
        if await row.get_by_role("cell").count()
    }
    assert sum(counts.values()) == open_now, counts
    await expect(page.get_by_role("link", name="Alex")).to_have_count(0)
    await page.screenshot(path=str(artifacts / "my-figures.png"), full_page=True)

    # The oldest bar with cases leads to exactly those cases, all of them hers.
    label, count = [(k, v) for k, v in counts.items() if v][-1]
    await chart.get_by_role("link", name=f"{label}: {count}").click()
    await page.wait_for_url("**/dashboard/cases?**")
    heading = f"{count} case" if count == 1 else f"{count} cases"
    await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    rows = page.get_by_role("table").get_by_role("row")
    await expect(rows).to_have_count(1 + count)
    owners = page.get_by_role("table").locator("td[data-label=Owner]")
    assert set(await owners.all_inner_texts()) == {"Olga Owner"}
    await expect(page.get_by_text(f"open now for {label.lower()}")).to_be_visible()

    # Back on her figures, the open cases' link lists every one of them.
    await page.get_by_role("link", name="My figures", exact=True).first.click()
    await page.get_by_role("link", name=f"{open_now} open", exact=True).click()
    await expect(page.get_by_role("heading", name=f"{open_now} cases")).to_be_visible()
    assert set(await owners.all_inner_texts()) == {"Olga Owner"}
    await context.close()


async def test_a_manager_opens_the_dashboard_of_their_units_from_the_nav(
    demo: Demo, browser: Any
) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(base_url=demo.url, viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    await page.goto("/login")
    await fill_login_form(page, "max", DEMO_PASSWORD)
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="My figures")).to_have_count(0)
    await nav.get_by_role("link", name="Dashboard").click()
    await page.wait_for_url("**/dashboard")
    await expect(page.get_by_role("heading", name="Customer resolution dashboard")).to_be_visible()
    await expect(page.locator("#report h2").first).to_contain_text("5 cases created")
    await expect(page.get_by_text("your units: 4723")).to_be_visible()
    await expect(page.get_by_role("figure", name="Open cases by age")).to_be_visible()
    await expect(page.get_by_label("Owner", exact=True)).to_be_visible()
    await context.close()


async def test_the_readme_screenshots(demo: Demo, browser: Any, artifacts: Path) -> None:
    """The inbox of an owner, a late case and the dashboard as the README shows them.
    `make screenshots` writes them to docs/screenshots/ (README_SCREENSHOTS); otherwise they
    are test artifacts."""
    from playwright.async_api import expect

    out = Path(os.environ.get("README_SCREENSHOTS") or artifacts)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    viewport = {"width": 1360, "height": 1300}
    owner = await browser.new_context(base_url=demo.url, viewport=viewport)
    page = await owner.new_page()
    await page.goto("/login?next=/inbox")
    await fill_login_form(page, "olga", DEMO_PASSWORD)
    await page.wait_for_url("**/inbox**")
    await expect(page.get_by_text(re.compile(r"business hours? past due")).first).to_be_visible()
    await page.screenshot(path=str(out / "inbox.png"))
    await owner.close()

    admin = await browser.new_context(base_url=demo.url, viewport=viewport)
    page = await admin.new_page()
    await page.goto("/login")
    await fill_login_form(page, "admin", DEMO_PASSWORD)
    late = demo_case(demo.engine, "demo-06")
    await page.goto(f"/cases/{late.id}")
    await expect(page.get_by_role("heading", name=re.compile(late.id))).to_be_visible()
    await page.screenshot(path=str(out / "case.png"))

    await page.goto("/dashboard")
    await expect(page.locator("#report h2").first).to_contain_text("cases created")
    await page.screenshot(path=str(out / "dashboard.png"))
    await admin.close()
