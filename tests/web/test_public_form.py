"""The public web form in real Chromium, on the real app, Temporal dev server and an SMTP sink:
a customer opens a case without signing in and gets its reference on the page and by email."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from models.case import Case
from services.configuration import apply_config
from tests.factories import config_with_passwords
from tests.live import csrf_of, fill_login_form, free_port
from tests.notify.conftest import SmtpSink
from tests.web.conftest import PASSWORD, LiveApp, mail_to, serve_app

FORM = "/forms/recovery"
INTAKE = {
    "unit": "4723",
    "web_form": {
        "enabled": True,
        "fields": {
            "name": "required",
            "email": "required",
            "phone": "optional",
            "order_ref": "optional",
            "message": "required",
        },
    },
}


@pytest.fixture(scope="module")
async def form_app(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink
) -> AsyncIterator[LiveApp]:
    def seed(engine: Engine) -> None:
        apply_config(engine, config_with_passwords(PASSWORD, intake=INTAKE))

    tmp = tmp_path_factory.mktemp("forms")
    extra = {"reply_domain": "reply.example", "form_rate_limit": "12/minute"}
    async with serve_app(dev_env, tmp, seed, **mail_to(sink), **extra) as app:
        yield app


def web_cases(engine: Engine) -> list[Case]:
    with Session(engine) as s:
        return list(s.exec(select(Case).where(col(Case.channel) == "web_form")).all())


async def test_a_customer_opens_a_case_with_the_form(
    browser: Any, form_app: LiveApp, sink: SmtpSink
) -> None:
    from playwright.async_api import expect

    ctx = await browser.new_context(base_url=form_app.base_url)
    page = await ctx.new_page()
    await page.goto(FORM)
    await expect(page.get_by_role("heading", name="Contact us")).to_be_visible()
    # Nothing filled in: inline errors, tied to their fields; nothing is opened.
    await page.get_by_role("button", name="Send").click()
    name = page.get_by_label("Your name")
    await expect(name).to_have_attribute("aria-invalid", "true")
    error_id = await name.get_attribute("aria-describedby")
    await expect(page.locator(f"#{error_id}")).to_have_text("Please fill in this field.")
    await expect(page.get_by_label("Phone number")).not_to_have_attribute("aria-invalid", "true")
    await page.get_by_label("Email address").fill("not an address")
    await page.get_by_role("button", name="Send").click()
    email = page.get_by_label("Email address")
    await expect(email).to_have_attribute("aria-invalid", "true")
    assert web_cases(form_app.engine) == []

    await page.get_by_label("Your name").fill("Kari Nordmann")
    await email.fill("kari@example.com")
    await page.get_by_label("Order or booking reference").fill("BK-55821")
    await page.get_by_label("Your message").fill("The room was not cleaned.\nPlease call me.")
    await page.get_by_role("button", name="Send").click()
    await page.wait_for_url(f"**{FORM}/thanks")
    reference = await page.locator(".reference").text_content()
    assert reference and re.fullmatch(r"C-\d+", reference)
    [case] = web_cases(form_app.engine)
    assert case.id == reference and case.contact_email == "kari@example.com"
    assert case.reason == "The room was not cleaned."
    assert case.transaction == {"order_ref": "BK-55821"}

    [mail] = await sink.wait_for(rf"^We have received your message \(reference {reference}\)")
    assert mail.rcpt_tos == ["kari@example.com"]
    assert str(mail.message["Reply-To"]).startswith(f"cases+{reference}.")

    # The owner finds it in their inbox.
    owner = await (await browser.new_context(base_url=form_app.base_url)).new_page()
    await owner.goto("/login")
    await fill_login_form(owner, "ole", PASSWORD)
    await owner.wait_for_url("**/inbox")
    await expect(owner.get_by_role("link", name=reference)).to_be_visible()

    # A bot fills the honeypot: it sees a confirmation, no case is opened.
    await page.goto(FORM)
    await page.get_by_label("Your name").fill("Spam Bot")
    await page.get_by_label("Email address").fill("bot@example.com")
    await page.get_by_label("Your message").fill("Buy now")
    await page.locator("#field-website").evaluate("el => { el.value = 'http://spam.example'; }")
    await page.get_by_role("button", name="Send").click()
    await page.wait_for_url(f"**{FORM}/thanks")
    await expect(page.get_by_role("status")).to_contain_text("We have received your message")
    assert await page.locator(".reference").count() == 0
    assert len(web_cases(form_app.engine)) == 1
    await ctx.close()


async def test_a_double_submit_opens_one_case_and_the_limit_holds(form_app: LiveApp) -> None:
    before = len(web_cases(form_app.engine))
    async with httpx.AsyncClient(base_url=form_app.base_url, timeout=30) as client:
        page = await client.get(FORM)
        token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        assert token
        data = {
            "csrf_token": csrf_of(page.text),
            "form_token": token.group(1),
            "name": "Ola Nordmann",
            "email": "ola@example.com",
            "message": "Twice",
        }
        first = await client.post(FORM, data=data)
        second = await client.post(FORM, data=data)
        assert first.status_code == second.status_code == 303
        assert len(web_cases(form_app.engine)) == before + 1
        # Without the session's CSRF token: refused, nothing opened.
        async with httpx.AsyncClient(base_url=form_app.base_url, timeout=30) as stranger:
            refused = await stranger.post(FORM, data=data)
        assert refused.status_code == 403
        # The address's limit: 12 a minute, then 429.
        statuses = [
            (await client.post(FORM, data={**data, "message": ""})).status_code for _ in range(14)
        ]
        assert 429 in statuses and set(statuses) <= {422, 429}
    assert len(web_cases(form_app.engine)) == before + 1


async def test_the_customers_emailed_answer_shows_on_the_case_page(
    browser: Any, form_app: LiveApp
) -> None:
    """The owner reads the answer (quotes cut) and sees the out-of-office apart from it."""
    import smtplib
    from email.message import EmailMessage

    from playwright.async_api import expect

    from activities.mail import case_reply_address
    from cli.inbound_smtp import start_server
    from tests.live import eventually
    from tests.notify.test_inbound_mail import events

    case_id = await form_app.open_case()
    address = case_reply_address(form_app.settings, case_id)
    assert address is not None
    port = free_port()
    server = await start_server(
        form_app.engine, form_app.client, form_app.settings, "127.0.0.1", port
    )

    def send(subject: str, text: str, **headers: str) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "kari@example.com", address, subject
        for name, value in headers.items():
            msg[name] = value
        msg.set_content(text)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.send_message(msg)

    try:
        await asyncio.to_thread(
            send, "Away", "Back on Monday", **{"Auto-Submitted": "auto-replied"}
        )
        await asyncio.to_thread(
            send, "Re: your case", "Thanks, the room is fine now.\n\n> Is the room fine?"
        )
        await eventually(lambda: events(form_app.engine, case_id, "customer_reply"), what="reply")
        await eventually(lambda: events(form_app.engine, case_id, "auto_reply"), what="auto")
    finally:
        server.close()
        await server.wait_closed()
    ctx = await browser.new_context(base_url=form_app.base_url)
    page = await ctx.new_page()
    await page.goto("/login")
    await fill_login_form(page, "ole", PASSWORD)
    await page.wait_for_url("**/inbox")
    await page.goto(f"/cases/{case_id}")
    timeline = page.locator(".timeline")
    await expect(timeline.locator(".event-customer_reply")).to_contain_text(
        "Thanks, the room is fine now."
    )
    await expect(timeline.locator(".event-customer_reply")).not_to_contain_text("Is the room")
    await expect(timeline.locator(".event-auto_reply")).to_contain_text("Automatic reply received")
    await expect(timeline).not_to_contain_text("Back on Monday")
    await ctx.close()
