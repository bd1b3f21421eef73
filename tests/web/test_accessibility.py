"""axe-core (vendored, tests/web/vendor) on every page, as the user who would see it: no serious
or critical violation anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session

from activities.remeasurement import make_survey_token
from domain.case import Actor
from models.case import Case
from services.case_actions import run_update
from tests.live import fill_login_form
from tests.web.conftest import PASSWORD, LiveApp
from workflows.case import CaseWorkflow
from workflows.messages import AddTask, CompleteTask

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
# What the check reports: enough to find the element and the rule.
RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(
      n => n.target.join(" ") + " :: " + n.failureSummary)}));
}"""


async def violations(page: Any) -> list[dict[str, Any]]:
    """axe's serious and critical findings on the page as it is now (loaded through the
    DevTools protocol: the page's CSP allows our scripts only)."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(AXE)
    found: list[dict[str, Any]] = await page.evaluate(RUN)
    return found


async def signed_in(browser: Any, live: LiveApp, user: str | None, **context: Any) -> Any:
    ctx = await browser.new_context(base_url=live.base_url, **context)
    page = await ctx.new_page()
    if user:
        await page.goto("/login")
        await fill_login_form(page, user, PASSWORD)
        await page.wait_for_url("**/inbox")
    return page


async def check(page: Any, path: str, report: dict[str, Any], status: int = 200) -> None:
    response = await page.goto(path)
    assert response is not None and response.status == status, (path, response and response.status)
    await page.wait_for_load_state("load")
    found = await violations(page)
    if found:
        report[f"{path} ({await page.title()})"] = found


def survey_waiting(live: LiveApp, case_id: str) -> str:
    with Session(live.engine) as session:  # a survey waiting for the customer's answer
        case = session.get(Case, case_id)
        assert case is not None
        case.remeasure_status = "pending"
        session.add(case)
        session.commit()
    return make_survey_token(live.settings, case_id)


async def test_no_serious_accessibility_violations_on_any_page(browser: Any, live: LiveApp) -> None:
    from tests.web.test_security import settled

    case_id = await live.open_case()
    await settled(live, case_id)  # the workflow's first projection is written
    report: dict[str, Any] = {}

    anon = await signed_in(browser, live, None)
    await check(anon, "/login", report)
    await check(anon, "/no-such-page", report, 404)
    await check(anon, f"/survey/{survey_waiting(live, case_id)}", report)
    nb = await signed_in(browser, live, None, locale="nb-NO")
    await check(nb, "/login", report)

    owner = await signed_in(browser, live, "ole")
    for path in ("/inbox", f"/cases/{case_id}", "/notifications", "/dashboard"):
        await check(owner, path, report)
    await check(owner, "/admin/outbox", report, 403)

    # A case with tasks (issue 18): its tasks panel, and the assignee's "My tasks".
    await run_update(
        live.client,
        case_id,
        CaseWorkflow.add_task,
        AddTask(Actor("ole"), "Call back", "mia", "PT8H"),
    )
    await run_update(
        live.client, case_id, CaseWorkflow.add_task, AddTask(Actor("ole"), "Refund", "ole")
    )
    await run_update(
        live.client, case_id, CaseWorkflow.complete_task, CompleteTask(Actor("ole"), "2")
    )
    await check(owner, f"/cases/{case_id}", report)
    manager = await signed_in(browser, live, "mia")
    await check(manager, "/inbox/tasks", report)
    await check(manager, f"/cases/{case_id}", report)
    await check(manager, "/dashboard", report)
    await check(manager, "/inbox?tab=team", report)
    await check(manager, "/dashboard/cases?status=open", report)

    admin = await signed_in(browser, live, "root")
    for path in (
        "/admin/outbox",
        "/admin/templates",
        "/admin/templates/recovery",
        "/admin/customers/merge",
        "/admin/audit",
        "/admin/users",
    ):
        await check(admin, path, report)
    await check(admin, "/admin", report, 404)
    # The admin menu, opened.
    await admin.get_by_text("Admin", exact=True).click()
    found = await violations(admin)
    if found:
        report["/admin (menu open)"] = found

    # The same pages in Norwegian (longer words, the language picker used).
    await admin.goto("/admin/templates")
    await admin.get_by_label("Language").select_option(label="Norsk bokmål")
    await admin.get_by_role("button", name="Change language").click()
    await admin.get_by_role("button", name="Bytt språk").wait_for()
    for path in ("/dashboard", "/admin/outbox", "/notifications", "/admin/audit", "/admin/users"):
        await check(admin, path, report)

    async with httpx.AsyncClient(base_url=live.base_url) as client:
        assert (await client.get("/healthz")).status_code == 200
    assert not report, json.dumps(report, indent=2)
