"""Invitations and resets on both databases: the link works once, ends the user's sessions, is
never stored in the clear; a reset for an unknown address leaves no trace; OIDC's mapping."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.settings import Settings
from domain.audit import operator
from domain.passwords import MISMATCH, TOO_SHORT
from models.config import User
from models.sessions import AccountLink, WebSession
from services import sessions
from services.configuration import apply_config
from services.invites import (
    InviteRefused,
    PasswordRefused,
    invite,
    link_state,
    request_reset,
    use_link,
)
from services.oidc import SsoRefused, user_for_claims
from tests.factories import config_with_passwords
from tests.live import free_port
from tests.notify.conftest import SmtpSink


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    found = SmtpSink(free_port())
    found.start()
    yield found
    found.stop()


def compose(url: str, name: str) -> tuple[str, str]:
    return f"Link for {name}", f"Open {url}\n"


def token_in(sink: SmtpSink, subject: str) -> str:
    found = re.search(
        r"/(?:invite|reset)/([A-Za-z0-9_-]+)", sink.with_subject(subject)[-1].part("plain")
    )
    assert found
    return found.group(1)


def test_an_invitation_link_works_once(any_engine: Engine, sink: SmtpSink) -> None:
    apply_config(any_engine, config_with_passwords("a password 1"))
    settings = Settings(smtp_host="127.0.0.1", smtp_port=sink.port, public_base_url="http://x")
    admin = operator("admin")
    with pytest.raises(InviteRefused):
        invite(
            any_engine,
            settings,
            admin,
            compose,
            user_id="ole",
            name="O",
            email="o@x.io",
            role="agent",
            units=[],
        )
    invite(
        any_engine,
        settings,
        admin,
        compose,
        user_id="nina",
        name="Nina",
        email="nina@x.io",
        role="agent",
        units=[],
    )
    token = token_in(sink, "Link for Nina")
    with Session(any_engine) as session:
        stored = session.exec(select(AccountLink.id)).all()
        assert stored == [hashlib.sha256(token.encode()).hexdigest()]  # the hash, never the token
        sessions.start(session, "nina", "x", 3600)
    assert link_state(any_engine, token).status == "valid"
    with pytest.raises(PasswordRefused, match=re.escape(TOO_SHORT)):
        use_link(any_engine, token, "short", "short")
    with pytest.raises(PasswordRefused, match=re.escape(MISMATCH)):
        use_link(any_engine, token, "long enough 1", "long enough 2")
    state, user = use_link(any_engine, token, "long enough 1", "long enough 1")
    assert state.status == "valid" and user is not None and user.password_hash
    with Session(any_engine) as session:
        left = session.exec(select(WebSession).where(col(WebSession.user_id) == "nina")).all()
        assert left == []
    state, user = use_link(any_engine, token, "long enough 3", "long enough 3")
    assert state.status == "used" and user is None


async def test_a_reset_for_an_unknown_address_leaves_no_trace(
    any_engine: Engine, sink: SmtpSink
) -> None:
    apply_config(any_engine, config_with_passwords("a password 1"))
    settings = Settings(smtp_host="127.0.0.1", smtp_port=sink.port, public_base_url="http://x")
    request_reset(any_engine, settings, "nobody@example.com", compose)
    with Session(any_engine) as session:
        assert session.exec(select(AccountLink)).all() == []
    request_reset(any_engine, settings, "Ole@Example.com", compose)
    await sink.wait_for("Link for Ole")
    assert link_state(any_engine, token_in(sink, "Link for Ole")).status == "valid"


def test_oidc_maps_a_verified_email_to_one_active_user(any_engine: Engine) -> None:
    apply_config(any_engine, config_with_passwords("a password 1"))
    claims = {"email": "MIA@example.com", "email_verified": True}
    assert user_for_claims(any_engine, claims, create=False).id == "mia"
    with pytest.raises(SsoRefused):
        user_for_claims(any_engine, {**claims, "email_verified": False}, create=False)
    with pytest.raises(SsoRefused):
        user_for_claims(any_engine, {**claims, "email": "new@example.com"}, create=False)
    made = user_for_claims(any_engine, {**claims, "email": "new@example.com"}, create=True)
    assert (made.id, made.role, made.password_hash) == ("new", "agent", None)
    with Session(any_engine) as session:
        mia = session.get(User, "mia")
        assert mia is not None
        mia.active = False
        session.add(mia)
        session.commit()
    with pytest.raises(SsoRefused):
        user_for_claims(any_engine, claims, create=True)  # a deactivated user is not re-created


def test_link_tokens_are_cut_out_of_logged_urls() -> None:
    from core.redaction import redact

    line = '"GET /invite/abc_DEF-1 HTTP/1.1" 200 and POST /reset/xyz?x=1'
    assert redact(line) == '"GET /invite/[redacted] HTTP/1.1" 200 and POST /reset/[redacted]?x=1'
