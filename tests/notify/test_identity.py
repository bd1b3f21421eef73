"""A case's mail goes to the contact it was opened for, even when customers share a phone.

Two people call from one household number: each case is its own customer's, shows its own
contact, and its scripted reply and its resolution survey reach that contact's address at a
real SMTP server (aiosmtpd), through the real app, worker and Temporal's time-skipping server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from services.tokens import create_client
from tests.factories import case_row, seed
from tests.live import eventually
from tests.notify.conftest import (
    SmtpSink,
    notify_worker,
    open_test_case,
    outbox_rows,
    with_notify_routes,
)

SHARED_PHONE = "+47 555 00 001"
ANN = {"name": "Ann Berg", "email": "ann@example.com", "phone": SHARED_PHONE}
BOB = {"name": "Bob Dahl", "email": "bob@example.com", "phone": SHARED_PHONE}


@asynccontextmanager
async def app_client(
    env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over ASGI (admin token) with the real worker running."""
    from api import create_app

    app = with_notify_routes(create_app(settings, temporal=env.client, engine=engine))
    token = create_client(engine, "identity-tests", ["admin"]).token
    async with notify_worker(env, engine, settings):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ) as client:
            yield client


async def reply(client: httpx.AsyncClient, case_id: str, subject: str) -> httpx.Response:
    """The owner sends the program's apology, placeholders filled in from the case."""
    r = await client.get(f"/api/v1/cases/{case_id}/reply-templates", params={"acting_user": "ole"})
    assert r.status_code == 200, r.text
    [apology] = [c for c in r.json() if c["key"] == "apology"]
    return await client.post(
        f"/api/v1/cases/{case_id}/replies",
        json={"acting_user": "ole", "subject": subject, "text": apology["body"]},
    )


async def close_resolved(client: httpx.AsyncClient, case_id: str) -> None:
    r = await client.post(
        f"/api/v1/cases/{case_id}/close",
        json={
            "acting_user": "ole",
            "closing_status": "resolved",
            "root_causes": ["staff"],
            "final_note": "Refunded a night",
        },
    )
    assert r.status_code == 200, r.text


async def test_shared_phone_other_email_two_customers_each_mailed_at_its_own_contact(
    ts_env: WorkflowEnvironment, engine: Engine, mail_settings: Settings, smtp: SmtpSink
) -> None:
    seed(engine)
    async with app_client(ts_env, engine, mail_settings) as client:
        ann_case = await open_test_case(ts_env, engine, mail_settings, customer=ANN)
        bob_case = await open_test_case(ts_env, engine, mail_settings, customer=BOB)
        ann, bob = case_row(engine, ann_case), case_row(engine, bob_case)
        assert ann.customer_id != bob.customer_id
        assert (bob.customer_name, bob.contact_email) == ("Bob Dahl", "bob@example.com")

        # The API shows each case's own contact, and no earlier case of the other person.
        detail = (await client.get(f"/api/v1/cases/{bob_case}")).json()
        assert detail["contact"] == {
            "name": "Bob Dahl",
            "email": "bob@example.com",
            "phone": "+4755500001",
        }
        assert detail["customer_name"] == "Bob Dahl" and detail["earlier_cases"] == []

        for case_id, who in ((ann_case, "Ann"), (bob_case, "Bob")):
            r = await reply(client, case_id, f"Our apologies, {who}")
            assert r.status_code == 200, r.text
        [to_ann] = await smtp.wait_for(r"^Our apologies, Ann$")
        [to_bob] = await smtp.wait_for(r"^Our apologies, Bob$")
        assert to_ann.rcpt_tos == ["ann@example.com"]
        assert to_bob.rcpt_tos == ["bob@example.com"]
        assert to_bob.part("plain").startswith("Dear Bob Dahl,")

        await close_resolved(client, ann_case)
        await close_resolved(client, bob_case)
        surveys = await smtp.wait_for(r"^How did we do\?", count=2)
        greetings = {m.rcpt_tos[0]: m.part("plain").splitlines()[0] for m in surveys}
        assert greetings == {
            "ann@example.com": "Dear Ann Berg,",
            "bob@example.com": "Dear Bob Dahl,",
        }
        assert all(len(m.rcpt_tos) == 1 for m in surveys)


async def test_a_phone_only_contact_with_another_name_gets_no_mail_meant_for_someone_else(
    ts_env: WorkflowEnvironment, engine: Engine, mail_settings: Settings, smtp: SmtpSink
) -> None:
    """Bob calls from Ann's number and leaves no email: his case must not write to Ann."""
    seed(engine)
    async with app_client(ts_env, engine, mail_settings) as client:
        ann_case = await open_test_case(ts_env, engine, mail_settings, customer=ANN)
        bob_case = await open_test_case(
            ts_env, engine, mail_settings, customer={"name": "Bob Dahl", "phone": SHARED_PHONE}
        )
        bob = case_row(engine, bob_case)
        assert bob.customer_id != case_row(engine, ann_case).customer_id
        assert (bob.customer_name, bob.contact_email) == ("Bob Dahl", None)

        r = await reply(client, bob_case, "Our apologies")
        assert r.status_code == 422 and r.json()["field"] == "customer", r.text
        assert r.headers["content-type"] == "application/problem+json"

        await close_resolved(client, bob_case)
        survey = await eventually(
            lambda: next((r for r in outbox_rows(engine, bob_case) if r.kind == "remeasure"), None),
            what="the survey of Bob's case in the outbox",
        )
    # The survey had nobody to go to; nothing meant for Bob reached Ann's address.
    assert (survey.to_addrs, survey.status) == ([], "failed")
    assert [m.subject for m in smtp.messages if "ann@example.com" in m.rcpt_tos] == []
