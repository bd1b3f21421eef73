"""Webhooks out: an API client's subscriptions and every delivery made for them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import JSONType, UTCDateTime, utcnow


class WebhookSubscription(SQLModel, table=True):
    """Where one API client wants which events (`events`: domain.vocabulary.WebhookEvent).

    `secret` signs every delivery (Standard Webhooks, `whsec_...`; stored sealed under the
    payload key ring: activities/webhooks.py `seal_secret`); after a rotation the
    previous secret signs too until `previous_valid_until`, so receivers can switch over.
    A receiver answering 410 Gone disables the subscription (`disabled_reason`).
    """

    __tablename__ = "webhook_subscription"

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(index=True)
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSONType))
    enabled: bool = True
    disabled_reason: str = Field(default="", max_length=200)
    secret: str = Field(max_length=300)
    previous_secret: str | None = Field(default=None, max_length=300)
    previous_valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """One message to one subscription: the outbox row and the delivery log in one.

    Written in the transaction that records the event (the projection, the erasure), keyed
    (subscription_id, event_key), so a retried or replayed step never writes a second one.
    The worker's dispatcher starts one WebhookDeliveryWorkflow per row (`dispatched_at`).
    A redelivery is a new row with the same `message_id` (the receiver's deduplication key).
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_key", name="uq_webhook_delivery_event"),
        Index("ix_webhook_delivery_undispatched", "dispatched_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(index=True)
    event_key: str = Field(max_length=120)
    message_id: str = Field(max_length=120)
    case_id: str = Field(max_length=20, index=True)
    event: str = Field(max_length=40)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType))
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    http_status: int | None = None
    latency_ms: int | None = None
    last_error: str = Field(default="", max_length=500)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    dispatched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    redelivery_of: int | None = None
