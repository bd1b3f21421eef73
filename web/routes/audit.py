"""The audit log as an admin page: filter by object, actor and dates, read each diff, and
restore a program's earlier version in one click (itself recorded). Admins only."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from core.threads import in_thread
from domain.audit import SECRET, readable
from domain.permissions import Viewer
from domain.vocabulary import AuditObject, values
from services.audit import (
    AuditFilter,
    RestoreError,
    list_entries,
    restore_program,
    user_actor,
)
from web.auth import CurrentUser, not_allowed, verify_csrf
from web.deps import EngineDep
from web.i18n import N_, gettext
from web.templating import render, templates

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

PATH = "/admin/audit"
KINDS = values(AuditObject)
Text = Annotated[str, Query(max_length=64)]


def _admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise not_allowed(N_("Only administrators can read the audit log."))


def shown(value: Any) -> str:
    """A diff value as one line: text as is, anything else as compact JSON."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if value == SECRET:
        return gettext("(hidden)")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


templates.env.filters.update(audit_value=shown, audit_lines=readable)


def _day(raw: str, field: str, errors: dict[str, str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[field] = gettext("Give a date as YYYY-MM-DD.")
        return None


async def _page(
    request: Request, engine: Any, raw: dict[str, str], page: int, status: int = 200, **ctx: Any
) -> Response:
    errors: dict[str, str] = {}
    f = AuditFilter(
        kind=raw["kind"] if raw["kind"] in KINDS else None,
        object_id=raw["object"] or None,
        actor=raw["actor"] or None,
        since=_day(raw["from"], "from", errors),
        until=_day(raw["to"], "to", errors),
    )
    data = await in_thread(list_entries, engine, f, page)
    query = urlencode({k: v for k, v in raw.items() if v})
    context = {
        **data,
        "title": N_("Audit log"),
        "kinds": KINDS,
        "form": {"errors": errors},
        "filters": raw,
        "query": query,
        **ctx,
    }
    if errors and status == 200:
        status = 422
    return render(request, "audit.html", context, block="results", status=status)


@router.get(PATH)
async def audit_page(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    kind: Text = "",
    object: Text = "",
    actor: Text = "",
    from_: Annotated[str, Query(alias="from", max_length=10)] = "",
    to: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    _admin(viewer)
    raw = {"kind": kind, "object": object, "actor": actor, "from": from_, "to": to}
    return await _page(request, engine, raw, page)


@router.post(PATH + "/{entry_id}/restore")
async def restore(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    entry_id: int,
    kind: Annotated[str, Form(max_length=64)] = "",
    object: Annotated[str, Form(max_length=64)] = "",
    actor: Annotated[str, Form(max_length=64)] = "",
    from_: Annotated[str, Form(alias="from", max_length=10)] = "",
    to: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Put the program back as it was after entry `entry_id`; a refusal shows at the entry."""
    _admin(viewer)
    raw = {"kind": kind, "object": object, "actor": actor, "from": from_, "to": to}
    try:
        entry = await in_thread(restore_program, engine, entry_id, user_actor(viewer))
    except RestoreError as exc:
        return await _page(
            request, engine, raw, 1, 422, restore_error={"entry": entry_id, "message": str(exc)}
        )
    return await _page(request, engine, raw, 1, restored={"from": entry_id, "entry": entry})
