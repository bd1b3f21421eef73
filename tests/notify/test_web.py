"""The customer's survey page, scripted replies and the admin outbox, against the running app.

One module-wide setup: uvicorn serving the real app (its own Temporal client) on Temporal's
time-skipping server, the real worker, SQLite and the aiosmtpd sink. The survey is answered in
Debian's Chromium from the link in the email the sink caught.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from activities.remeasurement import SURVEY_SALT
from core.settings import Settings
from domain.case import Actor
from domain.vocabulary import ClosingStatus
from models.case import CaseEvent, Customer
from models.db import make_engine
from services.case_actions import run_update
from services.configuration import apply_config
from services.tokens import create_client
from tests.conftest import sqlite_db
from tests.factories import case_row, config_with_passwords, running_worker
from tests.live import CSRF_INPUT, ServerThread, eventually, fill_login_form, free_port, log_in
from tests.notify.conftest import (
    SmtpSink,
    make_settings,
    open_test_case,
    outbox_rows,
    with_notify_routes,
)
from workflows.case import CaseWorkflow
from workflows.messages import CloseCase

PASSWORD = "correct horse battery"
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/survey/[A-Za-z0-9_.\-]+)")


@dataclass
class Live:
    base_url: str
    env: WorkflowEnvironment
    engine: Engine
    settings: Settings
    smtp: SmtpSink
    api_token: str

    async def resolved_case(self) -> str:
        """A case closed as resolved: its survey email is on its way to the customer."""
        case_id = await open_test_case(self.env, self.engine, self.settings)
        await run_update(
            self.env.client,
            case_id,
            CaseWorkflow.close,
            CloseCase(Actor("ole"), ClosingStatus.RESOLVED, ["staff"], "Refunded a night"),
        )
        return case_id

    async def survey_link(self, case_id: str) -> str:
        [mail] = await self.smtp.wait_for(r"^How did we do\?")
        self.smtp.messages.remove(mail)
        assert mail.rcpt_tos == ["kari@example.com"]
        text, html = mail.part("plain"), mail.part("html")
        found = LINK.search(text)
        assert found, text
        link = found.group(1)
        assert f'href="{link}"' in html
        return link


@pytest.fixture(scope="module")
async def live(
    ts_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Live]:
    from api import create_app

    tmp = tmp_path_factory.mktemp("notify-web")
    url = sqlite_db(tmp)
    engine = make_engine(url)
    doc = config_with_passwords(PASSWORD)
    apply_config(engine, doc)
    smtp = SmtpSink(free_port())
    smtp.start()
    port = free_port()
    settings = make_settings(
        tmp,
        url,
        temporal_address=ts_env.client.service_client.config.target_host,
        temporal_namespace=ts_env.client.namespace,
        public_base_url=f"http://127.0.0.1:{port}",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        mail_from="Guest Recovery <care@example.com>",
    )
    token = create_client(engine, "notify-tests", ["admin"]).token
    server = ServerThread(with_notify_routes(create_app(settings, engine=engine)), port)
    async with running_worker(ts_env.client, engine, settings):
        await asyncio.to_thread(server.start)
        try:
            yield Live(f"http://127.0.0.1:{port}", ts_env, engine, settings, smtp, token)
        finally:
            await asyncio.to_thread(server.stop)
    smtp.stop()
    engine.dispose()


@asynccontextmanager
async def http(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
        yield client


async def form_token(client: httpx.AsyncClient, path: str) -> tuple[int, str]:
    """Status and the CSRF token of a page (the anonymous session's token if no form)."""
    r = await client.get(path)
    found = CSRF_INPUT.search(r.text)
    if found:
        return r.status_code, found.group(1)
    page = await client.get("/login")
    login = CSRF_INPUT.search(page.text)
    assert login, "no CSRF token on /login"
    return r.status_code, login.group(1)


def remeasure(engine: Engine, case_id: str) -> tuple[str, int | None, bool | None, str]:
    case = case_row(engine, case_id)
    return (
        case.remeasure_status,
        case.remeasure_score,
        case.remeasure_resolved,
        case.remeasure_comment,
    )


async def still_pending(live: Live, case_id: str) -> None:
    """Nothing was recorded: the read model and the workflow both still wait for an answer."""
    await asyncio.sleep(0.5)
    assert remeasure(live.engine, case_id) == ("pending", None, None, "")
    state = await live.env.client.get_workflow_handle_for(CaseWorkflow.run, case_id).query(
        CaseWorkflow.state
    )
    assert state.view.remeasure_status.value == "pending" and state.view.remeasure_score is None


# ---------------------------------------------------------------- the survey, in Chromium


async def test_survey_link_from_the_email_answered_in_chromium(
    live: Live, browser: Any, artifacts: Path
) -> None:
    from playwright.async_api import expect

    case_id = await live.resolved_case()
    link = await live.survey_link(case_id)
    await eventually(lambda: remeasure(live.engine, case_id)[0] == "pending", what="pending")

    context = await browser.new_context()
    try:
        page = await context.new_page()
        response = await page.goto(link)
        assert response is not None and response.status == 200
        await expect(page.get_by_role("heading", name="How did we do?")).to_be_visible()
        await expect(page).to_have_title(re.compile("How did we do"))
        await page.screenshot(path=str(artifacts / "survey.png"), full_page=True)
        # Every control has a label; the scale reads in words.
        await page.get_by_role("button", name="Send my answer").click()
        await expect(page.get_by_role("alert")).to_contain_text("Choose how satisfied you are")
        await page.get_by_label("4: Satisfied").check()
        await page.get_by_label("Yes").check()
        await page.get_by_label("Anything you would like to add? (optional)").fill(
            "Quick call, fair refund. Thank you!"
        )
        await page.get_by_role("button", name="Send my answer").click()
        await expect(page.get_by_role("heading", name="Thank you")).to_be_visible()

        # The case shows the score (read model, as the case page and reports read it).
        await eventually(
            lambda: (
                remeasure(live.engine, case_id)
                == ("answered", 4, True, "Quick call, fair refund. Thank you!")
            ),
            what="the answer in the read model",
        )
        # The same link again: a friendly page, nothing recorded a second time.
        again = await page.goto(link)
        assert again is not None and again.status == 409
        await expect(page.get_by_role("heading", name="You have already answered")).to_be_visible()
    finally:
        await context.close()
    assert remeasure(live.engine, case_id)[1] == 4

    # Reused by a plain POST (a second tab, a replayed form): refused, score unchanged.
    async with http(live) as client:
        _, csrf = await form_token(client, "/login")
        r = await client.post(
            link.removeprefix(live.base_url),
            data={"satisfaction": "1", "resolved": "no", "csrf_token": csrf},
        )
        assert r.status_code == 409 and "already answered" in r.text
    await asyncio.sleep(0.5)
    assert remeasure(live.engine, case_id)[:3] == ("answered", 4, True)


async def test_tampered_and_expired_links_record_nothing(live: Live) -> None:
    case_id = await live.resolved_case()
    link = await live.survey_link(case_id)
    await eventually(lambda: remeasure(live.engine, case_id)[0] == "pending", what="pending")
    path = link.removeprefix(live.base_url)
    token = path.rsplit("/", 1)[1]

    # Tampered: one character in the middle of the signature changed (the last character of
    # a base64 string may carry only padding bits, so it is not the one to change).
    body, signature = token.rsplit(".", 1)
    i = len(signature) // 2
    forged = f"{body}.{signature[:i]}{'A' if signature[i] != 'A' else 'B'}{signature[i + 1 :]}"
    # The payload altered, the original signature kept.
    payload = token.split(".")[0]
    swapped = token.replace(payload, payload[:-2] + ("MX" if payload[-2:] != "MX" else "MY"), 1)
    # Forged: a well-formed token signed with another key.
    other = URLSafeTimedSerializer("not-the-secret", salt=SURVEY_SALT).dumps(
        {"case": case_id, "round": 0}
    )

    # Expired: genuine, but signed longer ago than the program's expiry (P5D).
    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 30 * 86400

    expired = URLSafeTimedSerializer(
        live.settings.secret_key.get_secret_value(), salt=SURVEY_SALT, signer=LongAgo
    ).dumps({"case": case_id, "round": 0})

    async with http(live) as client:
        _, csrf = await form_token(client, path)
        for bad, status, words in (
            (forged, 404, "This link does not work"),
            (swapped, 404, "This link does not work"),
            (other, 404, "This link does not work"),
            ("x" * 600, 404, "This link does not work"),
            (expired, 410, "This survey has closed"),
        ):
            r = await client.get(f"/survey/{bad}")
            assert (r.status_code, words in r.text) == (status, True), (bad, r.status_code)
            assert 'name="satisfaction"' not in r.text
            r = await client.post(
                f"/survey/{bad}",
                data={"satisfaction": "5", "resolved": "yes", "csrf_token": csrf},
            )
            assert r.status_code == status, (bad, r.status_code)
        # Without the session's CSRF token the genuine link records nothing either.
        r = await client.post(path, data={"satisfaction": "5", "resolved": "yes"})
        assert r.status_code == 403
        # An invalid answer is shown again with its errors, nothing sent.
        r = await client.post(path, data={"satisfaction": "9", "csrf_token": csrf})
        assert r.status_code == 422 and "Choose how satisfied you are" in r.text
    await still_pending(live, case_id)


async def test_the_survey_link_dies_with_the_survey(live: Live) -> None:
    """Past the program's expiry the workflow records "expired"; the link says so."""
    case_id = await live.resolved_case()
    link = await live.survey_link(case_id)
    await live.env.sleep(timedelta(days=5, hours=1))
    await eventually(lambda: remeasure(live.engine, case_id)[0] == "expired", what="expired")
    async with http(live) as client:
        r = await client.get(link.removeprefix(live.base_url))
        assert r.status_code == 410 and "This survey has closed" in r.text
    # The reminder went out in between, with a link that dies with the original survey.
    assert any(r.kind == "remeasure_reminder" for r in outbox_rows(live.engine, case_id))


# ---------------------------------------------------------------- scripted replies (API)


async def post_reply(
    client: httpx.AsyncClient, case_id: str, headers: dict[str, str], **body: str
) -> httpx.Response:
    return await client.post(f"/api/v1/cases/{case_id}/replies", json=body, headers=headers)


async def test_scripted_reply_filled_edited_sent_and_on_the_timeline(live: Live) -> None:
    case_id = await open_test_case(live.env, live.engine, live.settings)
    await live.smtp.wait_for(rf"^New case {case_id}\b")
    headers = {"Authorization": f"Bearer {live.api_token}"}
    async with http(live) as client:
        r = await client.get(
            f"/api/v1/cases/{case_id}/reply-templates",
            params={"acting_user": "ole"},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        choices = {c["key"]: c for c in r.json()}
        apology = choices["apology"]
        assert apology["name"] == "Our apologies" and apology["subject"] == "Our apologies"
        body = apology["body"]
        assert body.startswith("Dear Kari Nordmann,")
        assert "I am sorry to hear that The room smelled of smoke" in body
        assert f"reference {case_id}" in body and "Ole Owner" in body and "[[" not in body

        # A placeholder left in is refused before anything is sent.
        r = await post_reply(
            client,
            case_id,
            headers,
            acting_user="ole",
            template_key="apology",
            subject="Our apologies",
            text="Dear [[CUSTOMER NAME]], sorry.",
        )
        assert r.status_code == 422 and "[[CUSTOMER NAME]]" in r.json()["detail"]
        # A read-only watcher may not reply (the workflow's validator says so too).
        r = await post_reply(
            client, case_id, headers, acting_user="fred", subject="Hi", text="Hello"
        )
        assert r.status_code == 403, r.text

        edited = body.replace("Kind regards", "Warm regards, and thank you again")
        r = await post_reply(
            client,
            case_id,
            {**headers, "Idempotency-Key": "reply-1"},
            acting_user="ole",
            template_key="apology",
            subject="Our apologies",
            text=edited,
        )
        assert r.status_code == 200, r.text
        detail = r.json()
        assert detail["status"] == "in_progress"  # a reply counts as the owner's activity
    [sent] = await live.smtp.wait_for(r"^Our apologies$")
    assert sent.rcpt_tos == ["kari@example.com"]
    assert "Warm regards, and thank you again" in sent.part("plain")
    assert "Warm regards, and thank you again" in sent.part("html")
    assert f"Reference: {case_id}" in sent.part("plain")
    # The SMTP server has the message before the activity marks the row sent: wait for that.
    await eventually(
        lambda: (
            [r.status for r in outbox_rows(live.engine, case_id) if r.kind == "reply"] == ["sent"]
        ),
        what="the reply's outbox row marked sent",
    )
    with Session(live.engine) as session:  # the timeline as projected (the workflow keeps no text)
        [reply] = session.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "reply")
        ).all()
    assert reply.actor == "ole" and reply.data["text"] == edited.strip()
    assert reply.data["template"] == "apology"


async def test_reply_chosen_edited_previewed_and_sent_from_the_case_page(
    live: Live, browser: Any, artifacts: Path
) -> None:
    """The owner's way, in Chromium: pick a scripted reply, edit it, a leftover placeholder is
    refused at the field, preview, send; the customer gets it and the timeline shows it whole."""
    from playwright.async_api import expect

    case_id = await open_test_case(live.env, live.engine, live.settings)
    await live.smtp.wait_for(rf"^New case {case_id}\b")

    def replies_of(case: str) -> list[Any]:
        sent = live.smtp.with_subject(r"^Our apologies$")
        return [m for m in sent if m.message["X-Caseloop-Case"] == case]

    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{live.base_url}/login")
        await fill_login_form(page, "ole", PASSWORD)
        await page.goto(f"{live.base_url}/cases/{case_id}")
        await page.get_by_text("Reply to the customer").click()
        await page.get_by_label("Scripted reply").select_option(label="Our apologies")
        message = page.get_by_label("Message")
        await expect(message).to_have_value(re.compile(r"^Dear Kari Nordmann,"))
        await expect(page.get_by_label("Subject")).to_have_value("Our apologies")

        # A placeholder typed in and left unfilled: refused at the field, nothing sent.
        await message.fill("Dear [[CUSTOMER FIRST NAME]], we are sorry.")
        await page.get_by_role("button", name="Send reply").click()
        await expect(
            page.get_by_text("Fill in [[CUSTOMER FIRST NAME]] before sending")
        ).to_be_visible()
        assert not [r for r in outbox_rows(live.engine, case_id) if r.kind == "reply"]

        text = "Dear Kari,\n\nWe are sorry about the room. We refunded one night.\n\nOle"
        await page.get_by_label("Message").fill(text)
        await page.get_by_role("button", name="Preview").click()
        preview = page.get_by_role("region", name=re.compile("Preview: Our apologies"))
        await expect(preview).to_contain_text("We refunded one night.")
        await expect(preview).to_contain_text(f"Reference: {case_id}")
        assert not replies_of(case_id)  # a preview sends nothing
        await page.screenshot(path=str(artifacts / "case-reply-preview.png"), full_page=True)

        await page.get_by_role("button", name="Send reply").click()
        await expect(page.get_by_role("status")).to_contain_text("Reply sent to the customer.")
        await eventually(lambda: bool(replies_of(case_id)), what="the reply at the SMTP server")
        [sent] = replies_of(case_id)
        assert sent.rcpt_tos == ["kari@example.com"]
        assert "We refunded one night." in sent.part("plain")
        # The timeline holds the whole text, behind its subject; the reply was owner activity.
        await page.get_by_text("Reply sent: Our apologies").click()
        await expect(page.locator(".sent-reply")).to_contain_text("We refunded one night.")
        await expect(page.locator(".case-head .status")).to_have_text("In progress")
    finally:
        await context.close()


async def test_reply_needs_a_customer_email(live: Live) -> None:
    case_id = await open_test_case(
        live.env, live.engine, live.settings, customer={"name": "No Mail", "phone": "+4790000000"}
    )
    with Session(live.engine) as s:
        customer = s.get(Customer, case_row(live.engine, case_id).customer_id)
        assert customer is not None and customer.email is None
    async with http(live) as client:
        r = await post_reply(
            client,
            case_id,
            {"Authorization": f"Bearer {live.api_token}"},
            acting_user="ole",
            subject="Hello",
            text="Hello",
        )
    assert r.status_code == 422 and r.json()["field"] == "customer"


# ---------------------------------------------------------------- the admin outbox page


async def test_admin_outbox_lists_messages_with_their_bodies(live: Live) -> None:
    case_id = await open_test_case(live.env, live.engine, live.settings)
    await live.smtp.wait_for(rf"^New case {case_id}\b")
    [row] = [r for r in outbox_rows(live.engine, case_id) if r.kind == "alert"]
    async with http(live) as client:
        await log_in(client, "root", PASSWORD)
        r = await client.get("/admin/outbox", params={"case": case_id})
        assert r.status_code == 200, r.text
        assert row.subject.split(":")[0] in r.text and "ole@example.com" in r.text
        r = await client.get(f"/admin/outbox/{row.id}")
        assert r.status_code == 200
        assert "Room was not cleaned on arrival" in r.text and "Plain-text part" in r.text
        r = await client.get(f"/admin/outbox/{row.id}/body.html")
        assert r.status_code == 200 and "sandbox" in r.headers["content-security-policy"]
        assert "Kari Nordmann" in r.text
        r = await client.get("/admin/templates/recovery")
        assert r.status_code == 200 and "Escalation" in r.text
    async with http(live) as client:
        await log_in(client, "ole", PASSWORD)
        r = await client.get("/admin/outbox")
        assert r.status_code == 403
        r = await client.get(f"/admin/outbox/{row.id}/body.html")
        assert r.status_code == 403
    async with http(live) as client:
        r = await client.get("/admin/outbox", follow_redirects=False)
        assert r.status_code == 303 and "/login" in r.headers["location"]
