"""Text the databases cannot store is refused by the pages: an inline message, nothing written.

Every field of every form is poisoned in turn (NUL: a browser's form encoding cannot carry a
lone surrogate, it arrives as U+FFFD) and posted with a signed-in session and its CSRF token,
through the app's real HTTP interface; search and filter parameters too.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from activities.failures import StepFailure, record_failure
from activities.remeasurement import make_survey_token
from models.case import Case
from tests.web.conftest import PASSWORD, LiveApp, page_token, sign_in
from tests.web.test_security import PDF, events_of, settled, version_of

NUL = "\x00"
MESSAGE = "cannot be stored"

# (form route, a valid form); each field is poisoned in turn.
FORMS: dict[str, dict[str, Any]] = {
    "notes": {"text": "Called the guest", "action_id": "a-1"},
    "contact-attempts": {"method": "phone", "outcome": "reached", "note": "Spoke to her"},
    "reassign": {"new_owner_id": "alex", "reason": "Billing question"},
    "watchers": {"user_id": "alex", "access": "full"},
    "watchers/remove": {"user_id": "mia"},
    "tasks": {"title": "Call back", "assignee_id": "ole", "due_hours": "8", "due_on": ""},
    "tasks/done": {"task_id": "1"},
    "tasks/undone": {"task_id": "1"},
    "close": {
        "closing_status": "resolved",
        "root_causes": ["staff"],
        "resolution_methods": ["apology"],
        "final_note": "Apologised",
    },
}
FIELDS = [(form, name) for form, fields in FORMS.items() for name in fields]


def _poison(value: Any) -> Any:
    return [f"{v}{NUL}" for v in value] if isinstance(value, list) else f"{value}{NUL}"


@pytest.mark.parametrize(("form", "name"), FIELDS, ids=[f"{f}:{n}" for f, n in FIELDS])
async def test_a_poisoned_case_form_field_is_refused_inline(
    live: LiveApp, form: str, name: str
) -> None:
    case_id = await live.open_case()
    await settled(live, case_id)
    before = (version_of(live, case_id), events_of(live, case_id))
    data = {**FORMS[form], name: _poison(FORMS[form][name])}
    async with sign_in(live, "ole") as ole:
        token = await page_token(ole, f"/cases/{case_id}")
        r = await ole.post(f"/cases/{case_id}/{form}", data={**data, "csrf_token": token})
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html")
    assert MESSAGE in r.text and case_id in r.text  # the case page, with the message on it
    assert (version_of(live, case_id), events_of(live, case_id)) == before


async def test_an_upload_with_a_poisoned_file_name_is_refused_inline(live: LiveApp) -> None:
    case_id = await live.open_case()
    await settled(live, case_id)
    before = (version_of(live, case_id), events_of(live, case_id))
    async with sign_in(live, "ole") as ole:
        token = await page_token(ole, f"/cases/{case_id}")
        # By hand: a client library would percent-encode the NUL in the file name.
        boundary = "poison-boundary"
        body = (
            (
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
                f"{token}\r\n"
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="file"; filename="receipt{NUL}.pdf"\r\n'
                "Content-Type: application/pdf\r\n\r\n"
            ).encode()
            + PDF
            + f"\r\n--{boundary}--\r\n".encode()
        )
        r = await ole.post(
            f"/cases/{case_id}/documents",
            content=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert MESSAGE in r.text
    assert (version_of(live, case_id), events_of(live, case_id)) == before


@pytest.mark.parametrize("name", ["username", "password", "next"])
async def test_a_poisoned_sign_in_is_refused_inline(live: LiveApp, name: str) -> None:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
        token = await page_token(client, "/login")
        data = {"username": "ole", "password": PASSWORD, "next": "/inbox"}
        data[name] = _poison(data[name])
        r = await client.post("/login", data={**data, "csrf_token": token})
        assert r.status_code == 422, (r.status_code, r.text[:300])
        assert MESSAGE in r.text
        assert (await client.get("/inbox")).status_code in (303, 307), "not signed in"


@pytest.mark.parametrize("name", ["comment", "satisfaction", "resolved"])
async def test_a_poisoned_survey_answer_is_refused_inline(live: LiveApp, name: str) -> None:
    case_id = await live.open_case()
    await settled(live, case_id)
    with Session(live.engine) as session:  # a survey waiting for the customer's answer
        case = session.get(Case, case_id)
        assert case is not None
        case.remeasure_status = "pending"
        session.add(case)
        session.commit()
    token = make_survey_token(live.settings, case_id)
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
        csrf = await page_token(client, f"/survey/{token}")
        data = {"satisfaction": "4", "resolved": "yes", "comment": "Fine"}
        data[name] = _poison(data[name])
        r = await client.post(f"/survey/{token}", data={**data, "csrf_token": csrf})
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert MESSAGE in r.text
    assert "Thank you" not in r.text


PUBLIC_FORM = {
    "name": "Kari Nordmann",
    "email": "kari@example.com",
    "phone": "+47 555 01 234",
    "order_ref": "BK-1",
    "category": "Rooms",
    "message": "The room was dirty",
    "form_token": "a-form-token-of-some-length",
}


@pytest.mark.parametrize("name", sorted(PUBLIC_FORM))
async def test_a_poisoned_public_form_is_refused_inline(live: LiveApp, name: str) -> None:
    def web_cases() -> int:
        with Session(live.engine) as session:
            return len(session.exec(select(Case).where(col(Case.channel) == "web_form")).all())

    before = web_cases()
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
        csrf = await page_token(client, "/forms/fast")
        data = {**PUBLIC_FORM, name: _poison(PUBLIC_FORM[name])}
        r = await client.post("/forms/fast", data={**data, "csrf_token": csrf})
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert MESSAGE in r.text
    assert web_cases() == before


QUERIES = [
    "/inbox?q=Kari{}",
    "/inbox?tab=mine{}",
    "/inbox?status=open{}",
    "/inbox?cursor=x{}",
    "/dashboard?unit=4723{}",
    "/dashboard?cause=staff{}",
    "/admin/outbox?case=C-1{}",
    "/notifications?x={}",
    "/cases/C-000001{}",
    "/kb?q=refund{}",
    "/cases/C-000001?kbq=refund{}",
]


@pytest.mark.parametrize("url", QUERIES)
async def test_a_poisoned_search_or_address_is_refused_not_a_500(live: LiveApp, url: str) -> None:
    async with sign_in(live, "root") as admin:
        r = await admin.get(url.format("%00"))
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html")
    assert MESSAGE in r.text


async def test_admins_see_a_flagged_case_on_the_outbox_and_case_pages(live: LiveApp) -> None:
    case_id = await live.open_case()
    await settled(live, case_id)
    # What the workflow's flag activity writes when a projection fails for good.
    record_failure(live.engine, StepFailure(case_id, "projection", 2, "DataError"))
    line = "Projection failed: DataError (version 2"
    async with sign_in(live, "root") as admin, sign_in(live, "ole") as ole:
        outbox = await admin.get("/admin/outbox")
        assert f"{case_id}</a>: projection failed: DataError (version 2" in outbox.text
        assert line in (await admin.get(f"/cases/{case_id}")).text
        notices = await admin.get("/notifications")
        assert f"{case_id}: projection failed (DataError)" in notices.text
        assert "failed: DataError" not in (await ole.get(f"/cases/{case_id}")).text


KB_FORM = {
    "program_id": "recovery",
    "title": "Refunds",
    "body": "Refund a night",
    "status": "draft",
}


@pytest.mark.parametrize("name", list(KB_FORM))
async def test_a_poisoned_article_is_refused_inline(live: LiveApp, name: str) -> None:
    async with sign_in(live, "mia") as mia:  # a unit manager: writes the knowledge base
        token = await page_token(mia, "/kb/new")
        data = {**KB_FORM, name: _poison(KB_FORM[name]), "csrf_token": token}
        r = await mia.post("/kb/new", data=data)
        assert r.status_code == 422, (r.status_code, r.text[:300])
        assert MESSAGE in r.text
        assert "Refunds" not in (await mia.get("/kb")).text  # nothing written


@pytest.mark.parametrize(
    ("form", "field"), [("related", "other_id"), ("merge", "primary_id"), ("kb", "article_id")]
)
async def test_a_poisoned_case_link_is_refused(live: LiveApp, form: str, field: str) -> None:
    case_id = await live.open_case()
    await settled(live, case_id)
    before = (version_of(live, case_id), events_of(live, case_id))
    async with sign_in(live, "ole") as ole:
        token = await page_token(ole, f"/cases/{case_id}")
        data = {field: f"C-000001{NUL}", "csrf_token": token}
        r = await ole.post(f"/cases/{case_id}/{form}", data=data, follow_redirects=True)
    # Related and merge: refused at the field (422, the reason under the input); a KB link:
    # refused in the page's status message after the redirect.
    assert r.status_code == (200 if form == "kb" else 422)
    assert MESSAGE in r.text and case_id in r.text
    assert (version_of(live, case_id), events_of(live, case_id)) == before
