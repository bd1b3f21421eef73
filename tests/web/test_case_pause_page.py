"""Waiting on the customer on the case page and in the inbox, in Chromium: the buttons (busy
while they run, errors inline), the paused clock with its automatic resume, and the resume."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tests.factories import case_row
from tests.web.conftest import LiveApp


async def test_owner_pauses_and_resumes_a_case(open_page: Any, live: LiveApp) -> None:
    from playwright.async_api import expect

    case_id = await live.open_case(customer={"name": "Paula Pause"})
    page = await open_page("ole")
    await page.goto(f"/cases/{case_id}")
    due_before = case_row(live.engine, case_id).resolve_due_at

    # Without saying what it waits for, the pause is refused inline.
    await page.locator("summary", has_text="Waiting on customer").click()
    note = page.get_by_label("What are you waiting for?")
    await note.fill(" ")
    button = page.get_by_role("button", name="Waiting on customer")
    await button.click()
    await expect(page.locator("#pause-note-error")).to_have_text(
        "Say what the case is waiting for."
    )
    await expect(note).to_have_attribute("aria-invalid", "true")

    # Busy while it runs; then the case says it is waiting, since when and until when.
    await note.fill("Asked the guest for the booking number.")
    release = asyncio.Event()

    async def hold(route: Any) -> None:
        await release.wait()
        await route.continue_()

    await page.route("**/pause", hold)
    await button.click()
    await expect(page.get_by_role("button", name="Pausing…")).to_be_disabled()
    release.set()
    await expect(page.locator(".flash")).to_have_text(
        "The case is waiting on the customer; its clock is paused.", timeout=20_000
    )
    await page.unroute("**/pause")
    await expect(page.locator(".case-head .badges")).to_contain_text("Waiting on the customer")
    await expect(page.locator("#case-pause")).to_contain_text(
        re.compile(r"Paused 1 minute, resumes \w{3} \d")
    )
    await expect(page.locator(".timeline .event-paused").first).to_contain_text("booking number")
    row = case_row(live.engine, case_id)
    assert row.paused_since is not None and row.pause_resumes_at is not None
    assert row.next_due_at is None  # out of the due and overdue lists while waiting

    # The inbox row says it too.
    await page.goto("/inbox")
    inbox_row = page.locator(f"tr[data-case='{case_id}']")
    await expect(inbox_row).to_contain_text("Paused 1 minute")
    await expect(inbox_row).to_contain_text(re.compile(r"resumes \w{3} \d\d:\d\d"))

    # Resumed by the owner: the badge goes, the deadline moved by the paused time (a little).
    await page.goto(f"/cases/{case_id}")
    await page.get_by_role("button", name="Resume").click()
    await expect(page.locator(".flash")).to_have_text(
        "The case is no longer waiting; its deadlines moved on."
    )
    await expect(page.locator(".case-head .badges")).not_to_contain_text("Waiting on")
    await expect(page.locator(".timeline .event-resumed").first).to_be_visible()
    after = case_row(live.engine, case_id)
    assert after.paused_since is None and after.next_due_at == after.open_due_at  # still new
    assert due_before and after.resolve_due_at and after.resolve_due_at >= due_before
    # A pause of seconds may hold no business time (whole seconds on the program's calendar,
    # none outside its hours: tests/test_case_pause.py checks the arithmetic); the page says
    # what the ledger holds.
    facts = page.locator(".case-head .facts")
    if after.paused_seconds:
        await expect(facts).to_contain_text(
            re.compile(r"Waited on the customer\s*\d+ h \d\d min of business time")
        )
    else:
        await expect(facts).not_to_contain_text("Waited on the customer")
    # The case can wait again.
    await expect(page.locator("summary", has_text="Waiting on customer")).to_be_visible()
