"""Many tabs in one browser: one live stream for all of them, hidden tabs let go of it, and every
button shows that its request runs and says when it failed."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
from temporalio.client import Client

from core.temporal import PLAIN_DATA_CONVERTER
from domain.case import Actor
from services.case_actions import run_update
from tests.live import ServerThread, eventually, fill_login_form, free_port, sse_events
from tests.web.conftest import PASSWORD, LiveApp, sign_in
from workflows.case import CaseWorkflow
from workflows.messages import AddNote

# Chromium opens at most 6 HTTP/1.1 connections per host; more pages than that is the proof.
CASE_TABS = 6
STREAMS = re.compile(r"^caseloop_live_streams (\S+)$", re.M)


async def open_streams(base_url: str) -> int:
    """The server's own count of open live streams (/metrics, read from loopback)."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        r = await client.get("/metrics")
    found = STREAMS.search(r.text)
    assert found, r.text[:500]
    return int(float(found.group(1)))


async def streams_become(base_url: str, n: int, what: str) -> None:
    async def reached() -> bool:
        return await open_streams(base_url) == n

    await eventually(reached, what=what)


async def note_while_away(live: LiveApp, case_id: str, text: str) -> None:
    """Add a note while the tabs are away, and wait until the server's feed has passed it (a
    stream of its own hears of it): a tab coming back without its last id would miss it."""
    async with sign_in(live, "ole") as client, client.stream("GET", f"/events?case={case_id}") as r:
        events = sse_events(r)
        await anext(events)  # the badge: the stream is open
        await run_update(live.client, case_id, CaseWorkflow.add_note, AddNote(Actor("ole"), text))
        async with asyncio.timeout(20):
            async for event in events:
                if event.event == "case" and text in event.data:
                    return


async def set_visibility(page: Any, state: str) -> None:
    """What the browser does when the tab goes to the background (or comes back)."""
    await page.evaluate(
        """state => {
            const get = () => state;
            Object.defineProperty(document, "visibilityState", {configurable: true, get});
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


async def test_many_tabs_share_one_stream_and_leave_room_for_a_note(
    open_page: Any, live: LiveApp
) -> None:
    from playwright.async_api import expect

    cases = [await live.open_case(customer={"name": f"Tab Tove {i}"}) for i in range(CASE_TABS)]
    inbox = await open_page("ole")
    await expect(inbox.locator(f"tr[data-case='{cases[-1]}']")).to_be_visible(timeout=15_000)
    pages = [inbox]
    for case_id in cases:
        tab = await inbox.context.new_page()
        await tab.goto(f"/cases/{case_id}", timeout=20_000)
        await expect(tab.get_by_role("heading", name="Work the case")).to_be_visible()
        pages.append(tab)
    twin = await inbox.context.new_page()  # the last case a second time: it hears the note
    await twin.goto(f"/cases/{cases[-1]}", timeout=20_000)
    pages.append(twin)

    # Eight pages, one stream: the tabs share it (a page holds no stream of its own).
    await streams_become(live.base_url, 1, "one stream for all tabs")

    last = pages[-2]
    await last.get_by_label("Note", exact=True).fill("Written in the seventh tab.")
    await last.get_by_role("button", name="Add note").click()
    await expect(last.locator(".flash")).to_have_text("Note added.", timeout=20_000)
    await expect(last.locator(".timeline")).to_contain_text("Written in the seventh tab.")
    # The other tab on the same case is told; the inbox shows the case in progress now.
    await expect(twin.locator(".notice")).to_contain_text("This case has just changed")
    await expect(twin.locator(".notice")).to_contain_text("Written in the seventh tab.")
    await expect(inbox.locator(f"tr[data-case='{cases[-1]}'] .status")).to_have_text("In progress")
    await expect(last.locator(".notice")).to_have_count(0)  # its own change, already shown

    # Every tab in the background: the stream closes.
    for page in pages:
        await set_visibility(page, "hidden")
    await streams_become(live.base_url, 0, "no stream while hidden")

    # Meanwhile someone adds a note; the tab shown again replays what it missed.
    watched = pages[1]
    await note_while_away(live, cases[0], "Noted meanwhile.")
    await set_visibility(watched, "visible")
    await expect(watched.locator(".notice")).to_contain_text("Noted meanwhile.", timeout=15_000)
    await streams_become(live.base_url, 1, "the stream back")


async def test_without_shared_workers_a_tab_holds_one_stream_of_its_own(
    open_page: Any, live: LiveApp
) -> None:
    """Browsers without SharedWorker: each tab its own stream, closed while hidden and reopened
    from the last id it saw (a new EventSource sends no Last-Event-ID: `last_id` does)."""
    from playwright.async_api import expect

    case_id = await live.open_case(customer={"name": "Solo Sven"})
    first = await open_page("ole")
    await first.context.add_init_script("delete window.SharedWorker")
    tab = await first.context.new_page()
    await first.close()  # the worker's stream goes with its last tab
    await tab.goto(f"/cases/{case_id}")
    assert await tab.evaluate("typeof SharedWorker") == "undefined"
    await streams_become(live.base_url, 1, "the tab's own stream")

    await set_visibility(tab, "hidden")
    await streams_become(live.base_url, 0, "no stream while hidden")
    await note_while_away(live, case_id, "Noted in between.")
    await set_visibility(tab, "visible")
    await expect(tab.locator(".notice")).to_contain_text("Noted in between.", timeout=15_000)
    await streams_become(live.base_url, 1, "the stream back")


async def test_buttons_show_their_request_and_its_failure(
    browser: Any, live: LiveApp, open_page: Any
) -> None:
    from playwright.async_api import expect

    case_id = await live.open_case(customer={"name": "Busy Bodil"})
    page = await open_page("ole")
    await page.goto(f"/cases/{case_id}")

    # While the request runs the button says so and cannot be pressed twice.
    release = asyncio.Event()

    async def hold(route: Any) -> None:
        await release.wait()
        await route.continue_()

    await page.route("**/notes", hold)
    await page.get_by_label("Note", exact=True).fill("Slow but sure.")
    await page.get_by_role("button", name="Add note").click()
    busy = page.get_by_role("button", name="Adding note…")
    await expect(busy).to_be_disabled()
    await expect(busy).to_have_attribute("aria-busy", "true")
    release.set()
    await expect(page.locator(".flash")).to_have_text("Note added.", timeout=20_000)
    await expect(page.get_by_role("button", name="Add note")).to_be_enabled()
    await page.unroute("**/notes")

    # An app whose Temporal is gone (500), then no app at all: the page says so at the button.
    down = await Client.connect("127.0.0.1:1", lazy=True, data_converter=PLAIN_DATA_CONVERTER)
    port = free_port()
    settings = live.settings.model_copy(
        update={"public_base_url": f"http://127.0.0.1:{port}", "task_queue": uuid.uuid4().hex}
    )
    from api import create_app

    server = ServerThread(create_app(settings, engine=live.engine, temporal=down), port)
    await asyncio.to_thread(server.start)
    stopped = False
    context = await browser.new_context(base_url=server.base_url)
    try:
        other = await context.new_page()
        await other.goto("/login")
        await fill_login_form(other, "ole", PASSWORD)
        await other.wait_for_url("**/inbox")
        await other.goto(f"/cases/{case_id}")
        note = other.get_by_label("Note", exact=True)
        await note.fill("This one fails.")
        await other.get_by_role("button", name="Add note").click()
        # Temporal down: the 503's banner above the page says so; the form keeps the text.
        outage = other.locator("#outage")
        await expect(outage).to_contain_text("Your change was not saved")
        await expect(outage).to_have_attribute("role", "alert")
        await expect(other.get_by_role("button", name="Add note")).to_be_enabled()
        await expect(note).to_have_value("This one fails.")  # nothing typed is lost

        await asyncio.to_thread(server.stop)
        stopped = True
        await other.get_by_role("button", name="Add note").click()
        error = other.locator("form .request-error")
        await expect(error).to_contain_text("Not sent: the server could not be reached")
        await expect(other.get_by_role("button", name="Add note")).to_be_enabled()
    finally:
        await context.close()
        if not stopped:
            await asyncio.to_thread(server.stop)
