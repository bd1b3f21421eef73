"""Webhooks out: the delivery rows written with the events, and one delivery's attempts.

Exactly once, like the mail outbox (activities/notifications.py, activities/mail.py):
- `enqueue_case_events` runs inside the projection's transaction and `enqueue_erased` inside
  the erasure's, keyed (subscription, event): a retried projection or a replayed workflow
  writes nothing twice, and a rolled-back one writes nothing at all;
- `deliver` sends one row unless it is settled already (delivered, failed, refused); every
  attempt is recorded on the row (attempts, HTTP status, latency, next attempt) and a failure
  raises, so Temporal retries it with backoff (WebhookDeliveryWorkflow) for about three days.
  A worker dying between the receiver's 2xx and the row's update sends it again with the
  same `webhook-id`, which Standard Webhooks receivers deduplicate on.

The request body is the client's data, sent to the client's endpoint: it is never logged.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, Engine, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col
from standardwebhooks.webhooks import Webhook
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.payload_crypto import key_ring
from core.settings import Settings
from domain.vocabulary import WebhookDeliveryStatus, WebhookEvent
from domain.webhooks import (
    TIMELINE_EVENTS,
    case_payload,
    message_id,
    refused_address,
)
from models.config import ApiClient
from models.types import utcnow
from models.webhooks import WebhookDelivery, WebhookSubscription

SETTLED = (
    WebhookDeliveryStatus.DELIVERED,
    WebhookDeliveryStatus.FAILED,
    WebhookDeliveryStatus.REFUSED,
)
RETRY = "WebhookRetry"


@dataclass
class NewEvent:
    """A timeline event the projection has just inserted."""

    seq: int
    kind: str
    at: datetime


def _subscriptions(conn: Connection, now: datetime) -> list[tuple[int, list[str], Any]]:
    """Enabled subscriptions of active clients: (id, events, client)."""
    s, c = WebhookSubscription.__table__, ApiClient.__table__  # type: ignore[attr-defined]
    rows = conn.execute(
        select(s.c.id, s.c.events, c.c.programs, c.c.units)
        .join(c, c.c.id == s.c.client_id)
        .where(
            s.c.enabled.is_(True),
            c.c.revoked_at.is_(None),
            or_(c.c.expires_at.is_(None), c.c.expires_at > now),
        )
    ).all()
    return [(r[0], list(r[1] or []), (list(r[2] or []), list(r[3] or []))) for r in rows]


def _sees(limits: tuple[list[str], list[str]], row: dict[str, Any]) -> bool:
    """The client reads cases of its programs and units only: it hears of no others."""
    programs, units = limits
    return (not programs or row.get("program_id") in programs) and (
        not units or row.get("unit_id") in units
    )


def _insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    table = WebhookDelivery.__table__  # type: ignore[attr-defined]
    conn.execute(
        dialect.insert(table).on_conflict_do_nothing(
            index_elements=["subscription_id", "event_key"]
        ),
        rows,
    )


def _row(sub_id: int, case_id: str, event: str, key: str, payload: dict[str, Any]) -> dict:
    return {
        "subscription_id": sub_id,
        "event_key": key,
        "message_id": message_id(sub_id, key),
        "case_id": case_id,
        "event": event,
        "payload": payload,
        "status": WebhookDeliveryStatus.PENDING,
        "attempts": 0,
        "last_error": "",
        "created_at": utcnow(),
    }


def enqueue_case_events(
    conn: Connection,
    case_id: str,
    row: dict[str, Any],
    events: Sequence[NewEvent],
    old_status: str | None,
) -> int:
    """Delivery rows for the events just recorded (in the caller's transaction)."""
    status_moved = old_status is not None and old_status != row.get("status")
    if not events and not status_moved:
        return 0
    subs = _subscriptions(conn, utcnow())
    if not subs:
        return 0
    out: list[dict[str, Any]] = []
    for sub_id, wanted, limits in subs:
        if not _sees(limits, row):
            continue
        for e in events:
            if e.kind in TIMELINE_EVENTS and e.kind in wanted:
                payload = case_payload(e.kind, case_id, e.at, row, seq=e.seq)
                out.append(_row(sub_id, case_id, e.kind, f"{case_id}:{e.seq}", payload))
        if status_moved and WebhookEvent.STATUS_CHANGED in wanted:
            key = f"{case_id}:status:{row.get('version')}"
            payload = case_payload(WebhookEvent.STATUS_CHANGED, case_id, utcnow(), row)
            payload["data"]["previous_status"] = old_status
            out.append(_row(sub_id, case_id, WebhookEvent.STATUS_CHANGED, key, payload))
    _insert_rows(conn, out)
    return len(out)


def enqueue_erased(conn: Connection, cases: Sequence[tuple[str, str, str]]) -> int:
    """`erased` rows for these (case id, program, unit): in the erasure's transaction."""
    subs = _subscriptions(conn, utcnow())
    out = [
        _row(
            sub_id,
            case_id,
            WebhookEvent.ERASED,
            f"{case_id}:erased",
            case_payload(WebhookEvent.ERASED, case_id, utcnow(), {}),
        )
        for sub_id, wanted, limits in subs
        if WebhookEvent.ERASED in wanted
        for case_id, program_id, unit_id in cases
        if _sees(limits, {"program_id": program_id, "unit_id": unit_id})
    ]
    _insert_rows(conn, out)
    return len(out)


# ---------------------------------------------------------------- the target guard


class RefusedTarget(Exception):
    """The URL may not be called (its scheme, a refused address)."""


class Unresolvable(Exception):
    """The host has no address now (DNS may be back later: retried)."""


def resolve_target(url: str, settings: Settings) -> list[str]:
    """Every address the URL's host resolves to, each one checked (server-side forgery)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedTarget("the URL is not valid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("only http and https URLs with a host")
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"the host does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise Unresolvable("the host does not resolve")
    for address in addresses:
        why = refused_address(
            address, settings.webhook_allow_private, settings.webhook_allow_networks
        )
        if why:
            raise RefusedTarget(f"refused target: {why}")
    return addresses


# ---------------------------------------------------------------- one delivery


@dataclass
class WebhookAttempt:
    """Send one delivery row; the retry settings only estimate `next_attempt_at`."""

    delivery_id: int
    retry_initial_seconds: float = 30.0
    retry_max_interval_seconds: float = 6 * 3600.0


SEALED = "sealed:"


def seal_secret(settings: Settings, secret: str) -> str:
    """A signing secret as stored: encrypted under the payload key ring (a database copy
    alone cannot forge a delivery)."""
    return SEALED + base64.b64encode(key_ring(settings).seal_file(secret.encode())).decode()


def open_secret(settings: Settings, stored: str) -> str:
    if not stored.startswith(SEALED):
        return stored
    return key_ring(settings).open_file(base64.b64decode(stored[len(SEALED) :])).decode()


def signatures(
    settings: Settings, sub: WebhookSubscription, msg_id: str, at: datetime, body: str
) -> str:
    """v1 signatures, space-separated: the secret's, and during a rotation's overlap also the
    previous secret's (Standard Webhooks lets a receiver accept any one of them)."""
    secrets = [sub.secret]
    until = sub.previous_valid_until
    if sub.previous_secret and until is not None and until.replace(tzinfo=UTC) > at:
        secrets.append(sub.previous_secret)
    return " ".join(Webhook(open_secret(settings, s)).sign(msg_id, at, body) for s in secrets)


def body_of(delivery: WebhookDelivery) -> str:
    return json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":"))


class WebhookActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def _record(self, delivery_id: int, **values: Any) -> None:
        table = WebhookDelivery.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(
                    and_(table.c.id == delivery_id, table.c.status == WebhookDeliveryStatus.PENDING)
                )
                .values(**values)
            )

    def _load(self, delivery_id: int) -> tuple[WebhookDelivery, WebhookSubscription | None]:
        """The row, and its subscription while it is enabled and its client active."""
        with Session(self.engine) as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                raise ApplicationError(f"delivery {delivery_id} does not exist", non_retryable=True)
            sub = session.get(WebhookSubscription, delivery.subscription_id)
            client = session.get(ApiClient, sub.client_id) if sub is not None else None
            now = utcnow()
            if (
                client is None
                or client.revoked_at is not None
                or (client.expires_at is not None and client.expires_at.replace(tzinfo=UTC) <= now)
            ):
                sub = None  # a revoked client hears nothing more
            session.expunge_all()
        return delivery, sub

    def send(self, req: WebhookAttempt, attempt: int = 1) -> str:
        """One attempt: the row's status after it ("delivered", "failed", "refused"), or raise."""
        delivery, sub = self._load(req.delivery_id)
        if delivery.status in SETTLED:
            return str(delivery.status)
        if sub is None or not sub.enabled:
            self._record(
                req.delivery_id,
                status=WebhookDeliveryStatus.FAILED,
                last_error="the subscription is disabled or its client revoked",
                next_attempt_at=None,
            )
            return WebhookDeliveryStatus.FAILED
        try:
            addresses = resolve_target(sub.url, self.settings)
        except RefusedTarget as exc:
            self._record(
                req.delivery_id,
                status=WebhookDeliveryStatus.REFUSED,
                attempts=col(WebhookDelivery.attempts) + 1,
                last_error=str(exc)[:500],
                next_attempt_at=None,
            )
            return WebhookDeliveryStatus.REFUSED
        except Unresolvable as exc:
            self._retry_later(
                req, attempt, str(exc), {"attempts": col(WebhookDelivery.attempts) + 1}
            )
        body = body_of(delivery)
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": "Caseloop-Webhooks/1",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signatures(self.settings, sub, delivery.message_id, now, body),
        }
        started = time.monotonic()
        status: int | None = None
        error = ""
        try:
            status = self._post(sub.url, addresses[0], headers, body)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        latency = int((time.monotonic() - started) * 1000)
        counted = {
            "attempts": col(WebhookDelivery.attempts) + 1,
            "http_status": status,
            "latency_ms": latency,
        }
        if status is not None and 200 <= status < 300:
            self._record(
                req.delivery_id,
                status=WebhookDeliveryStatus.DELIVERED,
                delivered_at=utcnow(),
                next_attempt_at=None,
                **counted,
            )
            return WebhookDeliveryStatus.DELIVERED
        if status == 410:  # the receiver says: stop sending, for good
            self._disable(sub, "the receiver answered 410 Gone")
            self._record(
                req.delivery_id,
                status=WebhookDeliveryStatus.FAILED,
                last_error="410 Gone: the subscription is disabled",
                next_attempt_at=None,
                **counted,
            )
            return WebhookDeliveryStatus.FAILED
        if status is not None and 300 <= status < 400:
            self._record(
                req.delivery_id,
                status=WebhookDeliveryStatus.REFUSED,
                last_error=f"HTTP {status}: redirects are not followed",
                next_attempt_at=None,
                **counted,
            )
            return WebhookDeliveryStatus.REFUSED
        self._retry_later(req, attempt, error or f"HTTP {status}", counted)

    def _retry_later(
        self, req: WebhookAttempt, attempt: int, error: str, counted: dict[str, Any]
    ) -> NoReturn:
        """Record a failed attempt and raise: Temporal retries it with backoff."""
        wait = min(
            req.retry_initial_seconds * 2 ** max(attempt - 1, 0), req.retry_max_interval_seconds
        )
        self._record(
            req.delivery_id,
            last_error=error[:500],
            next_attempt_at=utcnow() + timedelta(seconds=wait),
            **counted,
        )
        raise ApplicationError(error, type=RETRY)

    def _post(self, url: str, address: str, headers: dict[str, str], body: str) -> int:
        """POST to the address checked (not a second look-up: DNS rebinding), no redirects."""
        parts = httpx.URL(url)
        pinned = parts.copy_with(host=address)
        with httpx.Client(
            timeout=self.settings.webhook_timeout_seconds,
            follow_redirects=False,
            trust_env=False,
        ) as client:
            response = client.post(
                pinned,
                content=body.encode(),
                headers={**headers, "host": parts.netloc.decode("ascii")},
                extensions={"sni_hostname": parts.host},
            )
        return response.status_code

    def _disable(self, sub: WebhookSubscription, reason: str) -> None:
        table = WebhookSubscription.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == sub.id)
                .values(enabled=False, disabled_reason=reason, updated_at=utcnow())
            )

    @activity.defn(name="deliver_webhook")
    def deliver(self, req: WebhookAttempt) -> str:
        return self.send(req, activity.info().attempt)

    @activity.defn(name="give_up_webhook")
    def give_up(self, delivery_id: int) -> None:
        """The retries ran out: the row says so (it stays in the log, to redeliver by hand)."""
        self._record(
            delivery_id,
            status=WebhookDeliveryStatus.FAILED,
            next_attempt_at=None,
        )
