"""Programs as admin pages: the list, a new program, and a program's sections (general, SLA and
calendar with a live preview of the deadlines, escalation, taxonomy, rules), each saved on the
version its form was rendered from and audited as the signed-in admin. Admins only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from core.threads import in_thread
from domain.permissions import Viewer
from domain.vocabulary import ApplyTo, OwnershipModel, PauseMetric, Priority, TeamAssignment, values
from services import program_pages as pages
from services.audit import user_actor
from services.config_writes import Exists, Invalid, Stale
from services.deadline_follow import reschedule_open_cases
from services.users import list_users
from web import i18n
from web.auth import CurrentUser, not_allowed, not_found
from web.deps import EngineDep, SettingsDep, TemporalDep
from web.i18n import N_, gettext
from web.routes.pages import program_form as pf
from web.templating import is_htmx, render, templates

router = APIRouter()

PATH = "/admin/programs"
# Words the page shows from the vocabulary (through `tr`), for the catalog.
WORDS = (
    N_("Field"),
    N_("Corporate"),
    N_("Blended"),
    N_("Round robin"),
    N_("Least loaded"),
    N_("program"),
)
ProgramId = Annotated[str, Form(max_length=64)]


def _admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise not_allowed(N_("Only administrators can change programs."))


def _not_found() -> Exception:
    return not_found("This program")


def _errors(exc: Invalid, section: str) -> dict[str, str]:
    """Each error at the input it is about; one outside the section at the form ("")."""
    errors: dict[str, str] = {}
    for path, message in pages.field_errors(exc):
        name = pf.where(path, section)
        text = message if name else f"{path or gettext('program')}: {message}"
        errors.setdefault(name, text)
    return errors


async def _list(request: Request, engine: Any, status: int = 200, **ctx: Any) -> Response:
    programs = await in_thread(pages.programs, engine)
    context = {"title": N_("Programs"), "programs": programs, "new": {}, "errors": {}, **ctx}
    return render(request, "admin_programs.html", context, block="programs", status=status)


@router.get(PATH)
async def programs_page(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    _admin(viewer)
    return await _list(request, engine)


@router.post(PATH)
async def create(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    id: ProgramId = "",
    name: Annotated[str, Form(max_length=500)] = "",
    root_causes: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """A new program with the defaults of the schema; its sections are filled on its page."""
    _admin(viewer)
    new = {"id": id, "name": name, "root_causes": root_causes}
    data = {"id": id.strip(), "name": name.strip(), "root_causes": pf._lines(root_causes)}
    try:
        await in_thread(pages.create_program, engine, data, user_actor(viewer))
    except Invalid as exc:
        errors = {p.split(".")[0]: m for p, m in reversed(pages.field_errors(exc))}
        return await _list(request, engine, 422, new=new, errors=errors)
    except Exists:
        errors = {"id": gettext("A program with this id exists.")}
        return await _list(request, engine, 422, new=new, errors=errors)
    target = f"{PATH}/{data['id']}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _program(
    request: Request,
    engine: Any,
    program_id: str,
    block: str | None = None,
    status: int = 200,
    **ctx: Any,
) -> Response:
    found = await in_thread(pages.program, engine, program_id)
    if found is None:
        raise _not_found()
    stored, tag = found
    units = await in_thread(pages.units, engine)
    people = [(u.id, u.name) for u in await in_thread(list_users, engine)]
    v = pf.values(stored)
    v.update(ctx.pop("raw", {}))
    context = {
        "title": N_("Program"),
        "p": stored,
        "tag": tag,
        "v": v,
        "errors": {},
        "section": None,
        "units": units,
        "people": people,
        "ownership_models": values(OwnershipModel),
        "team_assignments": values(TeamAssignment),
        "pause_metrics": values(PauseMetric),
        "priorities": values(Priority),
        "sections": pf.SECTIONS,
        "fid": pf.field_id,
        **ctx,
    }
    if "promises" not in context and units:
        context.update(await _promises(stored, v, units[0].id, units))
    name = f"sec_{block}" if block else None
    return render(request, "admin_program.html", context, block=name, status=status)


async def _promises(
    stored: dict[str, Any], v: dict[str, str], unit_id: str, units: list[Any]
) -> dict[str, Any]:
    place = next((u for u in units if u.id == unit_id), units[0] if units else None)
    if place is None:
        return {"promises": [], "preview_error": gettext("Add a unit to see a preview.")}
    sla, calendar = pf.sla_and_calendar(v, (stored.get("calendar") or {}).get("week"))
    try:
        promises = await in_thread(pages.preview, stored, sla, calendar, place)
    except Invalid:
        return {"promises": [], "preview_error": gettext("Correct the fields to see a preview.")}
    except (ValueError, ArithmeticError):
        return {"promises": [], "preview_error": gettext("This calendar cannot compute deadlines.")}
    return {"promises": promises, "preview_unit": place.id, "preview_error": None}


@router.get(PATH + "/{program_id}")
async def program_page(
    request: Request, viewer: CurrentUser, engine: EngineDep, program_id: str
) -> Response:
    _admin(viewer)
    return await _program(request, engine, program_id)


@router.post(PATH + "/{program_id}/preview")
async def preview(
    request: Request, viewer: CurrentUser, engine: EngineDep, program_id: str
) -> Response:
    """The deadlines of a case opened now under the SLA and calendar as typed (nothing saved)."""
    _admin(viewer)
    found = await in_thread(pages.program, engine, program_id)
    if found is None:
        raise _not_found()
    form = await request.form()
    v = pf.submitted(form, "sla")
    units = await in_thread(pages.units, engine)
    ctx = await _promises(found[0], v, str(form.get("preview_unit") or ""), units)
    context = {"title": N_("Program"), "p": found[0], "units": units, **ctx}
    return render(request, "admin_program.html", context, block="preview")


@router.post(PATH + "/{program_id}/{section}")
async def save(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    program_id: str,
    section: str,
) -> Response:
    """One section saved, if the program is still the version the form was rendered from."""
    _admin(viewer)
    if section not in pf.SECTIONS:
        raise _not_found()
    found = await in_thread(pages.program, engine, program_id)
    if found is None:
        raise _not_found()
    form = await request.form()
    v = pf.submitted(form, section)
    tag = str(form.get("etag") or "")
    # On a refusal the form keeps the version it was rendered from: a retry is still checked.
    ctx: dict[str, Any] = {"section": section, "raw": v, "tag": tag}
    try:
        changes = pf.changes(section, v, found[0])
        if section == "sla":
            _, followed = await in_thread(
                pages.save_sla_and_calendar,
                engine,
                program_id,
                changes["sla"],
                changes["calendar"],
                user_actor(viewer),
                tag,
                ApplyTo.OPEN if form.get("apply_to") == ApplyTo.OPEN else ApplyTo.NEW,
            )
            for change in followed:  # "also open cases": their deadlines move
                if change.follows:
                    await reschedule_open_cases(temporal, settings, engine, change)
        else:
            await in_thread(
                pages.save_program, engine, program_id, changes, user_actor(viewer), tag
            )
    except pf.Unreadable as exc:
        return await _program(
            request, engine, program_id, section, 422, errors={exc.field: str(exc)}, **ctx
        )
    except Invalid as exc:
        errors = _errors(exc, section)
        return await _program(request, engine, program_id, section, 422, errors=errors, **ctx)
    except Stale:
        return await _program(request, engine, program_id, section, 409, stale=section, **ctx)
    return await _program(request, engine, program_id, section, saved=section, oob=True)


def deadline_text(at: datetime | None, tz: str) -> str:
    """A due moment in the calendar's zone, in the request's language (Babel)."""
    if at is None:
        return "—"
    return i18n.format_when(at.astimezone(ZoneInfo(tz)))


templates.env.globals.update(deadline=deadline_text)
