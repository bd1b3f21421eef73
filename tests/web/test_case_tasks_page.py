"""Tasks on the case page and in "My tasks" (issue 18), against the running app: an owner gives
a colleague a task, the colleague ticks it in Chromium; a program that wants every task done
before a resolved close says so next to the outcome."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlmodel import Session

from models.config import Program
from tests.factories import case_row
from tests.live import csrf_of
from tests.web.conftest import LiveApp, sign_in


async def test_owner_gives_a_colleague_a_task_and_she_ticks_it_in_my_tasks(
    open_page: Any, live: LiveApp
) -> None:
    from playwright.async_api import expect

    case_id = await live.open_case(customer={"name": "Tore Task"})
    page = await open_page("ole")
    await page.goto(f"/cases/{case_id}")
    await expect(page.locator("#tasks")).to_contain_text("No tasks yet.")
    await page.locator("summary", has_text="Add a task").click()
    await page.get_by_label("Task", exact=True).fill("Call the guest about the refund")
    await page.get_by_label("Assigned to").select_option(label="Mia Manager")
    await page.get_by_label("Due in business hours").fill("8")
    await page.get_by_role("button", name="Add task").click()
    await expect(page.locator(".flash")).to_have_text("Task added.", timeout=20_000)
    tasks = page.locator("#tasks")
    await expect(tasks).to_contain_text("Call the guest about the refund")
    await expect(tasks).to_contain_text("For Mia Manager")
    await expect(page.locator(".timeline .event-task_added").first).to_contain_text(
        "Task for Mia Manager: Call the guest about the refund"
    )

    colleague = await open_page("mia")
    await colleague.get_by_role("link", name="My tasks").click()
    await expect(colleague).to_have_title(re.compile("My tasks"))
    row = colleague.locator("tr", has_text="Call the guest about the refund")
    await expect(row).to_contain_text(case_id)
    await row.get_by_role("button", name="Mark done").click()
    await expect(colleague.locator(".flash")).to_have_text("Task done.", timeout=20_000)
    await expect(colleague.locator("body")).to_contain_text("No open tasks for you.")

    await colleague.goto(f"/cases/{case_id}")
    timeline = colleague.locator(".timeline")
    await expect(timeline.locator(".event-task_done")).to_contain_text(
        "Task done: Call the guest about the refund"
    )
    await expect(timeline.locator(".event-task_added")).to_contain_text("Mia Manager")
    await expect(colleague.locator("#tasks .task-done")).to_contain_text("done by Mia Manager")
    assert case_row(live.engine, case_id).is_open


def set_rule(live: LiveApp, on: bool) -> None:
    """The program's require_tasks_done_to_resolve (kept in its taxonomy column)."""
    with Session(live.engine) as s:
        program = s.get(Program, "recovery")
        assert program is not None
        program.taxonomy = {**(program.taxonomy or {}), "require_tasks_done_to_resolve": on}
        s.add(program)
        s.commit()


async def test_a_resolved_close_with_an_open_required_task_is_refused_inline(
    live: LiveApp,
) -> None:
    set_rule(live, True)
    case_id = await live.open_case(customer={"name": "Rita Required"})
    async with sign_in(live, "ole") as client:
        token = csrf_of((await client.get(f"/cases/{case_id}")).text)
        r = await client.post(
            f"/cases/{case_id}/tasks",
            data={"csrf_token": token, "title": "Refund the night", "assignee_id": "ole"},
        )
        assert r.status_code in (200, 303), r.text
        close = {
            "csrf_token": token,
            "closing_status": "resolved",
            "root_causes": "staff",
            "final_note": "Apologised",
        }
        r = await client.post(f"/cases/{case_id}/close", data=close)
        assert r.status_code == 422
        assert 'id="close-status-error"' in r.text
        assert "Finish the open task before closing the case as resolved." in r.text
        assert case_row(live.engine, case_id).is_open
        # The case keeps the rule it opened under: with the program's rule switched off since,
        # the page lets the close through and the workflow refuses it, said on the page.
        set_rule(live, False)
        r = await client.post(f"/cases/{case_id}/close", data=close)
        assert r.status_code == 422
        said = html.unescape(r.text)
        assert "Finish the case's tasks before closing it as resolved (1 open)" in said
        assert 'role="alert"' in r.text
        assert case_row(live.engine, case_id).is_open
        # Resolved after the task is done.
        page = await client.get(f"/cases/{case_id}")
        token = csrf_of(page.text)
        r = await client.post(
            f"/cases/{case_id}/tasks/done", data={"csrf_token": token, "task_id": "1"}
        )
        assert r.status_code in (200, 303), r.text
        r = await client.post(f"/cases/{case_id}/close", data={**close, "csrf_token": token})
        assert r.status_code in (200, 303), r.text
    assert not case_row(live.engine, case_id).is_open
