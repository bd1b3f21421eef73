"""Sign-in for the web pages: signed-cookie sessions, CSRF tokens, login rate limiting.

The session is Starlette's signed cookie (HttpOnly, SameSite=Lax, Secure behind TLS). It holds
a random session token, checked against the server-side session table on every request (signing
out deletes the row, so a replayed cookie is signed out; the row keeps a fingerprint of the
password hash, so a new password ends the older sessions), and the CSRF token that every
state-changing request must echo back — HTMX sends it in the `X-CSRF-Token` header
(hx-headers on <body>), plain forms in a hidden `csrf_token` field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from domain.permissions import Viewer
from models.config import User
from services import sessions
from services.access import viewer_for, viewers_for
from web.deps import EngineDep
from web.i18n import N_, SESSION_LOCALE, gettext

SESSION_TOKEN = "sid"
SESSION_MAX_AGE = 12 * 3600  # a working day; signing in again after that is expected
SESSION_CSRF = "csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_hasher = PasswordHasher()
# Verified when the user does not exist, so an unknown name costs the same time as a bad password.
_DUMMY_HASH = _hasher.hash("not-a-password-" + secrets.token_hex(8))


class LoginRequired(Exception):
    """No valid session: pages redirect to /login (HTMX gets an HX-Redirect)."""


class PageError(Exception):
    """Rendered as an HTML error page (or fragment for HTMX) with this status."""

    def __init__(self, status: int, title: str, message: str = "") -> None:
        super().__init__(message or title)
        self.status, self.title, self.message = status, title, message


# What the pages say is missing (`not_found`'s argument), for the catalog.
THINGS = (N_("This page"), N_("This case"), N_("This message"), N_("This program"))


def not_found(what: str = "This page") -> PageError:
    """404 in the request's language (`what` is translated when the catalog has it)."""
    message = gettext("%(what)s does not exist, or you have no access to it.", what=gettext(what))
    return PageError(404, gettext("Not found"), message)


def not_allowed(message: str = N_("You are not allowed to do this.")) -> PageError:
    """403; `message` is translated when the catalog has it (mark it with `N_`)."""
    return PageError(403, gettext("Not allowed"), gettext(message))


# ---------------------------------------------------------------- passwords and sessions


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (argon2 either way)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (anonymous sessions have one too)."""
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


# Marks a session begun through single sign-on: valid for a user without a password too.
SSO_MARK = "sso:"


def sign_in(request: Request, session: Session, user: User, *, sso: bool = False) -> None:
    """A fresh server-side session (and CSRF token): nothing of an earlier cookie carries over."""
    request.session.clear()
    mark = (SSO_MARK if sso else "") + fingerprint(user.password_hash)
    token = sessions.start(session, user.id, mark, SESSION_MAX_AGE)
    request.session[SESSION_TOKEN] = token
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)
    remember_locale(request, user)


def remember_locale(request: Request, user: User) -> None:
    """The user's language in the session, where every request finds it before the route."""
    if user.locale:
        request.session[SESSION_LOCALE] = user.locale
    else:
        request.session.pop(SESSION_LOCALE, None)


def sign_out(request: Request, engine: Engine) -> None:
    """Ends the session on the server too: the same cookie, replayed, is signed out."""
    sessions.end(engine, request.session.get(SESSION_TOKEN))
    request.session.clear()


def load_viewer(request: Request, session: Session) -> Viewer | None:
    """The session's user, if the session is live and the user may still sign in."""
    if SESSION_TOKEN not in request.session:
        return None
    live = sessions.find(session, request.session.get(SESSION_TOKEN))
    user = session.get(User, live.user_id) if live is not None else None
    if (
        live is None
        or user is None
        or not user.active
        or not _same_password(live.password_fingerprint, user.password_hash)
    ):
        request.session.clear()
        return None
    remember_locale(request, user)
    return viewer_for(session, user)


def viewers_by_token(engine: Engine, tokens: Iterable[str]) -> dict[str, Viewer]:
    """`load_viewer` for many sessions at once (the live streams' check): the viewer of each
    token whose session is live and whose user may still sign in; three queries for any number
    (a chunk of 500)."""
    with Session(engine) as session:
        live = sessions.find_many(session, tokens)
        user_ids = sorted({s.user_id for s in live.values()})
        users: dict[str, User] = {}
        for i in range(0, len(user_ids), sessions.CHUNK):
            chunk = user_ids[i : i + sessions.CHUNK]
            users.update(
                (u.id, u) for u in session.exec(select(User).where(col(User.id).in_(chunk)))
            )
        signed_in = {
            token: user
            for token, found in live.items()
            if (user := users.get(found.user_id)) is not None
            and user.active
            and _same_password(found.password_fingerprint, user.password_hash)
        }
        viewers = viewers_for(session, signed_in.values())
    return {token: viewers[user.id] for token, user in signed_in.items()}


def _same_password(mark: str, password_hash: str | None) -> bool:
    """The password is what it was at sign-in. A password session needs a password (none, no
    sign-in); a single sign-on session ends too when a password is set or changed."""
    now = fingerprint(password_hash)
    if mark.startswith(SSO_MARK):
        return hmac.compare_digest(mark, SSO_MARK + now)
    return bool(password_hash) and hmac.compare_digest(mark, now)


def current_viewer(request: Request, engine: EngineDep) -> Viewer:
    """The signed-in user (page auth); a short session of its own, not held by the route."""
    with Session(engine) as session:
        viewer = load_viewer(request, session)
    if viewer is None:
        raise LoginRequired()
    request.state.viewer = viewer
    return viewer


CurrentUser = Annotated[Viewer, Depends(current_viewer)]


# ---------------------------------------------------------------- CSRF


def _same_origin(request: Request, origin: str, public_base_url: str) -> bool:
    parts = urlsplit(origin)
    here = f"{request.url.scheme}://{request.url.netloc}"
    public = urlsplit(public_base_url)
    return origin == here or (parts.scheme, parts.netloc) == (public.scheme, public.netloc)


async def verify_csrf(request: Request) -> None:
    """Router dependency: a state-changing request must carry the session's token.

    Runs before the route body, so a refused request changes nothing. A foreign Origin header
    is refused as well (defence in depth next to SameSite=Lax).
    """
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    settings = request.app.state.settings
    if origin and origin != "null" and not _same_origin(request, origin, settings.public_base_url):
        raise not_allowed(
            N_("This form was sent from another site. Reload the page and try again.")
        )
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    expected = request.session.get(SESSION_CSRF)
    if not sent or not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        raise not_allowed(
            N_(
                "The form's security token is missing or out of date. Reload the page and try "
                "again."
            )
        )


# ---------------------------------------------------------------- login rate limiting


@dataclass
class LoginLimiter:
    """In-process sliding window of failed sign-ins, counted three ways per window:

    - per account and address (`max_failures`): a typo-prone user is slowed, nobody else;
    - per account from anywhere (`per_account_failures`): guessing one account's password from
      many addresses (or with made-up X-Forwarded-For headers) stops at this count;
    - per address (`per_ip_failures`): one address spraying many accounts.

    The address is the TCP peer, or what a TRUSTED_PROXIES proxy forwarded. One process's
    memory: with several web processes each keeps its own count.
    """

    max_failures: int = 5
    per_account_failures: int = 10
    per_ip_failures: int = 50
    window_seconds: float = 300.0
    _failures: dict[tuple[str, ...], deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _keys(self, username: str, ip: str) -> list[tuple[tuple[str, ...], int]]:
        user = username.lower()
        return [
            (("pair", user, ip), self.max_failures),
            (("account", user), self.per_account_failures),
            (("ip", ip), self.per_ip_failures),
        ]

    def _recent(self, key: tuple[str, ...], now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_seconds:
            q.popleft()
        return q

    def retry_after(self, username: str, ip: str, now: float | None = None) -> int:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            waits = []
            for key, cap in self._keys(username, ip):
                q = self._recent(key, now)
                if len(q) >= cap:
                    waits.append(q[len(q) - cap] + self.window_seconds - now)
            return max(1, int(max(waits)) + 1) if waits else 0

    def failed(self, username: str, ip: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for key, _cap in self._keys(username, ip):
                self._recent(key, now).append(now)
            if len(self._failures) > 100_000:  # bound memory under a spraying attack
                for key in [k for k, q in self._failures.items() if not q]:
                    del self._failures[key]

    def succeeded(self, username: str, ip: str) -> None:
        """Clears this address's count for the account; the account-wide count stays."""
        with self._lock:
            self._failures.pop(("pair", username.lower(), ip), None)
