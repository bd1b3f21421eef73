"""Security of the pages: CSRF, object-level authorisation, escaping, uploads, sign-in."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, col, select

from models.case import CaseEvent, Document
from tests.factories import case_row
from tests.live import eventually
from tests.web.conftest import PASSWORD, UPLOAD_LIMIT, LiveApp, csrf_of, page_token, sign_in

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def events_of(live: LiveApp, case_id: str) -> list[str]:
    with Session(live.engine) as session:
        rows = session.exec(
            select(CaseEvent).where(col(CaseEvent.case_id) == case_id).order_by(col(CaseEvent.seq))
        ).all()
        return [e.kind for e in rows]


def version_of(live: LiveApp, case_id: str) -> int:
    return case_row(live.engine, case_id).version


def documents_of(live: LiveApp, case_id: str) -> list[Document]:
    with Session(live.engine) as session:
        return list(session.exec(select(Document).where(col(Document.case_id) == case_id)).all())


async def settled(live: LiveApp, case_id: str) -> None:
    """Wait for the workflow's first projection, so later version checks compare like with like."""
    await eventually(lambda: version_of(live, case_id) >= 1, what=f"{case_id} projected")


# ---------------------------------------------------------------- CSRF


async def test_state_change_without_a_valid_csrf_token_is_refused(live: LiveApp) -> None:
    case_id = await live.open_case()
    await settled(live, case_id)
    before = (version_of(live, case_id), events_of(live, case_id))
    async with sign_in(live, "ole") as ole, sign_in(live, "mia") as mia:
        token = await page_token(ole, f"/cases/{case_id}")
        other_token = await page_token(mia)
        url = f"/cases/{case_id}/notes"
        attempts: list[dict[str, Any]] = [
            {"data": {"text": "no token"}},
            {"data": {"text": "wrong token", "csrf_token": "x" * 43}},
            {"data": {"text": "another session's token", "csrf_token": other_token}},
            {"data": {"text": "wrong header"}, "headers": {"X-CSRF-Token": "nope"}},
            {
                "data": {"text": "from another site", "csrf_token": token},
                "headers": {"Origin": "https://evil.example"},
            },
        ]
        for attempt in attempts:
            r = await ole.post(url, **attempt)
            assert r.status_code == 403, (attempt, r.status_code)
            assert "Not allowed" in r.text
        # The same requests with the session's own token work (header as HTMX sends it).
        ok = await ole.post(
            url,
            data={"text": "with the token"},
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )
        assert ok.status_code == 200, ok.text
    assert before[1] == ["opened"]
    after = events_of(live, case_id)
    assert after == ["opened", "note"], "only the request with the right token changed the case"

    # Sign-in and sign-out are state changes too.
    async with httpx.AsyncClient(base_url=live.base_url) as anon:
        await anon.get("/login")
        r = await anon.post("/login", data={"username": "ole", "password": PASSWORD})
        assert r.status_code == 403
        r = await anon.get("/inbox")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


# ---------------------------------------------------------------- object-level authorisation


async def test_a_case_without_relation_is_404_like_a_missing_one(live: LiveApp) -> None:
    alex_case = await live.open_case(unit_id="9000", customer={"name": "Bergen Berit"})
    await settled(live, alex_case)
    async with sign_in(live, "alex") as alex:
        token = await page_token(alex, f"/cases/{alex_case}")
        r = await alex.post(
            f"/cases/{alex_case}/documents",
            data={"csrf_token": token},
            files={"file": ("proof.pdf", PDF, "application/pdf")},
        )
        assert r.status_code == 303
    doc = documents_of(live, alex_case)[0]

    async with sign_in(live, "ole") as ole:
        token = await page_token(ole)
        theirs = await ole.get(f"/cases/{alex_case}")
        missing = await ole.get("/cases/C-999999")
        assert theirs.status_code == missing.status_code == 404
        strip = re.compile(r"C-\d{6}|csrf_token\" value=\"[^\"]+\"|hx-headers='[^']+'")
        assert strip.sub("", theirs.text) == strip.sub("", missing.text)
        assert "Bergen Berit" not in theirs.text
        for path in ("notes", "close", "reassign", "watchers"):
            r = await ole.post(
                f"/cases/{alex_case}/{path}", data={"text": "x", "csrf_token": token}
            )
            assert r.status_code == 404, path
        r = await ole.get(f"/cases/{alex_case}/documents/{doc.id}")
        assert r.status_code == 404
        # Nor does it show up in any list or search.
        for tab in ("mine", "watching", "escalated", "units", "all"):
            r = await ole.get("/inbox", params={"tab": tab, "status": "all", "q": alex_case})
            assert f'data-case="{alex_case}"' not in r.text, tab
            assert "0 cases" in r.text, tab
    # The unit's manager (a full watcher by routing) sees it, its list and its document.
    async with sign_in(live, "dora") as dora:
        r = await dora.get(f"/cases/{alex_case}")
        assert r.status_code == 200 and "Bergen Berit" in r.text
        r = await dora.get("/inbox", params={"tab": "units"})
        assert f'data-case="{alex_case}"' in r.text
        r = await dora.get(f"/cases/{alex_case}/documents/{doc.id}")
        assert r.status_code == 200 and r.content == PDF
        assert r.headers["content-disposition"].startswith("attachment")
        assert r.headers["x-content-type-options"] == "nosniff"


async def test_signed_out_requests_go_to_sign_in(live: LiveApp) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as anon:
        r = await anon.get("/cases/C-000001")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=/cases/C-000001"
        r = await anon.get("/inbox", headers={"HX-Request": "true"})
        assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login")
        r = await anon.get("/")
        assert r.status_code == 303 and r.headers["location"] == "/inbox"


# ---------------------------------------------------------------- escaping


XSS_NAME = "<script>alert('name')</script>"
XSS_VERBATIM = "<img src=x onerror=\"alert('verbatim')\">"
XSS_NOTE = '"><svg onload=alert("note")></svg>'


async def test_script_in_customer_data_and_notes_renders_inert(
    live: LiveApp, open_page: Any
) -> None:
    case_id = await live.open_case(
        customer={"name": XSS_NAME}, verbatim=XSS_VERBATIM, reason="<b>bold</b> reason"
    )
    await settled(live, case_id)
    async with sign_in(live, "ole") as ole:
        token = await page_token(ole, f"/cases/{case_id}")
        r = await ole.post(f"/cases/{case_id}/notes", data={"text": XSS_NOTE, "csrf_token": token})
        assert r.status_code == 303
        for path in (f"/cases/{case_id}", "/inbox"):
            page = (await ole.get(path)).text
            for payload in (XSS_NAME, XSS_VERBATIM, XSS_NOTE, "<b>bold</b>"):
                assert payload not in page, (path, payload)
            assert html.escape(XSS_NAME, quote=False) in page or "&lt;script&gt;" in page

    page = await open_page("ole")
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    await page.goto(f"/cases/{case_id}")
    await page.get_by_text(XSS_NOTE).wait_for()
    await page.get_by_text(XSS_VERBATIM).wait_for()
    assert await page.locator("#case-title").inner_text() == f"{case_id} · {XSS_NAME}"
    await page.goto("/inbox")
    await page.get_by_text(XSS_NAME).wait_for()
    assert dialogs == []
    # No inline script but the page's own word list for its scripts: JSON data, never run.
    inline = page.locator("script:not([src])")
    assert await inline.count() == 1
    assert await inline.get_attribute("type") == "application/json"
    assert await inline.get_attribute("id") == "caseloop-words"
    assert XSS_NAME not in await inline.text_content()


# ---------------------------------------------------------------- uploads


async def test_uploads_are_checked_by_content_and_size(live: LiveApp) -> None:
    case_id = await live.open_case()
    await settled(live, case_id)
    refused: list[tuple[str, bytes, int, str]] = [
        ("photo.png", PDF, 422, "ends in .png, but its content is a PDF"),
        ("invoice.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64, 422, "not accepted"),
        ("notes.txt", b"<!DOCTYPE html><script>alert(1)</script>", 422, "not accepted"),
        ("archive.zip", b"PK\x03\x04" + b"\x00" * 40, 422, "not accepted"),
        ("empty.pdf", b"", 422, "Choose a file"),
        ("big.pdf", b"%PDF-" + b"0" * UPLOAD_LIMIT, 413, "larger than the limit"),
    ]
    async with sign_in(live, "ole") as ole:
        token = await page_token(ole, f"/cases/{case_id}")
        for name, data, status, message in refused:
            r = await ole.post(
                f"/cases/{case_id}/documents",
                data={"csrf_token": token},
                files={"file": (name, data, "application/pdf")},
                headers={"HX-Request": "true"},
            )
            assert r.status_code == status, (name, r.status_code)
            assert message in html.unescape(r.text), (name, r.text[:300])
        # Far over the limit: refused while streaming, before the body is read.
        huge = b"%PDF-" + b"0" * (UPLOAD_LIMIT + 200 * 1024)
        r = await ole.post(
            f"/cases/{case_id}/documents",
            data={"csrf_token": token},
            files={"file": ("huge.pdf", huge, "application/pdf")},
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 413 and r.headers["HX-Retarget"] == "#upload-error"
        assert documents_of(live, case_id) == []
        assert events_of(live, case_id) == ["opened"]

        # The real thing, whatever type the browser claims, gets the type of its content.
        r = await ole.post(
            f"/cases/{case_id}/documents",
            data={"csrf_token": token},
            files={"file": ("../../etc/scan.PNG", PNG, "text/html")},
        )
        assert r.status_code == 303
    (doc,) = documents_of(live, case_id)
    assert (doc.filename, doc.content_type, doc.size) == ("scan.PNG", "image/png", len(PNG))
    stored = await asyncio.to_thread(Path(live.settings.upload_dir, doc.id).read_bytes)
    assert stored != PNG and PNG not in stored, (
        "stored encrypted (tests/web/test_uploads_at_rest.py)"
    )
    assert events_of(live, case_id) == ["opened", "document"]


# ---------------------------------------------------------------- sign-in


async def test_login_is_rate_limited_per_user_and_address(live: LiveApp) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        token = csrf_of((await client.get("/login")).text)
        for _ in range(5):
            r = await client.post(
                "/login", data={"username": "dora", "password": "wrong", "csrf_token": token}
            )
            assert r.status_code == 401
            assert "do not match" in r.text
        r = await client.post(
            "/login", data={"username": "dora", "password": PASSWORD, "csrf_token": token}
        )
        assert r.status_code == 429
        assert "Too many failed sign-ins" in r.text and int(r.headers["Retry-After"]) > 0
        # Another user from the same address is not locked out by dora's failures.
        r = await client.post(
            "/login", data={"username": "root", "password": PASSWORD, "csrf_token": token}
        )
        assert r.status_code == 303


async def test_session_cookie_flags_and_page_headers(live: LiveApp) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        r = await client.get("/login")
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        # Never an open redirect after sign-in.
        r = await client.post(
            "/login",
            data={
                "username": "mia",
                "password": PASSWORD,
                "next": "//evil.example/x",
                "csrf_token": csrf_of(r.text),
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/inbox"
        r = await client.get("/inbox", headers={"HX-Request": "true"})
        assert "HX-Request" in r.headers["vary"]
        assert "<html" not in r.text and 'id="results"' in r.text


async def test_secure_cookie_behind_tls(engine: Any, settings: Any) -> None:
    from api import create_app

    tls = settings.model_copy(update={"public_base_url": "https://caseloop.example"})
    # ASGI without lifespan: the sign-in page needs neither Temporal nor the worker.
    transport = httpx.ASGITransport(app=create_app(tls, engine=engine))
    async with httpx.AsyncClient(transport=transport, base_url="https://caseloop.example") as c:
        r = await c.get("/login")
    assert "secure" in r.headers["set-cookie"].lower()
