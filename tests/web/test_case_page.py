"""The case page as owners and managers use it in Chromium: reclassify, reopen, the customer's
other cases, the survey answer, and a timeline that says who did what."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from domain.case import Actor, Watcher
from domain.program import ProgramIn
from domain.vocabulary import Access, ClosingStatus, EventKind, Role
from models.case import CaseEvent
from services.case_actions import run_update, send_remeasurement
from services.configuration import apply_config, export_config
from tests.factories import case_row
from tests.web.conftest import LiveApp
from workflows.case import CaseWorkflow
from workflows.messages import AddWatcher, CloseCase, RemeasureAnswer

OLE = Actor("ole", Role.AGENT, "Ole Owner")


@pytest.fixture
def taxonomy(live: LiveApp) -> Iterator[None]:
    """The recovery program with categories and sub-categories, for one test."""
    with Session(live.engine) as session:
        doc = export_config(session)
    recovery = next(p for p in doc.programs if p.id == "recovery")
    changed = recovery.model_dump(mode="json") | {
        "categories": [
            {"name": "Housekeeping", "subcategories": ["Room cleanliness", "Linen"]},
            {"name": "Billing", "subcategories": ["Overcharge"]},
        ],
    }
    apply_config(
        live.engine, doc.model_copy(update={"programs": [ProgramIn.model_validate(changed)]})
    )
    yield
    apply_config(live.engine, doc.model_copy(update={"programs": [recovery]}))


async def close(live: LiveApp, case_id: str, status: ClosingStatus) -> None:
    cmd = CloseCase(OLE, status, ["staff"], "Apologised", ["apology"])
    await run_update(live.client, case_id, CaseWorkflow.close, cmd)


async def test_owner_changes_category_and_priority(
    open_page: Any, live: LiveApp, taxonomy: None, artifacts: Path
) -> None:
    from playwright.async_api import expect

    case_id = await live.open_case(customer={"name": "Reclass Rita"}, subcategory="Linen")
    before = case_row(live.engine, case_id)
    page = await open_page("ole")
    await page.goto(f"/cases/{case_id}")
    await page.get_by_text("Change category or priority").click()
    category = page.get_by_label("Category", exact=True)
    await expect(category).to_have_value("Housekeeping")
    await expect(page.get_by_label("Sub-category")).to_have_value("Linen")
    await expect(page.get_by_label("Priority", exact=True)).to_have_value("normal")

    # Nothing changed: said at the field; a sub-category of another category: said too.
    await page.get_by_label("Why the change").fill("Checking")
    save = page.get_by_role("button", name="Save classification")
    await save.click()
    await expect(page.locator("#reclassify-category-error")).to_have_text(
        "Change the category or the priority first"
    )
    await category.select_option("Billing")
    await page.get_by_label("Sub-category").select_option("Linen")
    await save.click()
    await expect(page.locator("#reclassify-subcategory-error")).to_contain_text(
        "Billing has no sub-category 'Linen'"
    )
    await expect(page.get_by_label("Sub-category")).to_have_attribute("aria-invalid", "true")

    # A real change: busy while it runs, then on the page and the timeline with who did it.
    await page.get_by_label("Sub-category").select_option("Overcharge")
    await page.get_by_label("Priority", exact=True).select_option("urgent")
    await page.get_by_label("Why the change").fill("Charged twice; the guest is a VIP.")
    release = asyncio.Event()

    async def hold(route: Any) -> None:
        await release.wait()
        await route.continue_()

    await page.route("**/reclassify", hold)
    await save.click()
    busy = page.get_by_role("button", name="Saving…")
    await expect(busy).to_be_disabled()
    release.set()
    await expect(page.locator(".flash")).to_have_text("Case reclassified.", timeout=20_000)
    await page.unroute("**/reclassify")
    await expect(page.locator("#case-priority")).to_have_text("Urgent")
    await expect(page.locator("#case-category")).to_have_text(
        re.compile(r"Category: Billing \W Overcharge")
    )
    entry = page.locator(".timeline .event-reclassified").first
    await expect(entry.locator(".event-actor")).to_have_text("Ole Owner")
    await expect(entry).to_contain_text("Category: Housekeeping → Billing")
    await expect(entry).to_contain_text("Sub-category: Linen → Overcharge")
    await expect(entry).to_contain_text("Priority: normal → urgent")
    await expect(entry).to_contain_text("Reason: Charged twice; the guest is a VIP.")
    await page.get_by_text("Change category or priority").click()
    await page.screenshot(path=str(artifacts / "case-reclassified.png"), full_page=True)
    after = case_row(live.engine, case_id)
    assert (after.category, after.subcategory, after.priority) == (
        "Billing",
        "Overcharge",
        "urgent",
    )
    # Urgent: the deadlines are re-evaluated from the case's start, and come sooner.
    assert before.resolve_due_at and after.resolve_due_at
    assert after.resolve_due_at < before.resolve_due_at


async def test_manager_reopens_a_closed_case_with_a_reason(
    open_page: Any, live: LiveApp, artifacts: Path
) -> None:
    from playwright.async_api import expect

    case_id = await live.open_case(customer={"name": "Reopen Randi"})
    watcher = AddWatcher(OLE, Watcher("alex", Access.LIMITED))
    await run_update(live.client, case_id, CaseWorkflow.add_watcher, watcher)
    await close(live, case_id, ClosingStatus.UNRESOLVED)  # the workflow completes

    # A read-only watcher sees the closed case but no way to reopen it.
    alex = await open_page("alex")
    await alex.goto(f"/cases/{case_id}")
    await expect(alex.locator(".case-head .status")).to_have_text("Closed")
    await expect(alex.get_by_role("heading", name="Reopen the case")).to_have_count(0)

    page = await open_page("mia")  # the manager of the case's unit
    await page.goto(f"/cases/{case_id}")
    await expect(page.get_by_role("heading", name="Reopen the case")).to_be_visible()
    reason = page.get_by_label("Reason for reopening")
    await reason.fill("   ")
    await page.get_by_role("button", name="Reopen case").click()
    await expect(page.locator("#reopen-reason-error")).to_have_text("Say why the case is reopened.")
    await expect(reason).to_have_attribute("aria-invalid", "true")
    await reason.fill("The guest wrote again: the refund never arrived.")
    await page.get_by_role("button", name="Reopen case").click()
    await expect(page.locator(".flash")).to_have_text("Case reopened.", timeout=20_000)
    await expect(page.locator(".case-head .status")).to_have_text("In progress")
    entry = page.locator(".timeline .event-reopened").first
    await expect(entry.locator(".event-actor")).to_have_text("Mia Manager")
    await expect(entry).to_contain_text("Reason: The guest wrote again: the refund never arrived.")
    case = case_row(live.engine, case_id)
    assert (case.status, case.reopened_count, case.closing_status) == ("in_progress", 1, None)
    assert case.resolve_due_at is not None and case.next_due_at is not None
    await page.screenshot(path=str(artifacts / "case-reopened.png"), full_page=True)

    # The owner works the reopened case as before.
    owner = await open_page("ole")
    await owner.goto(f"/cases/{case_id}")
    await owner.get_by_label("Note", exact=True).fill("Refund sent again.")
    await owner.get_by_role("button", name="Add note").click()
    await expect(owner.locator(".flash")).to_have_text("Note added.")


async def test_other_cases_survey_answer_and_who_did_what(
    open_page: Any, live: LiveApp, artifacts: Path
) -> None:
    from playwright.async_api import expect

    guest = {"name": "Multi Marit", "email": "marit@example.com"}
    first = await live.open_case(customer=guest, reason="Noisy room")
    elsewhere = await live.open_case(customer=guest, unit_id="9000", reason="Cold breakfast")
    current = await live.open_case(customer=guest, reason="Room not cleaned")
    assert case_row(live.engine, first).customer_id == case_row(live.engine, current).customer_id

    # The owner sees the customer's cases they may see: not the one in another unit.
    page = await open_page("ole")
    await page.goto(f"/cases/{current}")
    others = page.locator("ul[aria-labelledby='others-title']")
    await expect(others.get_by_role("link", name=first)).to_be_visible()
    await expect(others.get_by_role("link", name=elsewhere)).to_have_count(0)
    # The contact snapshot stays.
    await expect(page.locator("#case-contact")).to_contain_text("marit@example.com")
    # An admin sees both, and follows one.
    admin = await open_page("root")
    await admin.goto(f"/cases/{current}")
    admin_others = admin.locator("ul[aria-labelledby='others-title']")
    await expect(admin_others.get_by_role("link")).to_have_count(2)
    await admin_others.get_by_role("link", name=elsewhere).click()
    await admin.wait_for_url(f"**/cases/{elsewhere}")

    # Resolved, the survey goes out; the customer's answer shows with its comment.
    await close(live, current, ClosingStatus.RESOLVED)
    await send_remeasurement_when_pending(live, current)
    await page.goto(f"/cases/{current}")
    survey = page.locator("#case-survey")
    await expect(survey).to_contain_text("Answered · recovery failed")
    facts = {
        "Satisfaction": "2/5",
        "Issue resolved": "No",
        "Comment": "The carpet still smells.",
    }
    for term, value in facts.items():
        fact = survey.locator("div", has=page.locator("dt", has_text=term))
        await expect(fact.locator("dd")).to_have_text(value)
    timeline = page.locator(".timeline")
    answered = timeline.locator(".event-remeasured")
    await expect(answered.locator(".event-actor")).to_have_text("The customer (survey)")
    await expect(answered).to_contain_text("The carpet still smells.")
    sent = timeline.locator(".event-remeasure_sent .event-actor")
    await expect(sent).to_have_text("Caseloop (automatic)")
    await expect(timeline.locator(".event-opened .event-actor")).to_have_text("Intake")
    await expect(timeline.locator(".event-closed .event-actor")).to_have_text("Ole Owner")
    await page.screenshot(path=str(artifacts / "case-survey-answered.png"), full_page=True)


async def send_remeasurement_when_pending(live: LiveApp, case_id: str) -> None:
    """Answer the survey once the workflow has sent it (as the public survey page would)."""
    for _ in range(100):
        if case_row(live.engine, case_id).remeasure_status == "pending":
            break
        await asyncio.sleep(0.1)
    await send_remeasurement(
        live.client, case_id, RemeasureAnswer(2, False, "The carpet still smells.")
    )
    for _ in range(100):
        if case_row(live.engine, case_id).remeasure_status == "answered":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the answer to {case_id}'s survey never arrived")


async def test_the_timeline_shows_every_kind_of_event_with_who_and_when(
    open_page: Any, live: LiveApp
) -> None:
    """Every event kind the workflow records, as the read model holds it: its label, its time
    and who (or what) did it."""
    from playwright.async_api import expect

    case_id = await live.open_case(customer={"name": "Timeline Tove"})
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    actors = {
        "ole": "Ole Owner",
        "system": "Caseloop (automatic)",
        "intake": "Intake",
        "customer (survey)": "The customer (survey)",
        "mia": "Mia Manager",
    }
    who = list(actors)
    with Session(live.engine) as session:
        for i, kind in enumerate(EventKind):
            session.add(
                CaseEvent(
                    case_id=case_id,
                    seq=100 + i,
                    at=start + timedelta(minutes=i),
                    kind=kind.value,
                    actor=who[i % len(who)],
                    summary=f"summary of {kind.value}",
                )
            )
        session.commit()
    page = await open_page("ole")
    await page.goto(f"/cases/{case_id}")
    for i, kind in enumerate(EventKind):
        at = (start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M")
        entry = page.locator(
            f".timeline li.event-{kind.value}", has=page.locator(f"time[datetime^='{at}']")
        )
        await expect(entry).to_have_count(1)
        await expect(entry.locator(".event-kind")).not_to_be_empty()
        await expect(entry.locator(".event-actor")).to_have_text(actors[who[i % len(who)]])


async def test_a_note_by_a_delegating_client_names_both(live: LiveApp) -> None:
    """A note a service client wrote for ole shows ole and the client on the case page."""
    from tests.web.conftest import sign_in
    from workflows.messages import AddNote

    case_id = await live.open_case(customer={"name": "Delegated Dag"})
    via_crm = Actor("ole", Role.AGENT, "Ole Owner", via="CRM connector")
    await run_update(live.client, case_id, CaseWorkflow.add_note, AddNote(via_crm, "Called back"))
    await run_update(live.client, case_id, CaseWorkflow.add_note, AddNote(OLE, "Myself"))
    async with sign_in(live, "ole") as client:
        html = (await client.get(f"/cases/{case_id}")).text
    actors = re.findall(r'<span class="event-actor">(.*?)</span></p>', html, re.S)
    texts = [re.sub(r"<[^>]+>", "", a).strip() for a in actors]
    assert "Ole Owner via CRM connector" in texts
    assert "Ole Owner" in texts  # the note ole wrote themselves names no client
