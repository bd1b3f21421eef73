"""Sessions, sign-in and what the pages hand out: server-side sign-out, no password no sign-in,
throttling keyed on the account, trusted proxies, no-store pages, /docs under our CSP, and survey
links kept out of the access log. Against the real app in uvicorn on the Temporal dev server."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from itsdangerous import TimestampSigner
from sqlmodel import Session

from activities.remeasurement import make_survey_token
from core.settings import ROOT
from models.config import User
from services.tokens import create_client
from tests.conftest import sqlite_db
from tests.live import csrf_of, free_port, log_in
from tests.web.conftest import PASSWORD, LiveApp, page_token, seed_web, sign_in
from web.auth import fingerprint
from web.ui_setup import SESSION_COOKIE


def _cookie(live: LiveApp, data: dict[str, Any]) -> str:
    """A session cookie as Starlette signs it, made with the app's own key (a forgery that
    knows the key: what the default key allowed anyone)."""
    payload = base64.b64encode(json.dumps(data).encode())
    signer = TimestampSigner(live.settings.secret_key.get_secret_value())
    return signer.sign(payload).decode()


def _user(live: LiveApp, user_id: str, password: str | None, role: str = "agent") -> None:
    with Session(live.engine) as session:
        user = session.get(User, user_id) or User(id=user_id, name=user_id.title())
        user.role, user.active = role, True
        user.password_hash = PasswordHasher().hash(password) if password else None
        session.add(user)
        session.commit()


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    token = csrf_of((await client.get("/login")).text)
    return await client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


# ---------------------------------------------------------------- sessions


async def test_a_cookie_replayed_after_sign_out_is_signed_out(live: LiveApp) -> None:
    async with sign_in(live, "ole") as client:
        kept = client.cookies[SESSION_COOKIE]
        token = await page_token(client)
        r = await client.post("/logout", data={"csrf_token": token})
        assert r.status_code == 303
    async with httpx.AsyncClient(base_url=live.base_url) as thief:
        thief.cookies.set(SESSION_COOKIE, kept)
        r = await thief.get("/inbox")
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), r.status_code


async def test_reloading_the_configuration_keeps_sessions_a_new_password_ends_them(
    live: LiveApp,
) -> None:
    async with sign_in(live, "alex") as client:
        await asyncio.to_thread(seed_web, live.engine)  # the same users, passwords and all
        assert (await client.get("/inbox")).status_code == 200, "a reload signed alex out"
        _user(live, "alex", "a brand new password")
        r = await client.get("/inbox")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    _user(live, "alex", PASSWORD)


async def test_a_user_without_a_password_cannot_sign_in(live: LiveApp) -> None:
    _user(live, "nopass", None, role="admin")
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        for password in ("", "anything", "not-a-password-"):
            r = await _login(client, "nopass", password)
            assert r.status_code in (401, 422), (password, r.status_code)
    # Cookies signed with the app's key naming that user: the old layout (user id and the
    # fingerprint of "no password", which anyone can compute), then a real session row.
    old_layout = {"uid": "nopass", "pwf": fingerprint(None), "csrf": "c" * 43}
    await _refused(live, old_layout)
    from services import sessions

    with Session(live.engine) as session:
        sid = sessions.start(session, "nopass", fingerprint(None), 3600)
    await _refused(live, {"sid": sid, "csrf": "c" * 43})


async def _refused(live: LiveApp, data: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        client.cookies.set(SESSION_COOKIE, _cookie(live, data))
        for path in ("/inbox", "/admin/outbox"):
            r = await client.get(path)
            assert r.status_code == 303, (data, path, r.status_code)
            assert r.headers["location"].startswith("/login")


# ---------------------------------------------------------------- throttling


async def test_rotating_x_forwarded_for_does_not_reset_the_count(live: LiveApp) -> None:
    """No TRUSTED_PROXIES: the header is the client's say-so; the peer address and the account
    are what count."""
    _user(live, "fiona", PASSWORD)
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        token = csrf_of((await client.get("/login")).text)
        for n in range(5):
            r = await client.post(
                "/login",
                data={"username": "fiona", "password": "wrong", "csrf_token": token},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            )
            assert r.status_code == 401
        r = await client.post(
            "/login",
            data={"username": "fiona", "password": PASSWORD, "csrf_token": token},
            headers={"X-Forwarded-For": "198.51.100.7"},
        )
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


async def test_behind_a_trusted_proxy_the_account_is_throttled_from_any_address(
    live: LiveApp,
) -> None:
    """A proxy in TRUSTED_PROXIES: each forwarded address has its own count, and the account
    as a whole stops after 10 failures whatever the addresses."""
    from api import create_app

    _user(live, "gina", PASSWORD)
    settings = live.settings.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    app = create_app(settings, temporal=live.client, engine=live.engine)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=live.base_url) as client:
        token = csrf_of((await client.get("/login")).text)

        async def attempt(user: str, password: str, address: str) -> httpx.Response:
            return await client.post(
                "/login",
                data={"username": user, "password": password, "csrf_token": token},
                headers={"X-Forwarded-For": f"{address}, 127.0.0.1"},
            )

        for _ in range(5):
            assert (await attempt("gina", "wrong", "203.0.113.9")).status_code == 401
        # That forwarded address is held for gina; another address is not (the peer is the
        # proxy for both: it is the forwarded address that counts).
        assert (await attempt("gina", PASSWORD, "203.0.113.9")).status_code == 429
        for n in range(5):
            assert (await attempt("gina", "wrong", f"198.51.100.{n}")).status_code == 401
        r = await attempt("gina", PASSWORD, "192.0.2.200")
        assert r.status_code == 429, "ten failures for the account from anywhere hold it"
        assert (await attempt("root", PASSWORD, "192.0.2.200")).status_code == 303


# ---------------------------------------------------------------- headers, docs


async def test_case_pages_and_api_answers_are_never_cached(live: LiveApp) -> None:
    case_id = await live.open_case()
    async with sign_in(live, "ole") as client:
        for path in (f"/cases/{case_id}", "/inbox", "/login"):
            r = await client.get(path)
            assert r.headers["cache-control"] == "no-store", path
            assert r.headers["x-content-type-options"] == "nosniff", path
    token = create_client(live.engine, "headers", ["cases:read"]).token
    async with httpx.AsyncClient(base_url=live.base_url) as api:
        r = await api.get(f"/api/v1/cases/{case_id}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-content-type-options"] == "nosniff"


async def test_docs_render_from_vendored_swagger_ui_under_our_csp(
    browser: Any, live: LiveApp
) -> None:
    context = await browser.new_context(base_url=live.base_url)
    page = await context.new_page()
    problems: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "request",
        lambda req: outside.append(req.url) if not req.url.startswith(live.base_url) else None,
    )
    await page.add_init_script(
        "window.__csp = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    try:
        r = await page.goto("/docs")
        assert r is not None and r.status == 200
        assert "script-src 'self' 'sha256-" in r.headers["content-security-policy"]
        assert '"validatorUrl": null' in await r.text()  # no off-site badge on a public host
        await page.locator(".opblock").first.wait_for(timeout=20_000)
        paths = await page.locator(".opblock-summary-path").all_inner_texts()
        assert "/api/v1/cases" in {p.strip().replace("\u200b", "") for p in paths}, paths[:5]
        await page.locator(".opblock-summary").first.click()  # opens: the UI really works
        await page.locator(".opblock-body").first.wait_for()
        assert await page.evaluate("window.__csp") == []
        assert problems == [], problems
        assert outside == [], outside
    finally:
        await context.close()


# ---------------------------------------------------------------- access log


def _wait_up(url: str, proc: subprocess.Popen[str], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, "uvicorn exited"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not up in {within}s")


async def test_survey_tokens_never_reach_the_access_log(live: LiveApp, tmp_path: Path) -> None:
    """uvicorn's own access log, of a real server process started as `make run` starts it."""
    port = free_port()
    settings = live.settings.model_copy(update={"database_url": sqlite_db(tmp_path)})
    env = dict(os.environ) | {
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        "DATABASE_URL": settings.database_url,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("BOOTSTRAP_TOKEN", "CASELOOP_BOOTSTRAP_TOKEN", "TRUSTED_PROXIES", "DEMO_MODE"):
        env.pop(name, None)
    argv = [sys.executable, "-m", "uvicorn", "api:app", "--port", str(port), "--no-proxy-headers"]
    token = make_survey_token(settings, "C-000001", 0)
    proc = await asyncio.to_thread(
        subprocess.Popen,
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(_wait_up, f"{base}/healthz", proc)
        async with httpx.AsyncClient(base_url=base) as client:
            r = await client.get(f"/survey/{token}", params={"utm_source": "mail"})
            assert r.status_code == 404  # no such case in this database: still logged
            await client.post(f"/survey/{token}", data={"satisfaction": "5"})
            await client.get(f"/survey/{token}/")
    finally:
        proc.terminate()
        output, _ = await asyncio.to_thread(proc.communicate, timeout=20)
    lines = [line for line in output.splitlines() if "/survey/" in line]
    assert len(lines) >= 3, output[-3000:]
    assert token not in output and token[:20] not in output
    # The access line names the route template; any path it carries is redacted.
    assert all("/survey/{token}" in line or "/survey/[redacted]" in line for line in lines), lines


async def test_sign_in_still_works_end_to_end(live: LiveApp) -> None:
    """The happy path over real HTTP, after all of the above in this module."""
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        await log_in(client, "mia", PASSWORD)
        assert (await client.get("/inbox")).status_code == 200
