"""Units as an admin page: every unit with its time zone, holiday region and people; create
one, or change one on the version its form was rendered from. Audited as the signed-in admin.
Admins only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from core.threads import in_thread
from domain.permissions import Viewer
from domain.vocabulary import UnitRole, values
from services import program_pages as pages
from services.audit import user_actor
from services.config_writes import Exists, Invalid, Stale, etag
from services.users import list_users
from web.auth import CurrentUser, not_allowed
from web.deps import EngineDep
from web.i18n import N_, gettext
from web.templating import render

router = APIRouter()

PATH = "/admin/units"
FIELDS = ("id", "name", "timezone", "holiday_country", "holiday_subdivision", *values(UnitRole))
# The unit's people as the page names them (through `tr`), for the catalog.
WORDS = (N_("Frontline owner"), N_("Manager"), N_("Field manager"))
LIMIT = 500  # longer than any field the schema takes: refused as too long by it anyway


def _admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise not_allowed(N_("Only administrators can change units."))


async def _page(request: Request, engine: Any, status: int = 200, **ctx: Any) -> Response:
    units = await in_thread(pages.units, engine)
    tags = {u.id: etag(u.model_dump(mode="json")) for u in units}
    people = [(u.id, u.name) for u in await in_thread(list_users, engine)]
    context = {
        "title": N_("Units"),
        "units": units,
        "tags": tags,
        "people": people,
        "roles": values(UnitRole),
        "target": None,
        "errors": {},
        "raw": {},
        **ctx,
    }
    return render(request, "admin_units.html", context, block="units", status=status)


@router.get(PATH)
async def units_page(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    _admin(viewer)
    return await _page(request, engine)


@router.post(PATH)
async def save(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    """A new unit (no `etag` sent) or a change of one (its form's `etag`)."""
    _admin(viewer)
    form = await request.form()
    raw = {f: str(form.get(f) or "")[:LIMIT] for f in FIELDS}
    tag = str(form.get("etag") or "") or None
    target = raw["id"] if tag else ""  # "": the new-unit form
    data: dict[str, Any] = {f: raw[f].strip() or None for f in FIELDS}
    data["id"], data["name"] = raw["id"].strip(), raw["name"].strip()
    data["timezone"] = data["timezone"] or "UTC"
    ctx = {"target": target, "raw": raw}
    try:
        await in_thread(pages.save_unit, engine, data, user_actor(viewer), tag)
    except Invalid as exc:
        errors = {p.split(".")[0]: m for p, m in reversed(pages.field_errors(exc))}
        return await _page(request, engine, 422, errors=errors, **ctx)
    except Exists:
        errors = {"id": gettext("A unit with this id exists.")}
        return await _page(request, engine, 422, errors=errors, **ctx)
    except Stale:
        return await _page(request, engine, 409, stale=target, **ctx)
    return await _page(request, engine, saved=data["id"])
