"""Single sign-on: which local user an OpenID Connect ID token signs in.

The protocol (discovery, PKCE, state, nonce, the ID token's signature and claims) is authlib's,
in web/routes/pages/oidc.py; here only the mapping: the token's email, which the provider must
say is verified, names exactly one active local user. An unknown email is refused, or, with
OIDC_CREATE_USERS, becomes a new user with the lowest role (audited; no password: they sign
in through the provider only).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from domain.audit import Actor
from domain.fields import unstorable
from domain.program import ConfigDoc, UserIn
from domain.vocabulary import AuditActor, AuditVia, Role
from models.config import User
from services.configuration import apply_in

# Why a sign-in through the provider is refused (the pages translate them).
UNVERIFIED = "Your provider did not confirm your email address, so it cannot sign you in here."
NO_USER = "No active Caseloop user has the email address your provider gave. Ask an administrator."
REFUSALS = (UNVERIFIED, NO_USER)


class SsoRefused(ValueError):
    """The provider's answer names nobody who may sign in; the message says why."""


def _verified_email(claims: dict[str, Any]) -> str:
    email = claims.get("email")
    verified = claims.get("email_verified")
    if not isinstance(email, str) or "@" not in email or len(email) > 320 or unstorable(email):
        raise SsoRefused(UNVERIFIED)
    if verified is not True and verified != "true":
        raise SsoRefused(UNVERIFIED)
    return email.strip()


def _free_id(session: Session, email: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "", email.partition("@")[0])[:56] or "user"
    candidate, n = base, 1
    while session.get(User, candidate) is not None:
        n += 1
        candidate = f"{base}{n}"
    return candidate


def user_for_claims(engine: Engine, claims: dict[str, Any], create: bool) -> User:
    """The active local user the ID token's verified email belongs to."""
    email = _verified_email(claims)
    with Session(engine) as session:
        found = list(
            session.exec(select(User).where(func.lower(col(User.email)) == email.lower())).all()
        )
        active = [u for u in found if u.active]
        if len(active) == 1:
            session.expunge(active[0])
            return active[0]
        if found or not create:  # inactive, or the address is shared: nobody in particular
            raise SsoRefused(NO_USER)
        given = claims.get("name")
        usable = isinstance(given, str) and given.strip() and not unstorable(given)
        name = given.strip()[:200] if isinstance(given, str) and usable else email
        user_id = _free_id(session, email)
        user = UserIn(id=user_id, name=name, email=email, role=Role.AGENT)
        me = Actor(AuditActor.USER, user_id, name, AuditVia.PAGE)
        apply_in(session, ConfigDoc.model_construct(users=[user], units=[], programs=[]), me)
        session.commit()
        created = session.get(User, user_id)
        assert created is not None
        session.expunge(created)
        return created
