"""Webhooks as an admin page: every client's subscriptions, the delivery log (status, HTTP
status, latency, attempts, next attempt) and a redeliver button. Admins only; the secrets and
the bodies are never shown."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from core.threads import in_thread
from domain.permissions import Viewer
from services import webhooks
from services.audit import user_actor
from web.auth import CurrentUser, not_allowed, verify_csrf
from web.deps import EngineDep
from web.i18n import N_
from web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

PATH = "/admin/webhooks"
# The delivery statuses and events, as the page shows them (domain.vocabulary's values).
WORDS = (
    N_("delivered"),
    N_("failed"),
    N_("refused"),
    N_("status_changed"),
    N_("erased"),
    N_("Webhook"),
    N_("redeliver"),
)


def _admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise not_allowed(N_("Only administrators can manage webhooks."))


def _data(engine: Any, subscription: int | None) -> dict[str, Any]:
    subs = webhooks.list_subscriptions(engine, None)
    if subscription is not None:
        rows = webhooks.deliveries(engine, None, subscription)
    else:
        rows = webhooks.last_deliveries(engine)
    return {"subs": subs, "rows": rows, "clients": webhooks.client_names(engine)}


async def _page(
    request: Request, engine: Any, subscription: int | None, status: int = 200, **ctx: Any
) -> Response:
    try:
        data = await in_thread(_data, engine, subscription)
    except webhooks.WebhookNotFound:
        data, status = await in_thread(_data, engine, None), 404
    context = {"title": N_("Webhooks"), "subscription": subscription, **data, **ctx}
    return render(request, "webhooks.html", context, block="log", status=status)


@router.get(PATH)
async def webhooks_page(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    subscription: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    _admin(viewer)
    return await _page(request, engine, subscription)


@router.post(PATH + "/{subscription_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    subscription_id: int,
    delivery_id: int,
) -> Response:
    """Send a delivery's message again (a new row of the log; audited)."""
    _admin(viewer)
    try:
        row = await in_thread(
            webhooks.redeliver, engine, None, subscription_id, delivery_id, user_actor(viewer)
        )
    except (webhooks.WebhookError, webhooks.WebhookNotFound) as exc:
        status = exc.status if isinstance(exc, webhooks.WebhookError) else 404
        return await _page(
            request, engine, None, status, failed={"delivery": delivery_id, "message": str(exc)}
        )
    return await _page(request, engine, None, redelivered={"of": delivery_id, "as": row.id})
