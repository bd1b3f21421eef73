"""Related and merged cases in Chromium, on the real app, worker and Temporal dev server.

A merge leaves one open case: the duplicate closes as merged into the primary, whose page shows
the duplicate's notes and contact; both timelines tell of it. Unmerging reopens the duplicate
(its closed run completed: a new run carries it on) until the primary closes.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import expect
from sqlmodel import Session, select

from domain.case import Actor
from domain.vocabulary import ClosingStatus
from models.case import Case
from services.case_actions import run_update
from tests.live import eventually
from tests.web.conftest import LiveApp, page_token, sign_in
from tests.web.test_security import settled
from workflows.case import CaseWorkflow
from workflows.messages import AddNote, CloseCase

OLE = Actor("ole")


def row(live: LiveApp, case_id: str) -> Case:
    with Session(live.engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


async def two_cases(live: LiveApp) -> tuple[str, str]:
    primary = await live.open_case()
    dup = await live.open_case(
        customer={"name": "Kari N.", "email": "kari.work@example.com", "phone": "+4790000000"},
        reason="Room not cleaned, second call",
    )
    for case_id in (primary, dup):
        await settled(live, case_id)
    return primary, dup


async def test_merge_shows_both_histories_on_the_primary_and_unmerge_until_it_closes(
    live: LiveApp, open_page: Any
) -> None:
    primary, dup = await two_cases(live)
    note = "The guest called again from her work phone."
    await run_update(live.client, dup, CaseWorkflow.add_note, AddNote(OLE, note))

    page = await open_page("ole")
    await page.goto(f"/cases/{dup}")
    await page.get_by_label("Merge this case into case number").fill(primary)
    await page.get_by_role("button", name="Merge into that case").click()
    await page.wait_for_url(f"**/cases/{primary}#links")
    await expect(page.get_by_role("status")).to_contain_text(f"{dup} is merged into this case.")
    merged = page.get_by_role("region", name=f"From merged case {dup}")
    await expect(merged).to_contain_text(note)
    await expect(merged).to_contain_text("kari.work@example.com")  # the duplicate's contact
    await expect(page.locator(".timeline")).to_contain_text(f"{dup} was merged into this case")
    # One open case: the primary; the duplicate is closed as merged into it.
    assert row(live, primary).is_open
    dup_row = row(live, dup)
    assert (dup_row.is_open, dup_row.closing_status) == (False, ClosingStatus.MERGED)

    await page.goto(f"/cases/{dup}")
    await expect(page.locator("#merged-into")).to_have_text(f"Merged into {primary}.")
    await expect(page.locator(".case-head .status")).to_have_text("Closed")

    # Unmerge from the primary's page: the duplicate reopens, the section goes.
    await page.goto(f"/cases/{primary}")
    await page.get_by_role("button", name=f"Unmerge {dup}").click()
    await expect(page.get_by_role("status")).to_contain_text(
        f"{dup} is no longer merged into {primary}."
    )
    await expect(page.get_by_role("region", name=f"From merged case {dup}")).to_have_count(0)
    await expect(page.locator(".timeline")).to_contain_text(f"{dup} is no longer merged")
    await eventually(lambda: row(live, dup).is_open, what=f"{dup} reopened")
    await page.goto(f"/cases/{dup}")
    await expect(page.locator(".case-head .status")).to_have_text("In progress")
    await expect(page.locator(".timeline")).to_contain_text(f"Unmerged from {primary}")

    # Merged again; once the primary closes, the merge stays.
    await page.get_by_label("Merge this case into case number").fill(primary)
    await page.get_by_role("button", name="Merge into that case").click()
    await page.wait_for_url(f"**/cases/{primary}#links")
    close = CloseCase(OLE, ClosingStatus.RESOLVED, ["staff"], "Refunded a night")
    await run_update(live.client, primary, CaseWorkflow.close, close)
    await page.goto(f"/cases/{dup}")
    await expect(page.locator("#merged-into")).to_be_visible()
    await expect(page.get_by_role("button", name=f"Unmerge {dup}")).to_have_count(0)
    async with sign_in(live, "ole") as client:
        token = await page_token(client, f"/cases/{dup}")
        r = await client.post(f"/cases/{dup}/unmerge", data={"csrf_token": token})
        assert r.status_code == 303
        shown = (await client.get(r.headers["location"])).text
        # Nor does it come back by a reopen: it is merged.
        data = {"csrf_token": token, "reason": "Back"}
        r = await client.post(f"/cases/{dup}/reopen", data=data)
        assert r.status_code == 409 and "unmerge it instead" in r.text
    assert "the merge can no longer be undone" in shown
    assert not row(live, dup).is_open


async def test_only_someone_who_may_act_on_both_cases_merges(live: LiveApp) -> None:
    _primary, dup = await two_cases(live)
    other = await live.open_case(unit_id="9000")  # alex's: ole may not see it
    await settled(live, other)
    async with sign_in(live, "ole") as ole:
        token = await page_token(ole, f"/cases/{dup}")
        refusals = {
            other: f"No case {other} that you can see",
            dup: "A case cannot be merged into itself",
            "C-999999": "No case C-999999 that you can see",
        }
        for target, why in refusals.items():
            r = await ole.post(
                f"/cases/{dup}/merge", data={"csrf_token": token, "primary_id": target}
            )
            # The case page again, the refusal at the field, the number as typed.
            assert r.status_code == 422, r.text
            assert f'<p class="field-error" id="merge-primary-error">{why}</p>' in r.text
            assert f'value="{target}" aria-invalid="true"' in r.text
        r = await ole.post(f"/cases/{dup}/related", data={"csrf_token": token, "other_id": dup})
        assert r.status_code == 422
        assert 'id="related-case-error">A case cannot be related to itself</p>' in r.text
        assert row(live, dup).is_open and row(live, other).is_open
    async with sign_in(live, "alex") as alex:  # sees neither of ole's cases
        token = await page_token(alex)
        r = await alex.post(f"/cases/{dup}/merge", data={"csrf_token": token, "primary_id": other})
        assert r.status_code == 404
    assert row(live, dup).is_open


async def test_related_cases_are_listed_on_both_pages_and_unlinked(
    live: LiveApp, open_page: Any
) -> None:
    first, second = await two_cases(live)
    page = await open_page("ole")
    await page.goto(f"/cases/{first}")
    await page.get_by_label("Related case number").fill(second)
    await page.get_by_role("button", name="Link as related").click()
    await expect(page.get_by_role("status")).to_contain_text(f"{second} is linked as related.")
    related = page.get_by_role("list", name="Related cases")
    await expect(related.get_by_role("link", name=second)).to_be_visible()
    await page.goto(f"/cases/{second}")
    await expect(related.get_by_role("link", name=first)).to_be_visible()
    await related.get_by_role("button", name=re.compile(f"Unlink {first}")).click()
    await expect(page.get_by_role("status")).to_contain_text(f"{first} is no longer related.")
    await page.goto(f"/cases/{first}")
    await expect(page.get_by_role("list", name="Related cases")).to_have_count(0)
    async with httpx.AsyncClient(base_url=live.base_url) as anon:
        assert (await anon.get(f"/cases/{first}")).status_code in (302, 303, 401)


async def test_a_norwegian_reader_sees_links_merges_and_the_knowledge_base_in_norwegian(
    live: LiveApp,
) -> None:
    from domain.audit import operator
    from services.kb import create_article
    from tests.web.test_language import BROWSER_ACCEPT, DATA, english_left, set_locale

    primary, dup = await two_cases(live)
    with Session(live.engine) as session:
        article = create_article(
            session, operator("nb"), program_id="recovery", title="Refusjon",
            body="Refunder **én natt**.", status="published",
        )  # fmt: skip
        article_id = article.id
    async with sign_in(live, "ole") as ole:
        token = await page_token(ole, f"/cases/{dup}")
        await ole.post(f"/cases/{dup}/merge", data={"csrf_token": token, "primary_id": primary})
        await ole.post(f"/cases/{primary}/kb", data={"csrf_token": token, "article_id": article_id})
    data = (
        *DATA, primary, dup, "Refusjon", "Kari N.", "kari.work@example.com", "+4790000000",
        "Room not cleaned on arrival", "Room not cleaned, second call", "Housekeeping",
        "The room smelled of smoke and nobody came.", "kari@example.com",
        "field model: frontline owner of unit 4723",  # the opening event's stored English
    )  # fmt: skip
    set_locale(live, "ole", "nb")
    try:
        async with sign_in(live, "ole") as ole:
            ole.headers["Accept"] = BROWSER_ACCEPT
            for path, words in (
                (f"/cases/{primary}?kbq=natt", "Fra sammenslått sak"),
                (f"/cases/{dup}", "Slått sammen med"),
                ("/kb?q=natt", "Søk i kunnskapsbasen"),
                (f"/kb/{article_id}", "Kunnskapsbase"),
            ):
                r = await ole.get(path)
                assert r.status_code == 200, path
                lang, left = english_left(r.text, whole=True, data=data)
                assert lang == "nb" and not left, (path, left)
                assert words in r.text, path
    finally:
        set_locale(live, "ole", None)


async def test_a_closed_case_takes_no_new_links(live: LiveApp) -> None:
    """Links change a case: once it is closed (nobody may act on it) every link form refuses,
    saying so, and nothing is written."""
    from models.kb import CaseKbLink, CaseLink

    first, second = await two_cases(live)
    close = CloseCase(OLE, ClosingStatus.RESOLVED, ["staff"], "Refunded a night")
    await run_update(live.client, first, CaseWorkflow.close, close)
    await eventually(lambda: not row(live, first).is_open, what=f"{first} closed")
    refused = f"You may not change {first}."
    async with sign_in(live, "ole") as ole:
        token = await page_token(ole, f"/cases/{first}")
        for path, data in (
            ("related", {"other_id": second}),  # its form is not on a closed case's page
            ("related/remove", {"other_id": second}),
            ("kb", {"article_id": "1"}),
            ("kb/remove", {"article_id": "1"}),
        ):
            r = await ole.post(f"/cases/{first}/{path}", data={"csrf_token": token, **data})
            assert r.status_code == 303, path
            shown = (await ole.get(r.headers["location"])).text
            assert f"Not done: {refused}" in shown, path
    with Session(live.engine) as session:
        mine = (CaseLink.case_id == first) | (CaseLink.other_id == first)
        assert not session.exec(select(CaseLink).where(mine)).all()
        assert not session.exec(select(CaseKbLink).where(CaseKbLink.case_id == first)).all()
