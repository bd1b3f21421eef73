"""An @mention in real Chromium (issue 18), on the real app, Temporal dev server, worker and an
aiosmtpd sink: the owner names Dora in a note, Dora sees the notice and its count, opens the
case from it (read only), and the email arrives; a mention of someone outside the program is
told to the author on the page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.live import fill_login_form
from tests.notify.conftest import SmtpSink
from tests.web.conftest import PASSWORD, LiveApp, mail_to, seed_web, serve_app


@pytest.fixture(scope="module")
async def mail_app(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink
) -> AsyncIterator[LiveApp]:
    tmp = tmp_path_factory.mktemp("mention")
    async with serve_app(dev_env, tmp, seed_web, **mail_to(sink)) as app:
        yield app


async def signed_in(browser: Any, app: LiveApp, user: str) -> Any:
    ctx = await browser.new_context(base_url=app.base_url)
    page = await ctx.new_page()
    await page.goto("/login")
    await fill_login_form(page, user, PASSWORD)
    await page.wait_for_url("**/inbox")
    return page


async def test_an_at_mention_notifies_the_colleague_in_the_browser(
    browser: Any, mail_app: LiveApp, sink: SmtpSink
) -> None:
    from playwright.async_api import expect

    case_id = await mail_app.open_case(customer={"name": "Mona Minibar"})
    owner = await signed_in(browser, mail_app, "ole")
    dora = await signed_in(browser, mail_app, "dora")
    # Before the mention Dora may not open the case.
    r = await dora.goto(f"/cases/{case_id}")
    assert r is not None and r.status == 404

    await owner.goto(f"/cases/{case_id}")
    await owner.get_by_label("Note", exact=True).fill("@dora can you check the minibar charge?")
    await owner.get_by_role("button", name="Add note").click()
    await expect(owner.locator(".flash")).to_have_text("Note added.", timeout=20_000)
    await expect(owner.locator(".timeline .event-mentioned").first).to_contain_text(
        "Mentioned Dora Director"
    )

    # Dora's badge counts the notice (live stream), her list shows it, and it opens the case.
    await dora.goto("/inbox")
    await expect(dora.locator("#notice-badge")).to_contain_text(
        re.compile(r"\d+ unread notifications?"), timeout=20_000
    )
    await dora.get_by_role("link", name=re.compile("^Notifications")).click()
    await expect(dora).to_have_title(re.compile("Notifications"))
    notice = dora.locator(".notice-item", has_text=case_id).filter(has_text="Mention")
    await expect(notice).to_have_count(1)
    await expect(notice).to_contain_text("Ole Owner mentioned you")
    await notice.get_by_role("link").click()
    await dora.wait_for_url(f"**/cases/{case_id}")
    await expect(dora.locator("body")).to_contain_text("read-only watcher")
    await expect(dora.locator("body")).to_contain_text("can you check the minibar charge?")
    await expect(dora.get_by_role("button", name="Add note")).to_have_count(0)

    [mail] = await sink.wait_for(rf"mentioned you on case {case_id}")
    assert mail.rcpt_tos == ["dora@example.com"]
    assert "can you check the minibar charge?" in mail.part("plain")

    # Alex works in another unit and is not in this program: the author is told, on the page.
    await owner.get_by_label("Note", exact=True).fill("@alex please look at this too")
    await owner.get_by_role("button", name="Add note").click()
    await expect(owner.locator(".flash")).to_have_text(
        "Note added. Alex Agent cannot see this program: the mention stays plain text.",
        timeout=20_000,
    )
