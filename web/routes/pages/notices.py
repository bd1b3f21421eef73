"""Notifications: the header's live badge (kept current by web/routes/pages/live.py) and the
list behind it (the signed-in user's only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape
from sqlmodel import Session

from core.threads import in_thread
from services.notices import latest, mark_seen
from web.auth import CurrentUser
from web.deps import EngineDep
from web.i18n import ngettext
from web.templating import is_htmx, render

router = APIRouter()


def badge_html(count: int) -> Markup:
    """What the badge shows: nothing at zero, else the count with words for screen readers."""
    if count <= 0:
        return Markup("")
    shown = "99+" if count > 99 else str(count)
    words = ngettext("%(num)s unread notification", "%(num)s unread notifications", count)
    return Markup(
        '<span class="notice-count" title="{w}"><span aria-hidden="true">{n}</span>'
        '<span class="visually-hidden">{w}</span></span>'
    ).format(w=escape(words), n=escape(shown))


@router.get("/notifications")
def notifications(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    with Session(engine) as session:
        notices = latest(session, viewer.user_id)
    ctx = {
        "title": "Notifications",  # translated by the page (base.html)
        "notices": notices,
        "unseen": sum(1 for n in notices if n.seen_at is None),
        "newest_id": notices[0].id if notices else 0,
    }
    return render(request, "notifications.html", ctx)


@router.post("/notifications/seen")
async def notifications_seen(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    up_to: Annotated[int, Form(ge=0)],
) -> Response:
    """Mark what the page showed as seen (sent by the page on load, or by its button)."""

    def mark() -> int:
        with Session(engine) as session:
            return mark_seen(session, viewer.user_id, up_to)

    await in_thread(mark)
    if is_htmx(request):
        return Response(status_code=204)
    return RedirectResponse("/notifications", status_code=303)
