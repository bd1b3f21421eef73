"""API clients and their bearer tokens.

A token is 256 random bits, shown once when it is created; only its SHA-256 is stored (a slow
password hash buys nothing for a secret with that much entropy, and every request checks one).
Tokens are never logged, and no response other than the creating one contains them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain.audit import Actor
from domain.vocabulary import AuditAction, AuditObject, Scope
from models.config import ApiClient
from models.types import utcnow
from services.audit import cli_actor, record

log = logging.getLogger(__name__)

SCOPES: dict[str, str] = {
    Scope.CASES_WRITE: "open cases, submit survey returns, act on cases",
    Scope.CASES_READ: "read cases and customers",
    Scope.REPORTS_READ: "read reports",
    Scope.METRICS_READ: "scrape /metrics (Prometheus)",
    Scope.CODEC: "decode and encode Temporal payloads at /codec (Temporal UI and CLI)",
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
    revoked = client.revoked_at.isoformat() if client.revoked_at else None
    return {"name": client.name, "scopes": list(client.scopes or []), "revoked_at": revoked}


def create_client(
    engine: Engine,
    name: str,
    scopes: list[str],
    token: str | None = None,
    actor: Actor | None = None,
) -> NewClient:
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("a client needs a name of 1 to 100 characters")
    token = token or generate_token()
    client = ApiClient(name=name, scopes=check_scopes(scopes), token_hash=hash_token(token))
    with Session(engine) as session:
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


def authenticate(session: Session, token: str) -> ApiClient | None:
    """The active client holding this token, or None."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    client = session.exec(select(ApiClient).where(col(ApiClient.token_hash) == digest)).first()
    if client is None or not hmac.compare_digest(client.token_hash, digest):
        return None
    if client.revoked_at is not None:
        return None
    return client


# Recently authenticated clients by token hash: saves a query per API request. A revocation
# made in this process (CLI in-process, API route) clears it at once; one made by another
# process is seen within CACHE_SECONDS.
CACHE_SECONDS = 2.0
_recent: dict[str, tuple[float, ApiClient]] = {}


def recently_authenticated(token: str) -> ApiClient | None:
    """The client of a token authenticated less than CACHE_SECONDS ago (no database)."""
    hit = _recent.get(hash_token(token)) if token and len(token) <= 200 else None
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def authenticate_cached(engine: Engine, token: str) -> ApiClient | None:
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    now = time.monotonic()
    hit = _recent.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    with Session(engine) as session:
        client = authenticate(session, token)
        if client is None:
            _recent.pop(digest, None)
            return None
        session.expunge(client)
    if len(_recent) > 1000:
        _recent.clear()
    _recent[digest] = (now + CACHE_SECONDS, client)
    return client


def allows(scopes: list[str], needed: str) -> bool:
    return "admin" in scopes or needed in scopes


def ensure_bootstrap(engine: Engine, token: str | None) -> ApiClient | None:
    """Make sure an admin client holds the bootstrap token (CASELOOP_BOOTSTRAP_TOKEN).

    A bootstrap client that an admin revoked stays revoked: start-up never re-enables it.
    """
    if not token:
        return None
    digest = hash_token(token)
    with Session(engine) as session:
        found = session.exec(select(ApiClient).where(col(ApiClient.token_hash) == digest)).first()
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
        "active": client.revoked_at is None,
    }
