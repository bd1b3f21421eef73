"""axe-core (vendored, tests/web/vendor) on every page, as the user who would see it: no serious
or critical violation anywhere."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session

from activities.remeasurement import make_survey_token
from domain.audit import operator
from domain.case import Actor
from domain.permissions import Viewer
from domain.vocabulary import Role
from models.case import Case
from models.sessions import AccountLink
from models.types import utcnow
from services.case_actions import run_update
from services.case_links import merge, relate
from services.kb import Reader, create_article, link_article
from tests.live import fill_login_form
from tests.web.conftest import PASSWORD, LiveApp
from tests.web.test_webhook_page import seed_webhook
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


def account_link(live: LiveApp, purpose: str) -> str:
    """A valid one-time link's token for ole (made here: this app sends no mail)."""
    token = secrets.token_urlsafe(32)
    with Session(live.engine) as session:
        expires = utcnow() + timedelta(hours=1)
        key = hashlib.sha256(token.encode()).hexdigest()
        session.add(AccountLink(id=key, purpose=purpose, user_id="ole", expires_at=expires))
        session.commit()
    return token


async def links_and_articles(live: LiveApp, case_id: str) -> tuple[int, str]:
    """A published article linked to the case, a related case and a duplicate merged into it:
    the article's id and the duplicate's."""
    from tests.web.test_security import settled

    related, dup = await live.open_case(), await live.open_case()
    for other in (related, dup):
        await settled(live, other)
    viewer = Viewer("ole", "Ole Owner", Role.AGENT)
    with Session(live.engine) as session:
        a = create_article(
            session, operator("a11y"), program_id="recovery", title="Refunds",
            body="# Refunds\n\nRefund **one night**; see [the policy](https://example.com).",
            status="published",
        )  # fmt: skip
        case = session.get(Case, case_id)
        article_id = a.id
        assert case is not None and article_id is not None
        link_article(session, Reader(), case, article_id, "ole")
        relate(session, viewer, case, related)
    await merge(live.client, live.engine, live.settings, viewer, Actor("ole"), dup, case_id)
    return article_id, dup


async def test_no_serious_accessibility_violations_on_any_page(browser: Any, live: LiveApp) -> None:
    from tests.web.test_security import settled

    case_id = await live.open_case()
    await settled(live, case_id)  # the workflow's first projection is written
    report: dict[str, Any] = {}

    anon = await signed_in(browser, live, None)
    await check(anon, "/login", report)
    await check(anon, "/no-such-page", report, 404)
    await check(anon, f"/survey/{survey_waiting(live, case_id)}", report)
    await check(anon, "/forgot-password", report)
    await check(anon, f"/invite/{account_link(live, 'invite')}", report)
    await check(anon, f"/reset/{account_link(live, 'reset')}", report)
    await check(anon, "/invite/" + "x" * 43, report, 404)
    await anon.goto(f"/reset/{account_link(live, 'reset')}")  # a refused password, inline
    await anon.get_by_label("New password").fill("short")
    await anon.get_by_label("The same password again").fill("short")
    await anon.get_by_role("button", name="Set password and sign in").click()
    await anon.get_by_role("alert").wait_for()
    found = await violations(anon)
    if found:
        report["/reset (refused password)"] = found
    nb = await signed_in(browser, live, None, locale="nb-NO")
    await check(nb, "/login", report)
    # The public web form: empty, with its inline errors, and its confirmation page.
    for customer in (anon, nb):
        await check(customer, "/forms/fast", report)
        await customer.locator("button[type=submit]").click()
        await customer.wait_for_load_state("load")
        if found := await violations(customer):
            report[f"/forms/fast (errors, {await customer.title()})"] = found
    await anon.get_by_label("Your name").fill("Kari Nordmann")
    await anon.get_by_label("Email address").fill("kari@example.com")
    await anon.get_by_label("Your message").fill("The room was not cleaned")
    await anon.get_by_role("button", name="Send").click()
    await anon.wait_for_url("**/forms/fast/thanks")
    if found := await violations(anon):
        report["/forms/fast/thanks"] = found

    # The knowledge base, and the case page with related and merged cases and linked articles.
    article, dup = await links_and_articles(live, case_id)
    owner = await signed_in(browser, live, "ole")
    for path in (
        "/inbox",
        f"/cases/{case_id}",
        f"/cases/{case_id}?kbq=refund",
        f"/cases/{dup}",
        "/notifications",
        "/dashboard",
        "/kb",
        "/kb?q=refund",
        f"/kb/{article}",
    ):
        await check(owner, path, report)
    await check(owner, "/admin/outbox", report, 403)
    await check(owner, "/admin/programs", report, 403)

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
    await check(manager, "/kb/new", report)
    await check(manager, f"/kb/{article}/edit", report)
    await check(manager, "/inbox?tab=team", report)
    await check(manager, "/dashboard/cases?status=open", report)

    seed_webhook(live)
    admin = await signed_in(browser, live, "root")
    for path in (
        "/admin/webhooks",
        "/admin/outbox",
        "/admin/templates",
        "/admin/templates/recovery",
        "/admin/customers/merge",
        "/admin/audit",
        "/admin/users",
        "/admin/programs",
        "/admin/programs/recovery",
        "/admin/units",
        "/admin/clients",
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
    for path in (
        "/dashboard",
        "/admin/outbox",
        "/notifications",
        "/admin/audit",
        "/admin/users",
        "/admin/programs/recovery",
        "/admin/units",
        "/admin/clients",
        "/kb",
        f"/cases/{case_id}",
        "/admin/webhooks",
    ):
        await check(admin, path, report)

    async with httpx.AsyncClient(base_url=live.base_url) as client:
        assert (await client.get("/healthz")).status_code == 200
    assert not report, json.dumps(report, indent=2)
