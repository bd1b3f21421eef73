"""API clients and their bearer tokens.

A token is 256 random bits, shown once when it is created; only its SHA-256 is stored (a slow
password hash buys nothing for a secret with that much entropy, and every request checks one).
Tokens are never logged, and no response other than the creating one contains them.

A client is either a user's personal token (`user_id`: it acts only as that user) or a service
client (it acts for a user only with the `delegate` scope, and only for users of its programs
and units). `programs`/`units` limit which cases it reads and writes; a token may expire; a
rotation issues a new secret and keeps the old one valid for an overlap window (or none).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain.audit import Actor
from domain.vocabulary import AuditAction, AuditObject, Scope
from models.config import ApiClient, User
from models.types import utcnow
from services.audit import cli_actor, record
from services.writer import writer_for

log = logging.getLogger(__name__)

SCOPES: dict[str, str] = {
    Scope.CASES_WRITE: "open cases, submit survey returns, act on cases",
    Scope.CASES_READ: "read cases and customers",
    Scope.REPORTS_READ: "read reports",
    Scope.METRICS_READ: "scrape /metrics (Prometheus)",
    Scope.WEBHOOKS_MANAGE: "manage the client's own webhook subscriptions and their deliveries",
    Scope.CODEC: "decode and encode Temporal payloads at /codec (Temporal UI and CLI)",
    Scope.DELEGATE: "act on behalf of a user of the client's programs/units (service clients)",
    Scope.KB_READ: "read the knowledge base's published articles",
    Scope.KB_WRITE: "write, publish and unpublish knowledge-base articles",
    Scope.ADMIN: "everything, including configuration and API clients",
}
TOKEN_PREFIX = "clp_"
BOOTSTRAP_NAME = "bootstrap-admin"


class TokenError(ValueError):
    """Bad input to a token command (unknown scope, unknown client)."""


@dataclass
class NewClient:
    client: ApiClient
    token: str  # the only time the plain token exists outside the caller's hands


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise TokenError(
            f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(sorted(SCOPES))}"
        )
    if not scopes:
        raise TokenError("give at least one scope")
    return list(dict.fromkeys(scopes))


def client_state(client: ApiClient) -> dict[str, object]:
    """An API client as audited (never its token or hash)."""

    def when(at: datetime | None) -> str | None:
        return at.isoformat() if at else None

    return {
        "name": client.name,
        "scopes": list(client.scopes or []),
        "user_id": client.user_id,
        "programs": list(client.programs or []),
        "units": list(client.units or []),
        "expires_at": when(client.expires_at),
        "revoked_at": when(client.revoked_at),
        # A rotation shows as the old secret's end (the secrets themselves never).
        "previous_secret_valid_until": when(client.previous_valid_until),
    }


def create_client(
    engine: Engine,
    name: str,
    scopes: list[str],
    token: str | None = None,
    *,
    user_id: str | None = None,
    programs: list[str] | None = None,
    units: list[str] | None = None,
    expires_at: datetime | None = None,
    actor: Actor | None = None,
) -> NewClient:
    """A service client, or with `user_id` that user's personal token (never `delegate`)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("a client needs a name of 1 to 100 characters")
    scopes = check_scopes(scopes)
    if user_id is not None and Scope.DELEGATE in scopes:
        raise TokenError("a personal token acts as its user only: it cannot have 'delegate'")
    token = token or generate_token()
    client = ApiClient(
        name=name,
        scopes=scopes,
        token_hash=hash_token(token),
        user_id=user_id,
        programs=list(dict.fromkeys(programs or [])),
        units=list(dict.fromkeys(units or [])),
        expires_at=expires_at,
    )
    with Session(engine) as session:
        if user_id is not None:
            user = session.get(User, user_id)
            if user is None or not user.active:
                raise TokenError(f"unknown or inactive user {user_id!r}")
        session.add(client)
        session.flush()
        kind, state = AuditObject.API_CLIENT, client_state(client)
        record(session, actor or cli_actor(), kind, str(client.id), None, state)
        session.commit()
        session.refresh(client)
    log.info("API client %s created (id %s, scopes %s)", name, client.id, ",".join(scopes))
    return NewClient(client, token)


def list_clients(engine: Engine) -> list[ApiClient]:
    with Session(engine) as session:
        return list(session.exec(select(ApiClient).order_by(col(ApiClient.id))).all())


def revoke(engine: Engine, ident: str | int, actor: Actor | None = None) -> list[ApiClient]:
    """Revoke by id, or every active client of that name; returns the revoked clients."""
    with Session(engine) as session:
        stmt = select(ApiClient).where(col(ApiClient.revoked_at).is_(None))
        if isinstance(ident, int) or str(ident).isdigit():
            stmt = stmt.where(col(ApiClient.id) == int(ident))
        else:
            stmt = stmt.where(col(ApiClient.name) == str(ident))
        clients = list(session.exec(stmt).all())
        now = utcnow()
        for c in clients:
            before = client_state(c)
            c.revoked_at = now
            session.add(c)
            record(
                session,
                actor or cli_actor(),
                AuditObject.API_CLIENT,
                str(c.id),
                before,
                client_state(c),
                AuditAction.REVOKE,
            )
        session.commit()
        for c in clients:
            session.refresh(c)
    _recent.clear()
    for c in clients:
        log.info("API client %s (id %s) revoked", c.name, c.id)
    return clients


def rotate(
    engine: Engine, client_id: int, overlap_seconds: int = 0, actor: Actor | None = None
) -> NewClient | None:
    """A new secret for an active client; the old one stays valid for `overlap_seconds` (0:
    refused at once). None if there is no such active client."""
    if not 0 <= overlap_seconds <= 30 * 86400:
        raise TokenError("the overlap is 0 to 2592000 seconds (30 days)")
    token = generate_token()
    with Session(engine) as session:
        client = session.get(ApiClient, client_id)
        if client is None or client.revoked_at is not None:
            return None
        before = client_state(client)
        now = utcnow()
        # Kept also without an overlap (valid until now: refused), so that start-up knows a
        # rotated bootstrap token (ensure_bootstrap) and does not make it an admin again.
        client.previous_token_hash = client.token_hash
        client.previous_valid_until = now + timedelta(seconds=overlap_seconds)
        client.token_hash = hash_token(token)
        session.add(client)
        record(
            session,
            actor or cli_actor(),
            AuditObject.API_CLIENT,
            str(client.id),
            before,
            client_state(client),
            AuditAction.ROTATE,
        )
        session.commit()
        session.refresh(client)
    _recent.clear()
    log.info("API client %s (id %s) rotated (overlap %ss)", client.name, client.id, overlap_seconds)
    return NewClient(client, token)


def authenticate(session: Session, token: str) -> ApiClient | None:
    """The active, unexpired client holding this token (or its previous one within the
    rotation's overlap), or None."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    client = session.exec(
        select(ApiClient).where(
            or_(col(ApiClient.token_hash) == digest, col(ApiClient.previous_token_hash) == digest)
        )
    ).first()
    if client is None:
        return None
    now = utcnow()
    if not hmac.compare_digest(client.token_hash, digest):
        previous = client.previous_token_hash or ""
        if not hmac.compare_digest(previous, digest):
            return None
        if client.previous_valid_until is None or client.previous_valid_until <= now:
            return None
    if client.revoked_at is not None or not usable(client, now):
        return None
    return client


def usable(client: ApiClient, now: datetime | None = None) -> bool:
    """Not expired (a cached client is checked again on every request)."""
    return client.expires_at is None or client.expires_at > (now or utcnow())


# The last use is written at most once a minute per client (not on every request).
LAST_USED_EVERY = timedelta(minutes=1)


def _mark_used(engine: Engine, client: ApiClient) -> None:
    now = utcnow()
    if client.last_used_at is not None and now - client.last_used_at < LAST_USED_EVERY:
        return
    stmt = (
        update(ApiClient)
        .where(col(ApiClient.id) == client.id)
        .where(
            or_(
                col(ApiClient.last_used_at).is_(None),
                col(ApiClient.last_used_at) < now - LAST_USED_EVERY,
            )
        )
        .values(last_used_at=now)
    )
    try:
        writer_for(engine).run(lambda session: session.execute(stmt))
    except Exception:
        log.warning("could not record the last use of API client %s", client.id, exc_info=True)
        return
    client.last_used_at = now


# Recently authenticated clients by token hash: saves a query per API request. A revocation
# made in this process (CLI in-process, API route) clears it at once; one made by another
# process is seen within CACHE_SECONDS.
CACHE_SECONDS = 2.0
_recent: dict[str, tuple[float, ApiClient]] = {}


def recently_authenticated(token: str) -> ApiClient | None:
    """The client of a token authenticated less than CACHE_SECONDS ago (no database)."""
    hit = _recent.get(hash_token(token)) if token and len(token) <= 200 else None
    if hit is None or hit[0] <= time.monotonic() or not usable(hit[1]):
        return None
    return hit[1]


def authenticate_cached(engine: Engine, token: str) -> ApiClient | None:
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    now = time.monotonic()
    hit = _recent.get(digest)
    if hit is not None and hit[0] > now and usable(hit[1]):
        return hit[1]
    with Session(engine) as session:
        client = authenticate(session, token)
        if client is None:
            _recent.pop(digest, None)
            return None
        session.expunge(client)
    _mark_used(engine, client)
    if len(_recent) > 1000:
        _recent.clear()
    _recent[digest] = (now + CACHE_SECONDS, client)
    return client


def allows(scopes: list[str], needed: str) -> bool:
    return "admin" in scopes or needed in scopes


def sees(client: ApiClient, program_id: str, unit_id: str) -> bool:
    """Whether the client's program/unit limits include a case of this program and unit."""
    programs, units = client.programs or [], client.units or []
    return (not programs or program_id in programs) and (not units or unit_id in units)


def ensure_bootstrap(engine: Engine, token: str | None) -> ApiClient | None:
    """Make sure an admin client holds the bootstrap token (CASELOOP_BOOTSTRAP_TOKEN).

    A bootstrap client that an admin revoked stays revoked, and one they rotated keeps its new
    secret: start-up never re-enables the old token.
    """
    if not token:
        return None
    digest = hash_token(token)
    with Session(engine) as session:
        found = session.exec(
            select(ApiClient).where(
                or_(
                    col(ApiClient.token_hash) == digest,
                    col(ApiClient.previous_token_hash) == digest,
                )
            )
        ).first()
        if found is not None:
            if found.revoked_at is not None:
                log.warning("the bootstrap API client (id %s) is revoked; not re-enabled", found.id)
            return found
    try:
        return create_client(engine, BOOTSTRAP_NAME, ["admin"], token=token).client
    except IntegrityError:  # another process made it at the same moment
        with Session(engine) as session:
            return session.exec(
                select(ApiClient).where(col(ApiClient.token_hash) == digest)
            ).first()


def describe(client: ApiClient) -> dict[str, object]:
    """What may be shown about a client: never the token, not even its hash."""
    return {
        "id": client.id,
        "name": client.name,
        "scopes": list(client.scopes or []),
        "created_at": client.created_at,
        "revoked_at": client.revoked_at,
        "active": client.revoked_at is None and usable(client),
        "user_id": client.user_id,
        "programs": list(client.programs or []),
        "units": list(client.units or []),
        "expires_at": client.expires_at,
        "last_used_at": client.last_used_at,
        "previous_valid_until": client.previous_valid_until,
    }
