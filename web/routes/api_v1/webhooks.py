"""Webhook subscriptions of the calling API client (`webhooks:manage`; an admin token: all).

The secret is in the create and rotate answers only. A subscription of another client is a
404 (its existence is not revealed). Every change is audited (services/webhooks.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from core.threads import in_thread
from domain.fields import StorableStr
from domain.vocabulary import WebhookEvent
from models.webhooks import WebhookDelivery, WebhookSubscription
from services import webhooks
from services.audit import api_actor
from web.api_auth import Webhooks
from web.deps import EngineDep, SettingsDep
from web.problems import Problem
from web.routes.api_v1.cases import PROBLEMS

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=PROBLEMS)
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: StorableStr = Field(min_length=1, max_length=2000, description="http(s) endpoint")
    events: list[WebhookEvent] = Field(min_length=1, max_length=len(WebhookEvent))


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: StorableStr | None = Field(default=None, min_length=1, max_length=2000)
    events: list[WebhookEvent] | None = Field(
        default=None, min_length=1, max_length=len(WebhookEvent)
    )
    enabled: bool | None = Field(default=None, strict=True)


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int | None = Field(
        default=None,
        ge=0,
        le=30 * 86400,
        strict=True,
        description="How long the old secret goes on signing beside the new one (0: stops "
        "now; none: WEBHOOK_ROTATION_OVERLAP_SECONDS, a day by default)",
    )


class SubscriptionPublic(BaseModel):
    id: int
    client_id: int
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str
    previous_secret_valid_until: datetime | None
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(description="whsec_...: shown in this response only; store it now")


class DeliveryPublic(BaseModel):
    id: int
    message_id: str = Field(description="The webhook-id header (the same on a redelivery)")
    case_id: str
    event: str
    status: str
    attempts: int
    http_status: int | None
    latency_ms: int | None
    last_error: str
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    redelivery_of: int | None


def public(sub: WebhookSubscription) -> SubscriptionPublic:
    return SubscriptionPublic(
        id=sub.id or 0,
        client_id=sub.client_id,
        url=sub.url,
        events=list(sub.events or []),
        enabled=sub.enabled,
        disabled_reason=sub.disabled_reason,
        previous_secret_valid_until=sub.previous_valid_until,
        created_at=sub.created_at,
        updated_at=sub.updated_at,
    )


def delivery(row: WebhookDelivery) -> DeliveryPublic:
    return DeliveryPublic.model_validate(row, from_attributes=True)


def _problem(exc: Exception) -> Problem:
    if isinstance(exc, webhooks.WebhookNotFound):
        return Problem(404, "Webhook not found", str(exc), field="subscription_id")
    assert isinstance(exc, webhooks.WebhookError)
    title = {403: "Not allowed", 409: "Conflict"}.get(exc.status, "Invalid request")
    return Problem(exc.status, title, str(exc), field=exc.field)


@router.post("", status_code=201, response_model=SubscriptionCreated)
async def create(
    body: SubscriptionIn, me: Webhooks, engine: EngineDep, settings: SettingsDep
) -> SubscriptionCreated:
    """Subscribe to case events; the answer holds the signing secret, never shown again."""
    try:
        made = await in_thread(
            webhooks.create,
            engine,
            settings,
            me,
            body.url,
            [str(e) for e in body.events],
            api_actor(me),
        )
    except webhooks.WebhookError as exc:
        raise _problem(exc) from exc
    return SubscriptionCreated(**public(made.subscription).model_dump(), secret=made.secret)


@router.get("", response_model=list[SubscriptionPublic])
async def read_all(me: Webhooks, engine: EngineDep) -> list[SubscriptionPublic]:
    return [public(s) for s in await in_thread(webhooks.list_subscriptions, engine, me)]


@router.get("/{subscription_id}", response_model=SubscriptionPublic)
async def read_one(subscription_id: Id, me: Webhooks, engine: EngineDep) -> SubscriptionPublic:
    try:
        return public(await in_thread(webhooks.get, engine, me, subscription_id))
    except webhooks.WebhookNotFound as exc:
        raise _problem(exc) from exc


@router.patch("/{subscription_id}", response_model=SubscriptionPublic)
async def change(
    subscription_id: Id,
    body: SubscriptionPatch,
    me: Webhooks,
    engine: EngineDep,
    settings: SettingsDep,
) -> SubscriptionPublic:
    """Change the URL, the events, or enable/disable (enabling clears a 410's disabling)."""
    try:
        sub = await in_thread(
            lambda: webhooks.update(
                engine,
                settings,
                me,
                subscription_id,
                api_actor(me),
                url=body.url,
                events=[str(e) for e in body.events] if body.events is not None else None,
                enabled=body.enabled,
            )
        )
    except (webhooks.WebhookError, webhooks.WebhookNotFound) as exc:
        raise _problem(exc) from exc
    return public(sub)


@router.post("/{subscription_id}/rotate", response_model=SubscriptionCreated)
async def rotate(
    subscription_id: Id,
    me: Webhooks,
    engine: EngineDep,
    settings: SettingsDep,
    body: RotateIn | None = None,
) -> SubscriptionCreated:
    """A new secret (in this answer only); the old one signs too for `overlap_seconds`."""
    asked = body.overlap_seconds if body is not None else None
    overlap = settings.webhook_rotation_overlap_seconds if asked is None else asked
    try:
        made = await in_thread(
            webhooks.rotate, engine, settings, me, subscription_id, overlap, api_actor(me)
        )
    except webhooks.WebhookNotFound as exc:
        raise _problem(exc) from exc
    return SubscriptionCreated(**public(made.subscription).model_dump(), secret=made.secret)


@router.get("/{subscription_id}/deliveries", response_model=list[DeliveryPublic])
async def deliveries(
    subscription_id: Id,
    me: Webhooks,
    engine: EngineDep,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeliveryPublic]:
    """The delivery log, newest first; `before` (a delivery id) pages back."""
    try:
        rows = await in_thread(webhooks.deliveries, engine, me, subscription_id, before, limit)
    except webhooks.WebhookNotFound as exc:
        raise _problem(exc) from exc
    return [delivery(r) for r in rows]


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryPublic,
)
async def redeliver(
    subscription_id: Id, delivery_id: Id, me: Webhooks, engine: EngineDep, response: Response
) -> DeliveryPublic:
    """Send the message again (same webhook-id and body) as a new delivery of the log."""
    try:
        row = await in_thread(
            webhooks.redeliver, engine, me, subscription_id, delivery_id, api_actor(me)
        )
    except (webhooks.WebhookError, webhooks.WebhookNotFound) as exc:
        raise _problem(exc) from exc
    response.headers["Location"] = f"/api/v1/webhooks/{subscription_id}/deliveries"
    return delivery(row)
