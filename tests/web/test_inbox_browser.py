"""The owner's inbox day in Chromium, as the user acts: past-due rows, priority and orders,
the summary strip, search everywhere, saved views, bulk actions with the people picker, pages
that keep every choice in the URL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, col, select

from domain.case import Actor, Watcher
from domain.vocabulary import Access, ClosingStatus, EventKind
from models.case import Case, CaseEvent, Notice
from services.case_actions import run_update
from tests.factories import case_row
from tests.live import eventually, fill_login_form
from tests.web.conftest import PASSWORD, LiveApp, page_token, sign_in
from workflows.case import CaseWorkflow
from workflows.messages import AddWatcher, CloseCase


def add_row(live: LiveApp, case_id: str, **fields: Any) -> None:
    """A case straight into the read model (the inbox reads only that): for states a workflow
    reaches only after days, such as a first-contact deadline missed 30 hours ago."""
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "id": case_id,
        "version": 1,
        "program_id": "recovery",
        "unit_id": "4723",
        "channel": "email",
        "owner_id": "dora",
        "status": "in_progress",
        "is_open": True,
        "customer_name": "Row Rasmussen",
        "created_at": now - timedelta(days=3),
    }
    data.update(fields)
    with Session(live.engine) as session:
        session.add(Case(**data))
        session.commit()


async def test_an_overdue_row_says_how_long_past_due(open_page: Any, live: LiveApp) -> None:
    from playwright.async_api import expect

    now = datetime.now(UTC)
    add_row(
        live,
        "C-990001",
        owner_id="ole",
        status="overdue",
        customer_name="Late Lars",
        open_due_at=now - timedelta(hours=30, minutes=5),
        open_breached=True,
        resolve_due_at=now + timedelta(hours=7, minutes=30),
        next_due_at=now + timedelta(hours=7, minutes=30),
    )
    page = await open_page("ole")
    row = page.locator("tr[data-case='C-990001']")
    due = row.get_by_role("cell", name=re.compile("past due"))
    # The program's calendar is open around the clock: business hours are wall hours here.
    await expect(due).to_contain_text("30 business hours past due")
    await expect(due).to_contain_text("7 hours left to resolve")
    await expect(due).not_to_contain_text("hours to resolve")
    assert await due.get_attribute("class") == "due due-past"
    await expect(row.locator(".late")).to_have_css("font-weight", "700")

    # The strip counts it, and its link opens the list of exactly those cases.
    strip = page.get_by_role("navigation", name="My cases at a glance")
    overdue = strip.get_by_role("link", name=re.compile("^Overdue"))
    await expect(overdue).to_contain_text("1")
    await overdue.click()
    await page.wait_for_url(re.compile(r"due=past"))
    await expect(page.locator("table.cases tbody tr")).to_have_count(1)
    await expect(page.get_by_text("Showing only past due")).to_be_visible()


async def test_priority_column_and_orders_in_the_url(open_page: Any, live: LiveApp) -> None:
    from playwright.async_api import expect

    low = await live.open_case(priority="low", customer={"name": "Prio Low"})
    urgent = await live.open_case(priority="urgent", customer={"name": "Prio Urgent"})
    page = await open_page("ole")
    rows = page.locator("table.cases tbody tr")
    await expect(page.locator(f"tr[data-case='{urgent}'] td[data-label=Priority]")).to_have_text(
        "Urgent"
    )
    await page.get_by_label("Sort by").select_option(label="Highest priority first")
    await page.wait_for_url(re.compile(r"sort=priority"))
    await expect(rows.first).to_have_attribute("data-case", urgent)
    await expect(page.get_by_role("columnheader", name="Priority")).to_have_attribute(
        "aria-sort", "descending"
    )
    await page.get_by_label("Sort by").select_option(label="Oldest first")
    await page.wait_for_url(re.compile(r"sort=oldest"))
    ids = await rows.evaluate_all("rs => rs.map(r => r.dataset.case)")
    assert ids.index(low) < ids.index(urgent)
    # The column header sorts too; a reload keeps the order (it is in the URL).
    await page.get_by_role("link", name="Priority", exact=True).click()
    await page.wait_for_url(re.compile(r"sort=priority"))
    await page.reload()
    await expect(rows.first).to_have_attribute("data-case", urgent)
    await expect(page.get_by_label("Sort by")).to_have_value("priority")


async def test_search_from_mine_finds_a_watched_case_of_another_unit(
    open_page: Any, live: LiveApp
) -> None:
    from playwright.async_api import expect

    elsewhere = await live.open_case(
        unit_id="9000",
        external_ref="ORD-77123",
        customer={"name": "Quay Quist", "phone": "+47 401 23 987"},
    )
    assert case_row(live.engine, elsewhere).owner_id == "alex"
    await run_update(
        live.client,
        elsewhere,
        CaseWorkflow.add_watcher,
        AddWatcher(Actor("alex"), Watcher("ole", Access.LIMITED)),
    )
    hidden = await live.open_case(unit_id="9000", customer={"name": "Quay Quiet"})

    page = await open_page("ole")
    await expect(page.get_by_role("link", name="Mine", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    rows = page.locator("table.cases tbody tr")
    search = page.get_by_label("Search cases")
    for term in ("quay", "ord-77123", "23 987", elsewhere):
        await search.fill(term)
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-case", elsewhere)
    everywhere = page.get_by_role("status").filter(has_text="among all cases you can see")
    await expect(everywhere).to_be_visible()
    # Access stays on the server: alex's other case there is not ole's to find.
    await search.fill("Quay Quiet")
    await expect(page.get_by_text("No cases here match your search.")).to_be_visible()
    await search.fill(hidden)
    await expect(page.get_by_text("No cases here match your search.")).to_be_visible()


async def test_a_saved_view_survives_sign_out(open_page: Any, live: LiveApp) -> None:
    from playwright.async_api import expect

    page = await open_page("ole")
    await page.get_by_label("Sort by").select_option(label="Highest priority first")
    await page.wait_for_url(re.compile(r"sort=priority"))
    await page.get_by_text("Save this view").click()
    await page.get_by_label("View name").fill("Urgent work")
    await page.get_by_label("Share with").select_option(label="Oslo Harbour (everyone in the unit)")
    await page.get_by_role("button", name="Save view").click()
    await expect(page.get_by_text("Saved “Urgent work”.")).to_be_visible()
    # An empty name is refused inline.
    await page.get_by_text("Save this view").click()
    await page.get_by_label("View name").fill("   ")
    await page.get_by_label("View name").evaluate("e => e.removeAttribute('required')")
    await page.get_by_role("button", name="Save view").click()
    await expect(page.locator("#view-name-error")).to_have_text("Give the view a name.")

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/login**")
    await page.goto("/inbox")
    await fill_login_form(page, "ole", PASSWORD)
    await page.wait_for_url("**/inbox")
    await expect(page).not_to_have_url(re.compile("sort="))
    await page.get_by_role("link", name="Urgent work").click()
    await page.wait_for_url(re.compile(r"sort=priority"))
    await expect(page.get_by_label("Sort by")).to_have_value("priority")

    # Mia, the unit's manager, sees it shared; she cannot delete it.
    mia = await open_page("mia")
    await expect(mia.get_by_role("link", name="Urgent work (by Ole Owner)")).to_be_visible()
    await expect(mia.get_by_role("button", name=re.compile("^Delete view"))).to_have_count(0)
    await page.get_by_role("button", name="Delete view Urgent work").click()
    await expect(page.get_by_text("View deleted.")).to_be_visible()
    await expect(page.get_by_role("link", name="Urgent work")).to_have_count(0)


async def test_bulk_reassign_of_three_cases_with_the_people_picker(
    open_page: Any, live: LiveApp, artifacts: Path
) -> None:
    from playwright.async_api import expect

    chosen = [await live.open_case(customer={"name": f"Bulk Berit {n}"}) for n in range(3)]
    other = await live.open_case(customer={"name": "Bulk Berit stays"})
    page = await open_page("ole")
    await page.get_by_label("Search cases").fill("Bulk Berit")
    await expect(page.locator("table.cases tbody tr")).to_have_count(4)
    for case_id in chosen:
        await page.get_by_label(f"Select {case_id}", exact=True).check()
    await expect(page.get_by_text("3 cases selected.")).to_be_visible()

    await page.get_by_text("Reassign", exact=True).click()
    owner = page.get_by_role("combobox", name="New owner")
    await owner.press_sequentially("Ale", delay=50)  # typed, as a person would
    await expect(page.locator("#people-owner option")).to_have_count(1)
    assert await page.locator("#people-owner option").get_attribute("value") == "alex"
    await owner.fill("alex")
    await page.get_by_label("Reason for the reassignment").fill("Alex covers Bergen this week.")
    await page.screenshot(path=str(artifacts / "inbox-bulk.png"), full_page=True)
    await page.get_by_role("button", name="Reassign selected").click()
    outcome = page.locator(".bulk-outcomes")
    await expect(outcome).to_contain_text("Reassign: 3 of 3 cases done.")
    for case_id in chosen:
        await expect(outcome.locator("li", has_text=case_id)).to_contain_text(
            "Reassigned to Alex Agent."
        )
    assert case_row(live.engine, other).owner_id == "ole"

    def written() -> bool:
        with Session(live.engine) as s:
            events = s.exec(
                select(CaseEvent).where(
                    col(CaseEvent.case_id).in_(chosen), CaseEvent.kind == EventKind.REASSIGNED
                )
            ).all()
            notices = s.exec(
                select(Notice).where(col(Notice.case_id).in_(chosen), Notice.user_id == "alex")
            ).all()
            return len(events) == 3 and len({n.case_id for n in notices}) == 3

    await eventually(written, what="3 timeline entries and 3 notices")
    for case_id in chosen:
        case = case_row(live.engine, case_id)
        assert case.owner_id == "alex"
        with Session(live.engine) as s:
            actors = s.exec(
                select(CaseEvent.actor).where(
                    CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.REASSIGNED
                )
            ).all()
        assert actors == ["ole"]


async def test_bulk_close_reports_each_row(open_page: Any, live: LiveApp) -> None:
    from playwright.async_api import expect

    first = await live.open_case(customer={"name": "Close Carl"})
    second = await live.open_case(customer={"name": "Close Cora"})
    page = await open_page("ole")
    await page.get_by_label("Search cases").fill("Close C")
    await expect(page.locator("table.cases tbody tr")).to_have_count(2)
    await page.get_by_label("Select all on this page").check()
    await expect(page.get_by_text("2 cases selected.")).to_be_visible()
    # Meanwhile the second case is closed from elsewhere.
    await run_update(
        live.client,
        second,
        CaseWorkflow.close,
        CloseCase(Actor("ole"), ClosingStatus.RESOLVED, ["staff"], "Sorted by phone."),
    )
    await page.get_by_text("Close as unresolved").click()
    await page.get_by_role("button", name="Close selected as unresolved").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Write a final note: why the cases close unresolved."
    )
    await page.get_by_label("Root cause").select_option("wait time")
    await page.get_by_label("Final note").fill("No answer after three calls.")
    await page.get_by_role("button", name="Close selected as unresolved").click()
    outcome = page.locator(".bulk-outcomes")
    await expect(outcome).to_contain_text("Close as unresolved: 1 of 2 cases done.")
    await expect(outcome.locator("li", has_text=first)).to_contain_text("Closed as unresolved.")
    await expect(outcome.locator("li", has_text=second)).to_contain_text("closed already")
    case = case_row(live.engine, first)
    assert (case.status, case.closing_status, case.root_causes) == (
        "closed",
        "unresolved",
        ["wait time"],
    )
    assert case.final_note == "No answer after three calls."
    assert case_row(live.engine, second).closing_status == "resolved"


async def test_pages_keep_the_search_and_order(open_page: Any, live: LiveApp) -> None:
    from playwright.async_api import expect

    base = datetime.now(UTC) - timedelta(days=2)
    for n in range(53):
        add_row(
            live,
            f"C-98{n:04d}",
            customer_name=f"Pager Petra {n}",
            created_at=base + timedelta(minutes=n),
            priority="high" if n % 2 else "low",
            next_due_at=base + timedelta(days=5, minutes=n),
        )
    page = await open_page("dora")
    await page.goto("/inbox?q=Pager&sort=oldest")
    rows = page.locator("table.cases tbody tr")
    await expect(rows).to_have_count(50)
    await expect(rows.first).to_have_attribute("data-case", "C-980000")
    await page.get_by_role("link", name="Next page").click()
    await page.wait_for_url(re.compile(r"cursor="))
    assert "q=Pager" in page.url and "sort=oldest" in page.url
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_have_attribute("data-case", "C-980050")
    await page.get_by_role("link", name="First page").click()
    await expect(rows.first).to_have_attribute("data-case", "C-980000")
    # By priority: the 26 high ones first, then the low ones, across pages.
    await page.get_by_label("Sort by").select_option("priority")
    await page.wait_for_url(re.compile(r"sort=priority"))
    await expect(rows.first).to_have_attribute("data-case", "C-980001")  # high, soonest due
    await expect(rows.nth(25)).to_contain_text("High")
    await expect(rows.nth(26)).to_contain_text("Low")
    await page.get_by_role("link", name="Next page").click()
    await expect(rows).to_have_count(3)
    for text in await rows.all_inner_texts():
        assert "Low" in text


# ---------------------------------------------------------------- the same through plain HTTP


def reassignments(live: LiveApp, case_id: str) -> int:
    with Session(live.engine) as s:
        return len(
            s.exec(
                select(CaseEvent).where(
                    CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.REASSIGNED
                )
            ).all()
        )


async def test_bulk_is_idempotent_and_stays_inside_what_the_viewer_may_see(
    live: LiveApp,
) -> None:
    mine = await live.open_case(customer={"name": "Twice Tove"})
    theirs = await live.open_case(unit_id="9000", customer={"name": "Not Nils"})
    form = {
        "action": "reassign",
        "case": [mine, theirs],
        "new_owner": "mia",
        "reason": "Mia takes the complaints about noise.",
        "action_id": "bulk-form-1",
    }
    async with sign_in(live, "ole") as ole:
        token = await page_token(ole)
        r = await ole.post("/inbox/bulk", data={**form, "csrf_token": token})
        assert r.status_code == 200, r.text[:300]
        assert "Reassign: 1 of 2 cases done." in r.text
        assert "No such case among those you can see." in r.text
        assert "Not Nils" not in r.text and "owner now" not in r.text
        # The same form again (a retry): the earlier outcome, not a second reassignment.
        r = await ole.post("/inbox/bulk", data={**form, "csrf_token": token})
        assert r.status_code == 200 and "Reassign: 1 of 2 cases done." in r.text
        # Without the token: refused before anything runs.
        r = await ole.post("/inbox/bulk", data={**form, "action_id": "bulk-form-2"})
        assert r.status_code == 403
    assert case_row(live.engine, mine).owner_id == "mia"
    assert reassignments(live, mine) == 1
    assert case_row(live.engine, theirs).owner_id == "alex" and reassignments(live, theirs) == 0


async def test_bulk_and_view_forms_refuse_bad_input_inline(live: LiveApp) -> None:
    case_id = await live.open_case(customer={"name": "Careful Cato"})
    async with sign_in(live, "ole") as ole:
        token = await page_token(ole)
        base = {"csrf_token": token, "case": case_id, "action_id": "bulk-bad"}
        for data, message in (
            ({"action": "reassign", "new_owner": "nobody", "reason": "x"}, "from the list"),
            ({"action": "reassign", "new_owner": "alex", "reason": " "}, "Say why"),
            ({"action": "reassign", "new_owner": "alex", "reason": "a\x00"}, "cannot be stored"),
            ({"action": "watch", "watcher": ""}, "Choose the watcher"),
            ({"action": "close", "note": ""}, "Write a final note"),
            ({"action": "explode"}, "Choose what to do"),
        ):
            r = await ole.post("/inbox/bulk", data={**base, **data}, headers={"HX-Request": "true"})
            assert r.status_code == 422, (data, r.status_code)
            assert message in r.text, (data, r.text[:500])
            assert "<html" not in r.text  # the outcome only: the list (and its selection) stays
        # Without scripts, the whole page comes back with the selection kept.
        r = await ole.post("/inbox/bulk", data={**base, "action": "close", "note": ""})
        assert r.status_code == 422 and "Write a final note" in r.text
        assert f'value="{case_id}" form="bulk" aria-label="Select {case_id}" checked' in r.text
        r = await ole.post(
            "/inbox/views",
            data={"csrf_token": token, "view_name": "Mine\x00", "sort": "priority"},
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 422 and "cannot be stored" in r.text
        r = await ole.post(
            "/inbox/views", data={"csrf_token": token, "view_name": "Theirs", "view_unit": "9000"}
        )
        assert r.status_code == 422 and "only with a unit you belong to" in r.text
    assert case_row(live.engine, case_id).owner_id == "ole"
    assert reassignments(live, case_id) == 0


async def test_people_picker_answers_signed_in_users_only(live: LiveApp) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as anonymous:
        r = await anonymous.get("/inbox/people?new_owner=mi")
        assert r.status_code in (302, 303, 401) and "Mia" not in r.text
    async with sign_in(live, "ole") as ole:
        r = await ole.get("/inbox/people?new_owner=mi", headers={"HX-Request": "true"})
        assert r.status_code == 200
        assert '<option value="mia">Mia Manager</option>' in r.text
        assert "<html" not in r.text
        r = await ole.get("/inbox/people?watcher=zzz")
        assert r.text.strip() == ""


async def test_a_manager_sees_a_strip_per_owner_and_each_number_opens_its_list(
    open_page: Any, live: LiveApp
) -> None:
    from playwright.async_api import expect

    await live.open_case(customer={"name": "Unit Una"})
    page = await open_page("mia")
    await page.get_by_role("link", name="My units", exact=True).click()
    owners = page.get_by_role("table", name="Open cases per owner")
    await expect(owners).to_be_visible()
    line = owners.get_by_role("row", name=re.compile("^Ole Owner"))
    for figure in ("open", "due today", "overdue"):
        link = line.get_by_role("link", name=re.compile(f"^Ole Owner: \\d+ {figure}$"))
        label = await link.get_attribute("aria-label")
        assert label is not None
        expected = int(label.split(": ")[1].split(" ")[0])
        await link.click()
        await page.wait_for_url(re.compile(r"owner=ole"))
        await expect(page.locator("table.cases tbody tr")).to_have_count(expected)
        for owner in await page.locator("td[data-label=Owner]").all_inner_texts():
            assert owner == "Ole Owner"
        await page.go_back()
        await expect(owners).to_be_visible()


async def test_the_selection_survives_a_live_refresh_and_the_picker_works_by_keyboard(
    open_page: Any, live: LiveApp
) -> None:
    from playwright.async_api import expect

    first = await live.open_case(customer={"name": "Keep Kjell"})
    page = await open_page("ole")
    await page.get_by_label(f"Select {first}", exact=True).check()
    await expect(page.get_by_text("1 case selected.")).to_be_visible()
    arriving = await live.open_case(customer={"name": "Keep Kaja"})
    await expect(page.locator(f"tr[data-case='{arriving}']")).to_be_visible(timeout=15_000)
    await expect(page.get_by_label(f"Select {first}", exact=True)).to_be_checked()
    await expect(page.get_by_text("1 case selected.")).to_be_visible()

    # The keyboard alone: open "Add a watcher", type, the list offers the match, Enter sends.
    await page.get_by_text("Add a watcher").focus()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    watcher = page.get_by_role("combobox", name="Watcher")
    await expect(watcher).to_be_focused()
    await page.keyboard.type("Direc")
    await expect(page.locator("#people-watcher option")).to_have_count(1)
    await expect(page.locator("#people-watcher option")).to_have_attribute("value", "dora")
    await page.keyboard.press("Control+A")
    await page.keyboard.type("dora")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Add watcher to selected")).to_be_focused()
    await page.keyboard.press("Enter")
    outcome = page.locator(".bulk-outcomes")
    await expect(outcome).to_contain_text("Add a watcher: 1 of 1 case done.")
    await expect(outcome).to_contain_text("Dora Director now watches it.")
    with Session(live.engine) as s:
        from models.case import CaseWatcher

        assert s.get(CaseWatcher, (first, "dora")) is not None
        assert s.get(CaseWatcher, (arriving, "dora")) is None
