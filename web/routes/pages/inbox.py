"""The inbox: tabs, status filter with counts, search, urgency order, keyset pages, live updates
(the list is re-fetched when the live stream says a case changed: web/routes/pages/live.py)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from domain.permissions import Viewer
from models.config import Unit, User
from services.case_queries import (
    INBOX_STATUSES,
    InboxQuery,
    inbox_page,
)
from web.auth import CurrentUser, PageError
from web.deps import EngineDep
from web.live import live_since
from web.templating import is_htmx, render

router = APIRouter()

TAB_LABELS = {
    "mine": "Mine",
    "watching": "Watching",
    "escalated": "Escalated to me",
    "units": "My units",
    "all": "All cases",
}

Tab = Annotated[str, Query(max_length=20)]


def tabs_for(viewer: Viewer) -> list[str]:
    tabs = ["mine", "watching", "escalated"]
    if viewer.managed_units:
        tabs.append("units")
    if viewer.is_admin:
        tabs.append("all")
    return tabs


def inbox_url(**params: str | None) -> str:
    clean = {k: v for k, v in params.items() if v}
    return "/inbox" + (f"?{urlencode(clean)}" if clean else "")


def inbox_context(session: Session, viewer: Viewer, query: InboxQuery) -> dict[str, Any]:
    # Taken before the rows: a change landing in between makes one extra refresh, never a miss.
    since = live_since(session)
    try:
        page = inbox_page(session, viewer, query)
    except ValueError as exc:
        raise PageError(400, "Bad request", "That page link is not valid any more.") from exc
    owner_ids = {c.owner_id for c in page.rows}
    unit_ids = {c.unit_id for c in page.rows}
    users = dict(session.exec(select(User.id, User.name).where(col(User.id).in_(owner_ids))).all())
    units = dict(session.exec(select(Unit.id, Unit.name).where(col(Unit.id).in_(unit_ids))).all())
    base = {"tab": query.tab, "status": query.status, "q": query.q}
    return {
        "page": page,
        "query": query,
        "tabs": [(t, TAB_LABELS[t]) for t in tabs_for(viewer)],
        "statuses": INBOX_STATUSES,
        "user_names": users,
        "unit_names": units,
        "self_url": inbox_url(**base, cursor=query.cursor),
        "first_url": inbox_url(**base),
        "next_url": inbox_url(**base, cursor=page.next_cursor) if page.next_cursor else None,
        "tab_url": lambda t: inbox_url(tab=t, status=query.status, q=query.q),
        "status_url": lambda s: inbox_url(tab=query.tab, status=s, q=query.q),
        "live_since": since,
    }


def _parse(viewer: Viewer, tab: str, status: str, q: str | None, cursor: str | None) -> InboxQuery:
    tab = tab if tab in tabs_for(viewer) else "mine"
    status = status if status in INBOX_STATUSES else "open"
    return InboxQuery(tab=tab, status=status, q=(q or "").strip() or None, cursor=cursor or None)


@router.get("/inbox")
def inbox(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    tab: Tab = "mine",
    status: Annotated[str, Query(max_length=20)] = "open",
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    query = _parse(viewer, tab, status, q, cursor)
    with Session(engine) as session:
        ctx = inbox_context(session, viewer, query)
    ctx["title"] = f"{TAB_LABELS[query.tab]} · Inbox"
    flash = None if is_htmx(request) else request.session.pop("flash", None)
    ctx["flash"] = flash if isinstance(flash, str) else ""
    return render(request, "inbox.html", ctx, block="results")
