"""Webhooks out, the rules without I/O: which events a case change makes, what a payload
carries, which target addresses are refused, how long a secret keeps signing.

A payload carries ids, codes and times a CRM needs to follow a case — never names, contact
details or free text (they stay in Caseloop, to be fetched through the API with a token); an
`erased` payload carries only the case id and the time, so nothing personal outlives erasure
in a receiver's log because of us.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from domain.vocabulary import WebhookEvent, values

EVENTS: tuple[str, ...] = values(WebhookEvent)
# Timeline kinds that are webhook events of the same name.
TIMELINE_EVENTS = frozenset(EVENTS) - {WebhookEvent.STATUS_CHANGED, WebhookEvent.ERASED}
# The case row's columns a payload carries (no personal data, no free text).
CASE_FIELDS = (
    "program_id",
    "unit_id",
    "channel",
    "customer_id",
    "owner_id",
    "status",
    "is_open",
    "closing_status",
    "priority",
    "category",
    "subcategory",
    "escalation_level",
    "remeasure_status",
    "remeasure_score",
    "version",
    "created_at",
    "closed_at",
)
PAYLOAD_VERSION = 1


def event_type(event: str) -> str:
    """The Standard Webhooks `type` of a payload: "case.opened", "case.status_changed"..."""
    return f"case.{event}"


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def case_payload(
    event: str, case_id: str, at: datetime, row: Mapping[str, Any], seq: int | None = None
) -> dict[str, Any]:
    """The body of a delivery about a case event (taken from the case row as projected)."""
    data: dict[str, Any] = {"case_id": case_id, "event": event}
    if seq is not None:
        data["seq"] = seq
    if event == WebhookEvent.ERASED:
        return {"type": event_type(event), "timestamp": at.isoformat(), "data": data}
    data |= {k: _json(row.get(k)) for k in CASE_FIELDS if k in row}
    return {"type": event_type(event), "timestamp": at.isoformat(), "data": data}


def message_id(subscription_id: int, event_key: str) -> str:
    """The `webhook-id`: the same for every attempt and redelivery of one message."""
    return f"msg_{subscription_id}_{event_key}".replace(":", "_")[:120]


def wanted(subscribed: Iterable[str], event: str) -> bool:
    return event in set(subscribed)


def bad_events(events: Iterable[str]) -> list[str]:
    return [e for e in events if e not in EVENTS]


def refused_address(
    address: str, allow_private: bool, allowed_networks: Iterable[str] = ()
) -> str | None:
    """Why an address may not be a webhook target (None: it may).

    Private, loopback, link-local, multicast, reserved and unspecified addresses are refused
    (server-side request forgery: a webhook must not reach the service's own network) unless
    private targets are allowed, or the address is in an allowed network.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for net in allowed_networks:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return None
        except ValueError:
            continue
    if allow_private:
        return None
    for flag in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{flag}"):
            return f"{ip} is a {flag.replace('_', '-')} address"
    return None
