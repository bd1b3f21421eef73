"""Webhook subscriptions of API clients: create (secret shown once), read, change, rotate the
secret, the delivery log, redelivery. Every change is audited in its own transaction.

A subscription belongs to a service client (a personal token acts as a person and has no
endpoint of its own); a client reads and changes its own subscriptions, an admin all of them.
The target URL is checked here for its form and literal addresses, and again at every delivery
for every address its host resolves to (activities/webhooks.py).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from activities.webhooks import seal_secret
from core.settings import Settings
from domain.audit import Actor
from domain.vocabulary import AuditAction, AuditObject, Scope, WebhookDeliveryStatus
from domain.webhooks import bad_events, refused_address
from models.config import ApiClient
from models.types import utcnow
from models.webhooks import WebhookDelivery, WebhookSubscription
from services.audit import record

SECRET_PREFIX = "whsec_"
MAX_SUBSCRIPTIONS = 20
DELIVERY_PAGE = 50


class WebhookError(ValueError):
    """Bad input (422), naming the field."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field, self.status = field, status


class WebhookNotFound(LookupError):
    """No such subscription or delivery for this client (404: others' are not revealed)."""


@dataclass
class WithSecret:
    subscription: WebhookSubscription
    secret: str  # the only time it leaves the database


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str, settings: Settings) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port out of range)
    except ValueError:
        raise WebhookError("url", "the URL is not valid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("url", "give an absolute http or https URL")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise WebhookError("url", "the URL may not contain spaces or control characters")
    if parts.username or parts.password:
        raise WebhookError("url", "credentials in the URL are not allowed")
    if len(url) > 2000:
        raise WebhookError("url", "the URL is longer than 2000 characters")
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        host = "127.0.0.1"
    if any(c.isdigit() for c in host) and ("." in host or ":" in host):
        why = refused_address(host, settings.webhook_allow_private, settings.webhook_allow_networks)
        if why and "not an IP address" not in why:
            raise WebhookError("url", f"refused target: {why}")
    return url


def check_events(events: list[str]) -> list[str]:
    if not events:
        raise WebhookError("events", "give at least one event")
    unknown = bad_events(events)
    if unknown:
        raise WebhookError("events", f"unknown event(s): {', '.join(unknown)}")
    return list(dict.fromkeys(events))


def state(sub: WebhookSubscription) -> dict[str, Any]:
    """A subscription as audited and shown (never its secrets)."""
    until = sub.previous_valid_until
    return {
        "client_id": sub.client_id,
        "url": sub.url,
        "events": list(sub.events or []),
        "enabled": sub.enabled,
        "disabled_reason": sub.disabled_reason,
        "previous_secret_valid_until": until.isoformat() if until else None,
    }


def _is_admin(client: ApiClient) -> bool:
    return Scope.ADMIN in (client.scopes or [])


def _owned(session: Session, client: ApiClient | None, sub_id: int) -> WebhookSubscription:
    sub = session.get(WebhookSubscription, sub_id)
    if sub is None or (client is not None and not _is_admin(client) and sub.client_id != client.id):
        raise WebhookNotFound(f"no webhook subscription {sub_id}")
    return sub


def create(
    engine: Engine,
    settings: Settings,
    owner: ApiClient,
    url: str,
    events: list[str],
    actor: Actor,
) -> WithSecret:
    if owner.user_id is not None:
        raise WebhookError(
            "Authorization", "a personal token cannot subscribe to webhooks", status=403
        )
    secret = new_secret()
    sub = WebhookSubscription(
        client_id=owner.id or 0,
        url=check_url(url, settings),
        events=check_events(events),
        secret=seal_secret(settings, secret),
    )
    with Session(engine) as session:
        count = session.exec(
            select(func.count())
            .select_from(WebhookSubscription)
            .where(col(WebhookSubscription.client_id) == owner.id)
        ).one()
        if count >= MAX_SUBSCRIPTIONS:
            raise WebhookError("url", f"a client has at most {MAX_SUBSCRIPTIONS} subscriptions")
        session.add(sub)
        session.flush()
        record(session, actor, AuditObject.WEBHOOK, str(sub.id), None, state(sub))
        session.commit()
        session.refresh(sub)
        session.expunge(sub)
    return WithSecret(sub, secret)


def list_subscriptions(engine: Engine, client: ApiClient | None) -> list[WebhookSubscription]:
    """The client's own (an admin client's: all); `None` (the admin page): all."""
    with Session(engine) as session:
        query = select(WebhookSubscription).order_by(col(WebhookSubscription.id))
        if client is not None and not _is_admin(client):
            query = query.where(col(WebhookSubscription.client_id) == client.id)
        return list(session.exec(query).all())


def get(engine: Engine, client: ApiClient | None, sub_id: int) -> WebhookSubscription:
    with Session(engine) as session:
        sub = _owned(session, client, sub_id)
        session.expunge(sub)
        return sub


def update(
    engine: Engine,
    settings: Settings,
    client: ApiClient | None,
    sub_id: int,
    actor: Actor,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    enabled: bool | None = None,
) -> WebhookSubscription:
    with Session(engine) as session:
        sub = _owned(session, client, sub_id)
        before = state(sub)
        if url is not None:
            sub.url = check_url(url, settings)
        if events is not None:
            sub.events = check_events(events)
        if enabled is not None:
            sub.enabled = enabled
            sub.disabled_reason = "" if enabled else "disabled by hand"
        sub.updated_at = utcnow()
        session.add(sub)
        record(session, actor, AuditObject.WEBHOOK, str(sub.id), before, state(sub))
        session.commit()
        session.refresh(sub)
        session.expunge(sub)
        return sub


def rotate(
    engine: Engine,
    settings: Settings,
    client: ApiClient | None,
    sub_id: int,
    overlap_seconds: int,
    actor: Actor,
) -> WithSecret:
    """A new secret; the old one goes on signing (beside it) for `overlap_seconds`."""
    with Session(engine) as session:
        sub = _owned(session, client, sub_id)
        before = state(sub)
        if overlap_seconds > 0:
            sub.previous_secret = sub.secret
            sub.previous_valid_until = utcnow() + timedelta(seconds=overlap_seconds)
        else:
            sub.previous_secret = sub.previous_valid_until = None
        secret = new_secret()
        sub.secret = seal_secret(settings, secret)
        sub.updated_at = utcnow()
        session.add(sub)
        after = state(sub) | {"secret_rotated_at": sub.updated_at.isoformat()}
        record(session, actor, AuditObject.WEBHOOK, str(sub.id), before, after, AuditAction.ROTATE)
        session.commit()
        session.refresh(sub)
        session.expunge(sub)
        return WithSecret(sub, secret)


def deliveries(
    engine: Engine,
    client: ApiClient | None,
    sub_id: int,
    before_id: int | None = None,
    limit: int = DELIVERY_PAGE,
) -> list[WebhookDelivery]:
    """The delivery log, newest first (keyset: `before_id`)."""
    with Session(engine) as session:
        _owned(session, client, sub_id)
        query = select(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == sub_id)
        if before_id is not None:
            query = query.where(col(WebhookDelivery.id) < before_id)
        rows = session.exec(query.order_by(col(WebhookDelivery.id).desc()).limit(limit)).all()
        return list(rows)


def redeliver(
    engine: Engine, client: ApiClient | None, sub_id: int, delivery_id: int, actor: Actor
) -> WebhookDelivery:
    """The same message (same `webhook-id` and body) once more, as a new row of the log."""
    with Session(engine) as session:
        sub = _owned(session, client, sub_id)
        old = session.get(WebhookDelivery, delivery_id)
        if old is None or old.subscription_id != sub.id:
            raise WebhookNotFound(f"no delivery {delivery_id} of subscription {sub_id}")
        if not sub.enabled:
            raise WebhookError("enabled", "the subscription is disabled: enable it first", 409)
        again = session.exec(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(col(WebhookDelivery.redelivery_of) == old.id)
        ).one()
        new = WebhookDelivery(
            subscription_id=old.subscription_id,
            event_key=f"{old.event_key}/re{again + 1}"[:120],
            message_id=old.message_id,
            case_id=old.case_id,
            event=old.event,
            payload=old.payload,
            status=WebhookDeliveryStatus.PENDING,
            redelivery_of=old.id,
        )
        session.add(new)
        session.flush()
        record(
            session,
            actor,
            AuditObject.WEBHOOK,
            str(sub.id),
            {"redelivered": None},
            {"redelivered": {"delivery": old.id, "as": new.id, "event": old.event}},
            AuditAction.REDELIVER,
        )
        session.commit()
        session.refresh(new)
        session.expunge(new)
        return new


def client_names(engine: Engine) -> dict[int, str]:
    with Session(engine) as session:
        return {c.id: c.name for c in session.exec(select(ApiClient)) if c.id is not None}


def last_deliveries(engine: Engine, limit: int = DELIVERY_PAGE) -> list[WebhookDelivery]:
    """The newest deliveries of every subscription (the admin page's log)."""
    with Session(engine) as session:
        query = select(WebhookDelivery).order_by(col(WebhookDelivery.id).desc()).limit(limit)
        return list(session.exec(query).all())


def when(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
