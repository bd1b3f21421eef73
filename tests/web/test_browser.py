"""The inbox and the case workspace in Debian's Chromium, against the running app and Temporal."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from sqlmodel import Session

from core.payload_crypto import key_ring
from domain.case import Actor
from domain.vocabulary import ClosingStatus
from models.case import Document
from services import documents
from services.case_actions import run_update
from tests.factories import case_row
from tests.web.conftest import LiveApp, page_token, sign_in
from workflows.case import CaseWorkflow
from workflows.messages import CloseCase

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


async def test_owner_sees_a_case_arrive_works_it_and_closes_it(
    open_page: Any, live: LiveApp, artifacts: Path
) -> None:
    from playwright.async_api import expect

    page = await open_page("ole")
    await expect(page.get_by_role("link", name="Mine")).to_have_attribute("aria-current", "page")

    # Opened while the inbox is on screen: it appears without a reload (SSE + HTMX re-fetch).
    case_id = await live.open_case(
        customer={"name": "Live Larsen", "email": "live@example.com", "phone": "+47 555 00 001"},
        transaction={"date": "2026-11-20", "room": "808"},
    )
    row = page.locator(f"tr[data-case='{case_id}']")
    await expect(row).to_be_visible(timeout=15_000)
    await expect(row).to_contain_text("Live Larsen")
    await expect(row).to_contain_text("to first contact")
    await page.screenshot(path=str(artifacts / "inbox.png"), full_page=True)

    await row.get_by_role("link", name=case_id).click()
    await page.wait_for_url(f"**/cases/{case_id}")
    await expect(page).to_have_title(re.compile(case_id))
    status = page.locator(".case-head .status")
    await expect(status).to_have_text("New")
    await expect(page.locator("#customer-title + dl")).to_contain_text("live@example.com")
    await expect(page.get_by_text("808")).to_be_visible()

    # A note: the first owner action turns the case "in progress".
    await page.get_by_label("Note", exact=True).fill("Called the guest; offered a room change.")
    await page.get_by_role("button", name="Add note").click()
    await expect(page.locator(".flash")).to_have_text("Note added.")
    await expect(status).to_have_text("In progress")
    await expect(page.locator(".timeline")).to_contain_text("offered a room change")

    # An inline validation error keeps the page and says what is missing.
    await page.get_by_text("Close the case").click()
    await page.get_by_label("Resolved", exact=True).check()
    await page.get_by_label("Final note").fill("x")
    await page.get_by_role("button", name="Close case").click()
    await expect(page.locator(".field-error")).to_contain_text("at least one root cause")
    await expect(status).to_have_text("In progress")

    # A document: too big is stopped in the page already; the right one is stored, on the
    # timeline and downloadable.
    await page.get_by_text("Upload a document").click()
    file_input = page.get_by_label("File")
    await file_input.set_input_files(
        files=[{"name": "huge.pdf", "mimeType": "application/pdf", "buffer": PDF * 4000}]
    )
    await page.get_by_role("button", name="Upload").click()
    message = await file_input.evaluate("e => e.validationMessage")
    assert "larger than the limit of 256 KB" in message
    await file_input.set_input_files(
        files=[{"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator(".flash")).to_have_text("receipt.pdf uploaded.")
    link = page.get_by_role("link", name="receipt.pdf")
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    downloaded = await download.path()
    assert await asyncio.to_thread(Path(downloaded).read_bytes) == PDF

    # Close as resolved with two root causes.
    await page.get_by_text("Close the case").click()
    await page.get_by_label("Resolved", exact=True).check()
    await page.get_by_label("staff").check()
    await page.get_by_label("product").check()
    await page.get_by_label("Apology").check()
    await page.get_by_label("Final note").fill("Refunded one night; the guest is happy.")
    await page.screenshot(path=str(artifacts / "case.png"), full_page=True)
    await page.get_by_role("button", name="Close case").click()
    await expect(status).to_have_text("Closed")
    await expect(page.locator(".flash")).to_have_text("Case closed.")
    await expect(page.get_by_role("heading", name="Work the case")).to_have_count(0)
    await page.screenshot(path=str(artifacts / "case-closed.png"), full_page=True)

    case = case_row(live.engine, case_id)
    assert (case.status, case.closing_status) == ("closed", "resolved")
    assert case.root_causes == ["staff", "product"] and case.resolution_methods == ["apology"]
    with Session(live.engine) as session:
        doc = session.query(Document).filter_by(case_id=case_id).one()
    assert (doc.filename, doc.content_type, doc.size) == (
        "receipt.pdf",
        "application/pdf",
        len(PDF),
    )
    # Encrypted at rest; the key ring reads it back as it was sent.
    stored = (live.settings.upload_dir / doc.id).read_bytes()
    assert PDF not in stored
    assert documents.load(live.settings.upload_dir, doc.id, key_ring(live.settings)) == PDF


async def test_contact_attempt_watchers_and_reassignment(open_page: Any, live: LiveApp) -> None:
    from playwright.async_api import expect

    case_id = await live.open_case(customer={"name": "Handover Hilde"})
    page = await open_page("ole")
    await page.goto(f"/cases/{case_id}")

    await page.get_by_text("Log a contact attempt").click()
    await page.get_by_label("How").select_option("phone")
    await page.get_by_label("Outcome").select_option("left_message")
    await page.get_by_label("Note (optional)").fill("Voicemail, will call back at 3.")
    await page.get_by_role("button", name="Log attempt").click()
    await expect(page.locator(".flash")).to_have_text("Contact attempt logged.")
    await expect(page.locator(".timeline")).to_contain_text(
        "Contact attempt by phone: left message"
    )

    await page.get_by_text("Add a watcher").click()
    await page.get_by_label("Person").select_option("alex")
    await page.get_by_label("Read only").check()
    await page.get_by_role("button", name="Add watcher").click()
    await expect(page.locator(".watchers")).to_contain_text("Alex Agent (read only)")
    await page.get_by_role("button", name="Remove Alex Agent as watcher").click()
    await expect(page.locator(".flash")).to_have_text("Watcher removed.")
    await expect(page.locator(".watchers")).not_to_contain_text("Alex Agent")

    # Without a reason the reassignment is refused inline; with one, the case leaves ole's hands.
    await page.locator("summary", has_text="Reassign").click()
    await page.get_by_label("New owner").select_option("alex")
    await page.get_by_label("Reason").fill(" ")
    await page.get_by_role("button", name="Reassign").click()
    await expect(page.locator("#reassign-reason-error")).to_have_text(
        "Say why the case changes hands."
    )
    await expect(page.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    await page.get_by_label("Reason").fill("Alex handles billing disputes.")
    await page.get_by_role("button", name="Reassign").click()
    await page.wait_for_url("**/inbox")
    await expect(page.locator(".flash")).to_contain_text(f"{case_id}: Case reassigned.")
    await expect(page.locator(f"tr[data-case='{case_id}']")).to_have_count(0)
    case = case_row(live.engine, case_id)
    assert (case.owner_id, case.status) == ("alex", "in_progress")


async def test_limited_watcher_sees_the_case_read_only(open_page: Any, live: LiveApp) -> None:
    from playwright.async_api import expect

    case_id = await live.open_case(customer={"name": "Watched Wenche"})
    page = await open_page("fred")  # field manager: limited watcher
    await page.get_by_role("link", name="Watching").click()
    await expect(page).to_have_title("Watching · Inbox · Caseloop")
    row = page.locator(f"tr[data-case='{case_id}']")
    await expect(row).to_be_visible()
    await row.get_by_role("link", name=case_id).click()
    await page.wait_for_url(f"**/cases/{case_id}")
    await expect(page.get_by_role("heading", name="Why the alert was raised")).to_be_visible()
    await expect(page.get_by_text("You can follow this case but not change it")).to_be_visible()
    await expect(page.get_by_role("heading", name="Work the case")).to_have_count(0)
    await expect(
        page.get_by_role("button", name=re.compile("Add note|Close case|Upload"))
    ).to_have_count(0)
    await expect(page.get_by_role("button", name=re.compile("^Remove"))).to_have_count(0)

    # Posting anyway (a crafted request with a valid session and token) is refused.
    async with sign_in(live, "fred") as client:
        token = await page_token(client, f"/cases/{case_id}")
        r = await client.post(
            f"/cases/{case_id}/notes", data={"text": "sneaky", "csrf_token": token}
        )
        assert r.status_code == 403
        assert "read-only" in r.text
    assert case_row(live.engine, case_id).version <= 1


async def test_designee_receives_the_escalated_case_live(open_page: Any, live: LiveApp) -> None:
    from playwright.async_api import expect

    page = await open_page("mia")  # ole's manager: the designee
    await page.get_by_role("link", name="Escalated to me", exact=True).click()
    await expect(page.get_by_role("link", name="Escalated to me", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    case_id = await live.open_case(program_id="fast", customer={"name": "Escalated Eva"})
    # The late owner has the case open and is writing a note when the deadline passes.
    ole = await open_page("ole")
    await ole.goto(f"/cases/{case_id}")
    await ole.get_by_label("Note", exact=True).fill("Sorry, I was on leave.")

    row = page.locator(f"tr[data-case='{case_id}']")
    # open deadline 3 s, resolve deadline 8 s: then the case moves to mia, level 1.
    await expect(row).to_be_visible(timeout=30_000)
    await expect(row).to_contain_text("Level 1")
    await expect(row).to_contain_text("Mia Manager")
    case = case_row(live.engine, case_id)
    assert (case.owner_id, case.escalation_level, case.status) == ("mia", 1, "overdue")

    # ole's open page was told, and the note is refused with the reason and the state as it is.
    await expect(ole.locator(".notice")).to_contain_text("escalated to mia", timeout=10_000)
    await ole.get_by_role("button", name="Add note").click()
    await expect(ole.locator(".rejected")).to_contain_text("read-only access")
    await expect(ole.locator(".case-head")).to_contain_text("Mia Manager")
    await expect(ole.locator(".case-head")).to_contain_text("Escalation level 1")
    await expect(ole.get_by_role("heading", name="Work the case")).to_have_count(0)

    await row.get_by_role("link", name=case_id).click()
    await expect(page.locator(".timeline")).to_contain_text("escalated to mia")
    # ole (the late owner) stays on as a read-only watcher
    await expect(page.locator(".watchers")).to_contain_text("Ole Owner (read only)")


async def test_search_and_status_filter_narrow_the_list(
    open_page: Any, live: LiveApp, artifacts: Path
) -> None:
    from playwright.async_api import expect

    zed = await live.open_case(customer={"name": "Zed Zimmer", "email": "zed@example.com"})
    yara = await live.open_case(customer={"name": "Yara Young", "phone": "+47 999 88 777"})
    await run_update(
        live.client,
        yara,
        CaseWorkflow.close,
        CloseCase(Actor("ole"), ClosingStatus.UNRESOLVED, ["staff"], "Unreachable."),
    )
    page = await open_page("ole")
    rows = page.locator("table.cases tbody tr")

    search = page.get_by_label("Search cases")
    await search.fill("zimmer")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(zed)
    assert "q=zimmer" in page.url
    await search.fill("zed@example.com")
    await expect(rows).to_have_count(1)
    await search.fill(zed.lower())
    await expect(rows).to_have_count(1)
    await search.fill("")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator(f"tr[data-case='{zed}']")).to_be_visible()
    await expect(page.locator(f"tr[data-case='{yara}']")).to_have_count(0)  # open only

    await page.get_by_role("link", name=re.compile("^Closed")).click()
    await expect(page.locator(f"tr[data-case='{yara}']")).to_be_visible()
    await expect(page.locator(f"tr[data-case='{zed}']")).to_have_count(0)
    for row_text in await rows.all_inner_texts():
        assert "Closed" in row_text
    # the search keeps the status filter; the phone number finds Yara's case
    await search.fill("+47 999 88 777")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(yara)
    await page.get_by_role("link", name=re.compile("^All")).click()
    await expect(rows).to_have_count(1)

    # Phone width: the list becomes cards and stays usable.
    phone = await open_page("ole", viewport={"width": 390, "height": 844})
    await expect(phone.locator(f"tr[data-case='{zed}']")).to_be_visible()
    await phone.screenshot(path=str(artifacts / "inbox-phone.png"), full_page=True)
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways at phone width ({width}px)"


async def test_keyboard_reaches_the_search_and_the_cases(open_page: Any, live: LiveApp) -> None:
    from playwright.async_api import expect

    page = await open_page("ole")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.keyboard.press("Enter")
    for _ in range(3):
        await page.keyboard.press("Tab")
        if await page.get_by_label("Search cases").evaluate("e => e === document.activeElement"):
            break
    await expect(page.get_by_label("Search cases")).to_be_focused()


async def test_sign_out_ends_the_session(live: LiveApp) -> None:
    async with sign_in(live, "ole") as client:
        token = await page_token(client)
        r = await client.post("/logout", data={"csrf_token": token})
        assert r.status_code == 303
        r = await client.get("/inbox")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_the_programs_taxonomy_on_the_case_page(open_page: Any, live: LiveApp) -> None:
    """Filed under a category and sub-category; closing asks what the program requires:
    here no root cause, but a resolution method."""
    from playwright.async_api import expect

    from domain.program import ProgramIn
    from services.configuration import apply_config, export_config

    with Session(live.engine) as session:
        doc = export_config(session)
    recovery = next(p for p in doc.programs if p.id == "recovery")
    changed = recovery.model_dump(mode="json") | {
        "categories": [
            {"name": "Housekeeping", "subcategories": ["Room cleanliness", "Linen"]},
            {"name": "Survey concern"},
            {"name": "Low survey score"},
        ],
        "root_causes_required": False,
        "resolution_methods_required": True,
    }
    apply_config(
        live.engine, doc.model_copy(update={"programs": [ProgramIn.model_validate(changed)]})
    )
    try:
        case_id = await live.open_case(category="housekeeping", subcategory="linen")
        page = await open_page("ole")
        await page.goto(f"/cases/{case_id}")
        filed = page.get_by_text(re.compile(r"Category: Housekeeping \W Linen"))
        await expect(filed).to_be_visible()
        await page.get_by_text("Close the case").click()
        await expect(page.get_by_text("Root causes (optional)")).to_be_visible()
        await expect(page.get_by_text("Resolution methods (one or more)")).to_be_visible()
        await page.get_by_label("Unresolved", exact=False).check()
        await page.get_by_label("Final note").fill("The guest could not be reached.")
        await page.get_by_role("button", name="Close case").click()
        await expect(page.locator(".field-error")).to_contain_text("at least one resolution method")
        await page.get_by_label("Apology").check()
        await page.get_by_role("button", name="Close case").click()
        await expect(page.locator(".case-head .status")).to_have_text("Closed")
        case = case_row(live.engine, case_id)
        assert (case.root_causes, case.resolution_methods) == ([], ["apology"])
    finally:
        apply_config(live.engine, doc.model_copy(update={"programs": [recovery]}))
