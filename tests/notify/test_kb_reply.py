"""A knowledge-base article found by a word of its text, linked to a case and inserted into a
reply in Chromium; the reply, edited, reaches the customer (the aiosmtpd sink) with the
article's text. The app, worker and SMTP sink are test_web's module setup."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session

from domain.audit import operator
from services.kb import create_article
from tests.live import eventually, fill_login_form
from tests.notify.conftest import open_test_case
from tests.notify.test_web import PASSWORD, Live, live  # noqa: F401  (the module's app)

BODY = "Offer the guest a complimentary upgrade to a harbour-view room for the next stay."


async def test_article_found_inserted_into_a_reply_and_sent(live: Live, browser: Any) -> None:  # noqa: F811
    from playwright.async_api import expect

    with Session(live.engine) as session:
        create_article(
            session,
            operator("kb"),
            program_id="recovery",
            title="Upgrade for a smoky room",
            body=BODY,
            status="published",
        )
        create_article(  # a draft: writers only, never found by an agent
            session, operator("kb"), program_id="recovery", title="Draft upgrade", body=BODY
        )
    case_id = await open_test_case(live.env, live.engine, live.settings)
    await live.smtp.wait_for(rf"^New case {case_id}\b")

    def sent() -> list[Any]:
        mails = live.smtp.with_subject(r"^Upgrade for a smoky room$")
        return [m for m in mails if m.message["X-Caseloop-Case"] == case_id]

    context = await browser.new_context(base_url=live.base_url)
    try:
        page = await context.new_page()
        await page.goto("/login")
        await fill_login_form(page, "ole", PASSWORD)
        await page.goto("/kb")
        await page.get_by_label("Search the knowledge base").fill("complimentary")
        await page.get_by_role("button", name="Search", exact=True).click()
        articles = page.get_by_role("list", name="Articles")
        await expect(articles.get_by_role("link")).to_have_text(["Upgrade for a smoky room"])
        await articles.get_by_role("link").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Upgrade for a smoky room")

        await page.goto(f"/cases/{case_id}")
        await page.get_by_label("Search the knowledge base").fill("harbour-view")
        await page.get_by_role("button", name="Search", exact=True).click()
        results = page.get_by_role("list", name="Search results")
        await expect(results.get_by_role("listitem")).to_have_count(1)
        await results.get_by_role("button", name=re.compile("^Link to case")).click()
        await expect(page.get_by_role("status")).to_contain_text("Article linked to the case.")
        # Inserted after what is already typed; the subject, left empty, is the article's title.
        await page.get_by_text("Reply to the customer").click()
        message = page.get_by_label("Message")
        await message.fill("Dear Kari,")
        linked = page.get_by_role("list", name="Linked articles")
        await linked.get_by_role("link", name=re.compile("^Insert into reply")).click()
        await expect(message).to_have_value(f"Dear Kari,\n\nUpgrade for a smoky room\n\n{BODY}")
        await expect(page.get_by_label("Subject")).to_have_value("Upgrade for a smoky room")
        await message.fill(await message.input_value() + "\n\nOle")  # edited before sending
        await page.get_by_role("button", name="Send reply").click()
        await expect(page.get_by_role("status")).to_contain_text("Reply sent to the customer.")
        await eventually(lambda: bool(sent()), what="the reply at the SMTP server")
        [mail] = sent()
        assert mail.rcpt_tos == ["kari@example.com"]
        assert BODY in mail.part("plain") and "Dear Kari," in mail.part("plain")
        # Without the page's script the link opens the reply form filled with the article.
        article_id = await linked.get_by_role(
            "link", name="Upgrade for a smoky room", exact=True
        ).get_attribute("href")
        assert article_id is not None
        await page.goto(f"/cases/{case_id}?kb={article_id.rsplit('/', 1)[1]}")
        await expect(page.get_by_label("Message")).to_have_value(re.compile(re.escape(BODY)))
    finally:
        await context.close()
