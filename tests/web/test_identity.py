"""People and machines getting in: an admin's invitation and the password reset, both through
a real SMTP server (aiosmtpd); API clients made, rotated and revoked on their page; single
sign-on against a real OpenID Connect provider served in the test. Every change audited."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.settings import Settings
from domain.program import UnitIn
from models.audit import AuditEntry
from models.config import ApiClient, Unit
from models.db import make_engine
from models.sessions import AccountLink
from models.types import utcnow
from services.configuration import apply_config
from tests.conftest import sqlite_db
from tests.factories import config_with_passwords
from tests.live import ServerThread, csrf_of, fill_login_form, free_port, log_in
from tests.notify.conftest import SmtpSink
from tests.oidc_provider import Provider, start_provider
from tests.web.conftest import PASSWORD
from tests.web.test_accessibility import violations

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/(?:invite|reset)/[A-Za-z0-9_-]+)")


@dataclass
class App:
    base_url: str
    engine: Engine
    settings: Settings
    smtp: SmtpSink
    idp: Provider


@pytest.fixture(scope="module")
def idp() -> Iterator[Provider]:
    provider, server = start_provider()
    yield provider
    server.stop()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink, idp: Provider) -> Iterator[App]:
    from api import create_app

    tmp = tmp_path_factory.mktemp("identity")
    url = sqlite_db(tmp)
    engine = make_engine(url)
    doc = config_with_passwords(PASSWORD)
    doc.units.append(UnitIn(id="5000", name="Tromsø Pier"))  # nobody in its places yet
    apply_config(engine, doc)
    port = free_port()
    settings = Settings(
        database_url=url,
        temporal_address=f"127.0.0.1:{free_port()}",  # none: these pages never need Temporal
        public_base_url=f"http://127.0.0.1:{port}",
        secret_key=f"test-{uuid.uuid4().hex}",  # type: ignore[arg-type]
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        mail_from="Caseloop <caseloop@example.com>",
        oidc_issuer=idp.issuer,
        oidc_client_id=idp.client_id,
        oidc_client_secret=idp.client_secret,  # type: ignore[arg-type]
        oidc_provider_name="Test IdP",
    )
    server = ServerThread(create_app(settings, engine=engine), port)
    server.start()
    try:
        yield App(f"http://127.0.0.1:{port}", engine, settings, sink, idp)
    finally:
        server.stop()
        engine.dispose()


def audit(app: App, object_id: str) -> list[AuditEntry]:
    with Session(app.engine) as session:
        query = select(AuditEntry).where(col(AuditEntry.object_id) == object_id)
        return list(session.exec(query.order_by(col(AuditEntry.id))).all())


def all_audit_text(app: App) -> str:
    with Session(app.engine) as session:
        rows = session.exec(select(AuditEntry)).all()
        return json.dumps([r.model_dump(mode="json") for r in rows])


def link_in(mail: Any) -> str:
    found = LINK.search(mail.part("plain"))
    assert found, mail.part("plain")
    return found.group(1)


@pytest.fixture
async def anon(app: App) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as client:
        yield client


async def signed_in(app: App, user: str, password: str = PASSWORD) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=app.base_url, timeout=30)
    await log_in(client, user, password)
    return client


@pytest.fixture
async def open_page(browser: Any, app: App) -> AsyncIterator[Any]:
    """`await open_page(user or None)`: a page in a new browser context, closed afterwards."""
    contexts: list[Any] = []

    async def opened(user: str | None = None) -> Any:
        ctx = await browser.new_context(base_url=app.base_url)
        contexts.append(ctx)
        page = await ctx.new_page()
        if user:
            await page.goto("/login")
            await fill_login_form(page, user, PASSWORD)
            await page.wait_for_url("**/inbox")
        return page

    yield opened
    for ctx in contexts:  # closes the pages' event streams before the server stops
        await ctx.close()


# ---------------------------------------------------------------- invitations


async def test_admin_invites_a_person_who_sets_a_password_once(open_page: Any, app: App) -> None:
    bystander = await signed_in(app, "ole")
    admin = await open_page("root")
    await admin.goto("/admin/users")
    form = admin.locator("#invite-user")
    await form.get_by_label("Name", exact=True).fill("Nina Newcomer")
    await form.get_by_label("Email", exact=True).fill("nina@example.com")
    await form.get_by_label("User name (for signing in)").fill("nina")
    await form.get_by_label("Role", exact=True).select_option("agent")
    await form.get_by_label("Tromsø Pier (5000)").check()
    await form.get_by_role("button", name="Send invitation").click()
    await expect(admin.locator("#user-invited")).to_contain_text("nina@example.com")

    (mail,) = await app.smtp.wait_for("invited to Caseloop")
    assert mail.rcpt_tos == ["nina@example.com"] and "Nina Newcomer" in mail.part("plain")
    link = link_in(mail)
    assert "/invite/" in link
    with Session(app.engine) as session:
        unit = session.get(Unit, "5000")
        assert unit is not None and unit.frontline_owner_id == "nina"

    nina = await open_page()
    await nina.goto(link)
    await nina.get_by_label("New password").fill("short")
    await nina.get_by_label("The same password again").fill("short")
    await nina.get_by_role("button", name="Set password and sign in").click()
    await expect(nina.get_by_role("alert")).to_contain_text("at least 8 characters")
    await nina.get_by_label("New password").fill("a long enough password")
    await nina.get_by_label("The same password again").fill("a long enough password")
    await nina.get_by_role("button", name="Set password and sign in").click()
    await nina.wait_for_url("**/inbox")
    await expect(nina.locator(".site-header")).to_contain_text("Nina Newcomer")

    again = await (await open_page()).goto(link)
    assert again is not None and again.status == 410
    assert "used already" in await again.text()

    actions = [(e.actor_id, e.action) for e in audit(app, "nina")]
    assert ("root", "create") in actions and ("root", "invite") in actions
    assert ("nina", "password_set") in actions
    assert link.rsplit("/", 1)[1] not in all_audit_text(app)
    assert (await bystander.get("/inbox", follow_redirects=False)).status_code == 200
    await bystander.aclose()


async def test_an_invitation_is_refused_inline_and_needs_an_admin(app: App) -> None:
    admin = await signed_in(app, "root")
    token = csrf_of((await admin.get("/admin/users")).text)
    r = await admin.post(
        "/admin/invites",
        data={"csrf_token": token, "user_id": "ole", "name": "X", "email": "x@example.com"},
    )
    assert r.status_code == 422 and "exists already" in r.text
    r = await admin.post(
        "/admin/invites",
        data={"csrf_token": token, "user_id": "x1", "name": "X", "email": "not-an-address"},
    )
    assert r.status_code == 422 and "valid email address" in r.text
    r = await admin.post(
        "/admin/invites",
        data={"csrf_token": token, "user_id": "x1", "name": "X", "email": "OLE@example.com"},
    )
    assert r.status_code == 422 and "has this email address already" in r.text
    body = {"csrf_token": token, "user_id": "x2", "name": "X", "email": "x2@example.com"}
    r = await admin.post("/admin/invites", data={**body, "units": "4723"})
    assert r.status_code == 422 and "someone in that place" in r.text
    assert audit(app, "x2") == []
    await admin.aclose()

    ole = await signed_in(app, "ole")
    token = csrf_of((await ole.get("/inbox")).text)
    r = await ole.post("/admin/invites", data={**body, "csrf_token": token})
    assert r.status_code == 403 and audit(app, "x2") == []
    assert (await ole.get("/admin/clients")).status_code == 403
    await ole.aclose()


# ---------------------------------------------------------------- password reset


async def test_password_reset_round_trip_through_real_smtp(
    app: App, anon: httpx.AsyncClient
) -> None:
    old_session = await signed_in(app, "alex")
    other_user = await signed_in(app, "dora")
    page = await anon.get("/login")
    assert 'href="/forgot-password"' in page.text
    token = csrf_of((await anon.get("/forgot-password")).text)
    known = await anon.post(
        "/forgot-password", data={"csrf_token": token, "address": "ALEX@example.com"}
    )
    unknown = await anon.post(
        "/forgot-password", data={"csrf_token": token, "address": "nobody@example.com"}
    )
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text and "If an account has this address" in known.text

    (mail,) = await app.smtp.wait_for("Reset your Caseloop password")
    assert mail.rcpt_tos == ["alex@example.com"]
    assert not app.smtp.with_subject("nobody")
    link = link_in(mail)
    path = link.removeprefix(app.base_url)
    form = await anon.get(path)
    assert form.status_code == 200 and "Choose your password" in form.text
    token = csrf_of(form.text)
    r = await anon.post(
        path,
        data={"csrf_token": token, "password": "new secret 1", "password_again": "new secret 2"},
    )
    assert r.status_code == 422 and "not the same" in r.text
    r = await anon.post(
        path,
        data={"csrf_token": token, "password": "new secret 1", "password_again": "new secret 1"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/inbox"
    assert (await anon.get("/inbox")).status_code == 200  # signed in

    assert (await old_session.get("/inbox", follow_redirects=False)).status_code == 303
    assert (await other_user.get("/inbox", follow_redirects=False)).status_code == 200
    again = await httpx.AsyncClient(base_url=app.base_url).get(path)
    assert again.status_code == 410 and "used already" in again.text

    async with httpx.AsyncClient(base_url=app.base_url) as fresh:
        page = await fresh.get("/login")
        r = await fresh.post(
            "/login",
            data={"csrf_token": csrf_of(page.text), "username": "alex", "password": PASSWORD},
        )
        assert r.status_code == 401
        await log_in(fresh, "alex", "new secret 1")

    actions = [(e.actor_id, e.action) for e in audit(app, "alex")]
    assert ("-", "reset_sent") in actions and ("alex", "password_set") in actions
    assert path.rsplit("/", 1)[1] not in all_audit_text(app)
    await old_session.aclose()
    await other_user.aclose()


async def test_admin_sends_a_reset_and_an_expired_link_says_so(app: App) -> None:
    admin = await signed_in(app, "root")
    token = csrf_of((await admin.get("/admin/users")).text)
    r = await admin.post("/admin/users/fred/link", data={"csrf_token": token})
    assert r.status_code == 200 and "reset link is sent" in r.text
    await app.smtp.wait_for("Reset your Caseloop password", count=2)  # alex's, then fred's
    mails = [m for m in app.smtp.with_subject("Reset") if m.rcpt_tos == ["fred@example.com"]]
    assert len(mails) == 1
    path = link_in(mails[0]).removeprefix(app.base_url)
    assert ("root", "reset_sent") in [(e.actor_id, e.action) for e in audit(app, "fred")]
    with Session(app.engine) as session:
        for link in session.exec(select(AccountLink).where(col(AccountLink.user_id) == "fred")):
            link.expires_at = utcnow() - timedelta(minutes=1)
            session.add(link)
        session.commit()
    r = await admin.get(path)
    assert r.status_code == 410 and "expired" in r.text
    r = await admin.get("/reset/" + "x" * 43)
    assert r.status_code == 404 and "does not work" in r.text
    await admin.aclose()


# ---------------------------------------------------------------- API clients


async def test_api_client_secret_is_shown_once_and_rotates_and_revokes(
    open_page: Any, app: App
) -> None:
    admin = await open_page("root")
    await admin.goto("/inbox")
    await admin.get_by_text("Admin", exact=True).click()
    await admin.get_by_role("link", name="API clients").click()
    await admin.wait_for_url("**/admin/clients")
    form = admin.locator("#new-client")
    await form.get_by_label("Name", exact=True).fill("crm-sync")
    await form.get_by_role("checkbox", name=re.compile(r"cases:read")).check()
    await form.get_by_label("Guest Recovery").check()
    await form.get_by_role("button", name="Create client").click()
    secret = await admin.get_by_label("Secret", exact=True).input_value()
    assert secret.startswith("clp_")
    assert await violations(admin) == []  # the page with its one-time secret shown

    async with httpx.AsyncClient(base_url=app.base_url) as api:
        bearer = {"Authorization": f"Bearer {secret}"}
        assert (await api.get("/api/v1/cases", headers=bearer)).status_code == 200

        await admin.reload()
        await expect(admin.locator("tr", has_text="crm-sync")).to_contain_text("cases:read")
        assert await admin.get_by_label("Secret", exact=True).count() == 0
        assert secret not in await admin.content()

        await admin.get_by_role("button", name="Rotate crm-sync").click()
        await expect(admin.locator("#new-secret")).to_contain_text("New secret of crm-sync")
        rotated = await admin.get_by_label("Secret", exact=True).input_value()
        assert rotated != secret
        new = {"Authorization": f"Bearer {rotated}"}
        assert (await api.get("/api/v1/cases", headers=new)).status_code == 200
        assert (await api.get("/api/v1/cases", headers=bearer)).status_code == 401

        await admin.get_by_role("button", name="Revoke crm-sync").click()
        await expect(admin.locator("#client-revoked")).to_be_visible()
        assert (await api.get("/api/v1/cases", headers=new)).status_code == 401

    with Session(app.engine) as session:
        client = session.exec(select(ApiClient).where(col(ApiClient.name) == "crm-sync")).one()
        assert client.programs == ["recovery"]
    actions = [(e.actor_id, e.via, e.action) for e in audit(app, str(client.id))]
    assert actions == [
        ("root", "page", "create"),
        ("root", "page", "rotate"),
        ("root", "page", "revoke"),
    ]
    text = all_audit_text(app)
    assert secret not in text and rotated not in text


async def test_a_client_form_with_mistakes_is_answered_inline(app: App) -> None:
    admin = await signed_in(app, "root")
    token = csrf_of((await admin.get("/admin/clients")).text)
    r = await admin.post(
        "/admin/clients",
        data={"csrf_token": token, "name": "p", "kind": "personal", "scopes": "delegate"},
    )
    assert r.status_code == 422
    assert "belongs to a user" in r.text and "clp_" not in r.text
    r = await admin.post(
        "/admin/clients",
        data={"csrf_token": token, "name": "p", "scopes": "cases:read", "units": "nope"},
    )
    assert r.status_code == 422 and "Choose only from" in r.text
    await admin.aclose()


# ---------------------------------------------------------------- single sign-on


async def test_the_sign_in_page_with_single_sign_on_is_accessible(open_page: Any) -> None:
    page = await open_page()
    await page.goto("/login")
    await expect(page.get_by_role("link", name="Sign in with Test IdP")).to_be_visible()
    await expect(page.get_by_role("link", name="Forgot password?")).to_be_visible()
    assert await violations(page) == []


async def test_oidc_sign_in_round_trip(app: App, anon: httpx.AsyncClient) -> None:
    page = await anon.get("/login")
    assert "Sign in with Test IdP" in page.text
    r = await anon.get("/login/oidc?next=/notifications", follow_redirects=True)
    assert r.status_code == 200 and str(r.url).endswith("/notifications")
    assert "Mia Manager" in r.text
    asked = app.idp.seen[-1]
    assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"]
    assert (await anon.get("/inbox", follow_redirects=False)).status_code == 200


async def _to_callback(client: httpx.AsyncClient) -> httpx.URL:
    """Through the provider, up to (not into) the callback: its URL with code and state."""
    r = await client.get("/login/oidc", follow_redirects=False)
    assert r.status_code == 302
    r = await client.get(r.headers["location"], follow_redirects=False)
    assert r.status_code == 302
    return httpx.URL(r.headers["location"])


async def test_oidc_refuses_a_wrong_state_or_nonce_and_unverified_emails(app: App) -> None:
    async with httpx.AsyncClient(base_url=app.base_url) as client:
        back = await _to_callback(client)
        bad = back.copy_set_param("state", "forged-state")
        r = await client.get(str(bad))
        assert r.status_code == 400 and "did not work" in r.text
        assert (await client.get("/inbox", follow_redirects=False)).status_code == 303

    cases = [("tamper_nonce", True, 400), ("email_verified", False, 403)]
    for flag, value, status in cases:
        setattr(app.idp, flag, value)
        try:
            async with httpx.AsyncClient(base_url=app.base_url) as client:
                r = await client.get(str(await _to_callback(client)))
                assert r.status_code == status, (flag, r.text)
                assert (await client.get("/inbox", follow_redirects=False)).status_code == 303
        finally:
            setattr(app.idp, flag, not value)

    app.idp.email = "stranger@example.com"
    try:
        async with httpx.AsyncClient(base_url=app.base_url) as client:
            r = await client.get(str(await _to_callback(client)))
            assert r.status_code == 403 and "No active Caseloop user" in r.text
    finally:
        app.idp.email = "mia@example.com"


def test_every_refusal_of_the_services_is_in_the_catalog() -> None:
    """The services' messages are marked for translation in web/ by copy: the copies match."""
    from domain.passwords import PROBLEMS
    from services import invites, oidc
    from web.routes.pages.account import RULES
    from web.routes.pages.oidc import MESSAGES
    from web.routes.users import INVITE_MESSAGES

    assert RULES == PROBLEMS
    assert (*invites.REFUSALS, invites.MAIL_FAILED) == INVITE_MESSAGES
    assert MESSAGES == oidc.REFUSALS


async def test_oidc_may_create_a_user_who_then_stays_signed_in_without_a_password(
    app: App,
) -> None:
    app.settings.oidc_create_users = True
    app.idp.email, app.idp.name = "sam.sso@example.com", "Sam Single"
    try:
        async with httpx.AsyncClient(base_url=app.base_url) as client:
            r = await client.get("/login/oidc", follow_redirects=True)
            assert r.status_code == 200 and str(r.url).endswith("/inbox"), r.text
            assert "Sam Single" in r.text
            assert (await client.get("/inbox", follow_redirects=False)).status_code == 200
    finally:
        app.settings.oidc_create_users = False
        app.idp.email, app.idp.name = "mia@example.com", "Mia Manager"
    from models.config import User

    with Session(app.engine) as session:
        sam = session.get(User, "sam.sso")
        assert sam is not None and sam.role == "agent" and sam.password_hash is None
    assert [(e.actor_id, e.action) for e in audit(app, "sam.sso")] == [("sam.sso", "create")]


async def test_text_the_database_cannot_store_is_refused_on_these_forms(app: App) -> None:
    nul = "a\x00b"
    admin = await signed_in(app, "root")
    token = csrf_of((await admin.get("/admin/users")).text)
    for field in ("user_id", "name", "email"):
        body = {"user_id": "pz", "name": "P Z", "email": "pz@example.com", field: nul}
        r = await admin.post("/admin/invites", data={"csrf_token": token, **body})
        assert r.status_code == 422, (field, r.status_code)
    assert audit(app, "pz") == []
    r = await admin.post(
        "/admin/clients", data={"csrf_token": token, "name": nul, "scopes": "cases:read"}
    )
    assert r.status_code == 422 and "clp_" not in r.text
    await admin.aclose()
    async with httpx.AsyncClient(base_url=app.base_url) as anon:
        token = csrf_of((await anon.get("/forgot-password")).text)
        r = await anon.post("/forgot-password", data={"csrf_token": token, "address": nul})
        assert r.status_code == 200 and "If an account has this address" in r.text
