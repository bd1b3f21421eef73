"""The program pages in Chromium, by visible labels: a program created with an SLA and a calendar
keeps the preview's promise to a case opened through the API; an SLA change undone from the
audit page; a stale form refused in place."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import expect
from sqlmodel import Session

from domain.program import ConfigDoc, ProgramIn
from models.case import Case
from services.config_writes import read_item
from services.configuration import apply_config
from services.tokens import create_client
from tests.live import eventually
from tests.web.conftest import LiveApp

OSLO = ZoneInfo("Europe/Oslo")


def sla_of(live: LiveApp, program_id: str) -> dict[str, Any]:
    found = read_item(live.engine, "programs", program_id)
    assert found is not None
    sla: dict[str, Any] = found[0]["sla"]
    return sla


async def admin_menu(page: Any, item: str) -> None:
    await page.get_by_text("Admin", exact=True).click()
    await page.get_by_role("link", name=item, exact=True).click()


async def test_the_preview_promise_is_the_due_date_of_a_case_opened_by_the_api(
    live: LiveApp, open_page: Any
) -> None:
    page = await open_page("root")
    await admin_menu(page, "Programs")
    await expect(page.get_by_role("heading", name="Programs", exact=True)).to_be_visible()
    await page.get_by_label("Program id").fill("harbour")
    await page.get_by_label("Name", exact=True).fill("Harbour Promise")
    await page.get_by_label("Root causes").fill("staff\nproduct")
    await page.get_by_role("button", name="Create program").click()
    await expect(page.get_by_role("heading", name="Harbour Promise")).to_be_visible()

    sla = page.locator("#sec-sla")
    normal = sla.locator('li[data-priority="normal"] time').nth(1)
    before = await normal.get_attribute("datetime")
    await sla.get_by_label("First response within").fill("4 business hours")
    await sla.get_by_label("Resolve within", exact=True).fill("20 business days")
    await sla.get_by_label("Time zone").fill("Europe/Oslo")
    await sla.get_by_label("Holiday country").fill("NO")
    # Today and tomorrow closed: a case opened any time today starts the clock at one moment.
    today = datetime.now(OSLO).date()
    await sla.get_by_label("Extra closed dates").fill(f"{today}\n{today + timedelta(days=1)}")
    await sla.get_by_label("Friday closes").fill("15:00")
    # The preview follows the unsaved fields (20 business days: never the default's instant).
    await expect(normal).not_to_have_attribute("datetime", before or "")
    await expect(sla.locator('li[data-priority="normal"]')).to_contain_text("(Europe/Oslo)")
    await sla.get_by_role("button", name="Save SLA and calendar").click()
    await expect(sla.get_by_role("status")).to_contain_text("Saved")
    assert sla_of(live, "harbour")["resolve_within"] == "20 business days"

    await page.reload()
    line = page.locator('#sec-sla li[data-priority="normal"]')
    await expect(line).to_contain_text("A case opened now would be due for first response")
    promised = await line.locator("time").nth(1).get_attribute("datetime")
    shown = await line.locator("time").nth(1).inner_text()
    assert promised

    token = create_client(live.engine, "intake-promise", ["cases:write", "delegate"]).token
    body = {
        "program_id": "harbour",
        "unit_id": "4723",
        "channel": "contact_center",
        "customer": {"name": "Kari Nordmann", "email": "kari@example.com"},
        "category": "Housekeeping",
        "reason": "Room not cleaned on arrival",
    }
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as api:
        r = await api.post("/api/v1/cases", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]

    def projected() -> Case | None:
        with Session(live.engine) as session:
            case = session.get(Case, case_id)
            return case if case is not None and case.version >= 1 else None

    case = await eventually(projected, what=f"{case_id} projected by the worker")
    assert case.resolve_due_at is not None
    assert case.resolve_due_at.astimezone(UTC) == datetime.fromisoformat(promised)
    await page.goto(f"/cases/{case_id}")
    due = page.locator("div", has=page.get_by_text("Resolve by", exact=True)).locator("dd time")
    assert await due.get_attribute("datetime") == promised
    assert shown.split(", ")[1] in await due.inner_text()  # the same clock time, Oslo


async def test_an_sla_change_restored_from_the_audit_page(live: LiveApp, open_page: Any) -> None:
    seed = ProgramIn.model_validate(
        {"id": "quay", "name": "Quay", "root_causes": ["staff"], "sla": {"resolve_within": "P2D"}}
    )
    apply_config(live.engine, ConfigDoc.model_construct(users=[], units=[], programs=[seed]))
    page = await open_page("root")
    await page.goto("/admin/programs")
    await page.get_by_role("link", name="Quay").click()
    sla = page.locator("#sec-sla")
    await expect(sla.get_by_label("Resolve within", exact=True)).to_have_value("P2D")
    await sla.get_by_label("Resolve within", exact=True).fill("P4D")
    await sla.get_by_role("button", name="Save SLA and calendar").click()
    await expect(sla.get_by_role("status")).to_contain_text("Saved")
    assert sla_of(live, "quay")["resolve_within"] == "P4D"

    await admin_menu(page, "Audit log")
    await page.get_by_label("Object", exact=True).select_option("quay")
    rows = page.locator("tr[data-entry]")
    await expect(rows).to_have_count(2)
    changed, created = rows.nth(0), rows.nth(1)
    await expect(changed).to_contain_text("sla.resolve_within")
    await expect(changed).to_contain_text("P2D → P4D")
    await expect(changed).to_contain_text("Ada Admin")
    await expect(created).to_contain_text(re.compile("create", re.IGNORECASE))
    await created.get_by_role("button", name="Restore this version").click()
    await expect(page.get_by_role("status")).to_contain_text("Program quay restored")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_contain_text("P4D → P2D")

    await page.goto("/admin/programs/quay")
    await expect(page.locator("#sec-sla").get_by_label("Resolve within", exact=True)).to_have_value(
        "P2D"
    )


async def test_a_stale_form_is_refused_in_place(live: LiveApp, open_page: Any) -> None:
    page = await open_page("root")
    await page.goto("/admin/programs/fast")
    field = page.locator("#sec-escalation").get_by_label("Highest escalation level")
    await expect(field).to_have_value("1")
    # Someone else changes the program meanwhile (here: the configuration file).
    found = read_item(live.engine, "programs", "fast")
    assert found is not None
    other = ProgramIn.model_validate({**found[0], "name": "Fast Lane (edited elsewhere)"})
    apply_config(live.engine, ConfigDoc.model_construct(users=[], units=[], programs=[other]))
    await field.fill("3")
    await page.get_by_role("button", name="Save escalation").click()
    await expect(page.locator("#sec-escalation").get_by_role("alert").first).to_contain_text(
        "changed by someone else meanwhile"
    )
    after = read_item(live.engine, "programs", "fast")
    assert after is not None
    assert after[0]["escalation"]["max_level"] == 1
    assert after[0]["name"] == "Fast Lane (edited elsewhere)"
