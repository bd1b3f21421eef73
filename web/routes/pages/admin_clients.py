"""API clients as an admin page: list, create (the secret shown once, on the answer to the
create), rotate (a new secret shown once; the old one kept for the chosen overlap), revoke.
Everything through services/tokens.py, audited as the signed-in admin. Admins only.

Each client's row renders `row_extras` (empty here): another per-client feature (webhook
subscriptions) adds its cell and actions there without touching the rest.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from core.threads import in_thread
from domain.fields import unstorable
from domain.permissions import Viewer
from domain.vocabulary import Scope
from services.audit import user_actor
from services.client_choices import choices
from services.tokens import (
    SCOPES,
    TokenError,
    create_client,
    describe,
    list_clients,
    revoke,
    rotate,
)
from web.auth import CurrentUser, not_allowed, not_found
from web.deps import EngineDep
from web.i18n import N_, gettext
from web.templating import render

router = APIRouter()

PATH = "/admin/clients"
# The rotation's overlap choices: seconds -> label.
OVERLAPS = {
    0: N_("None: the old secret stops at once"),
    3600: N_("1 hour"),
    86400: N_("1 day"),
    7 * 86400: N_("7 days"),
}
# What each scope allows, for the catalog (shown next to its checkbox).
SCOPE_HELP: dict[str, str] = {
    Scope.CASES_WRITE: N_("open cases, submit survey returns, act on cases"),
    Scope.CASES_READ: N_("read cases and customers"),
    Scope.REPORTS_READ: N_("read reports"),
    Scope.METRICS_READ: N_("scrape /metrics (Prometheus)"),
    Scope.CODEC: N_("decode and encode Temporal payloads at /codec (Temporal UI and CLI)"),
    Scope.DELEGATE: N_("act on behalf of a user of the client's programs/units (service clients)"),
    Scope.ADMIN: N_("everything, including configuration and API clients"),
}
NEED_NAME = N_("Give the client a name (1 to 100 characters).")
NEED_SCOPE = N_("Choose at least one scope.")
NEED_USER = N_("A personal token belongs to a user: choose one.")
NO_DELEGATE = N_("A personal token acts as its user only: it cannot have “delegate”.")
UNKNOWN = N_("Choose only from the programs, units and users listed.")
PAST = N_("The expiry date must be in the future.")


def _admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise not_allowed(N_("Only administrators can manage API clients."))


async def _page(request: Request, engine: Any, status: int = 200, **ctx: Any) -> Response:
    clients = [describe(c) for c in await in_thread(list_clients, engine)]
    context = {
        "title": N_("API clients"),
        "clients": clients,
        "scopes": [(s, SCOPE_HELP.get(s, SCOPES[s])) for s in SCOPES],
        "choices": await in_thread(choices, engine),
        "overlaps": OVERLAPS,
        "form": {},
        "errors": {},
        **ctx,
    }
    return render(request, "admin_clients.html", context, block="clients", status=status)


@router.get(PATH)
async def clients_page(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    _admin(viewer)
    return await _page(request, engine)


def _check(form: dict[str, Any], known: Any) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not 1 <= len(form["name"]) <= 100 or unstorable(form["name"]):
        errors["name"] = gettext(NEED_NAME)
    if not form["scopes"]:
        errors["scopes"] = gettext(NEED_SCOPE)
    elif any(s not in SCOPES for s in form["scopes"]):
        errors["scopes"] = gettext(UNKNOWN)
    if form["kind"] == "personal":
        if not form["user_id"]:
            errors["user_id"] = gettext(NEED_USER)
        elif form["user_id"] not in {u for u, _ in known.users}:
            errors["user_id"] = gettext(UNKNOWN)
        if Scope.DELEGATE in form["scopes"]:
            errors["scopes"] = gettext(NO_DELEGATE)
    if not set(form["programs"]) <= {p for p, _ in known.programs}:
        errors["programs"] = gettext(UNKNOWN)
    if not set(form["units"]) <= {u for u, _ in known.units}:
        errors["units"] = gettext(UNKNOWN)
    if form["expires"] is not None and form["expires"] <= datetime.now(UTC):
        errors["expires"] = gettext(PAST)
    return errors


@router.post(PATH)
async def create(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=20)] = "service",
    user_id: Annotated[str, Form(max_length=64)] = "",
    scopes: Annotated[list[str] | None, Form(max_length=20)] = None,
    programs: Annotated[list[str] | None, Form(max_length=200)] = None,
    units: Annotated[list[str] | None, Form(max_length=2000)] = None,
    expires: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    _admin(viewer)
    try:
        until = date.fromisoformat(expires) if expires.strip() else None
    except ValueError:
        until = date.min  # refused below as a past date
    form: dict[str, Any] = {
        "name": name.strip(),
        "kind": "personal" if kind == "personal" else "service",
        "user_id": user_id.strip(),
        "scopes": list(dict.fromkeys(scopes or [])),
        "programs": list(dict.fromkeys(programs or [])),
        "units": list(dict.fromkeys(units or [])),
        # The end of the chosen day (UTC): a token "valid until the 31st" works on the 31st.
        "expires": datetime.combine(until, time.max, UTC) if until else None,
    }
    errors = _check(form, await in_thread(choices, engine))
    if not errors:
        try:
            new = await in_thread(
                create_client,
                engine,
                form["name"],
                form["scopes"],
                user_id=form["user_id"] if form["kind"] == "personal" else None,
                programs=form["programs"],
                units=form["units"],
                expires_at=form["expires"],
                actor=user_actor(viewer),
            )
        except TokenError as exc:
            errors["name"] = str(exc)
        else:
            secret = {"id": new.client.id, "name": new.client.name, "token": new.token}
            return await _page(request, engine, 201, secret=secret)
    return await _page(request, engine, 422, form=form, errors=errors)


@router.post(PATH + "/{client_id}/rotate")
async def rotate_client(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    client_id: int,
    overlap: Annotated[int, Form()] = 0,
) -> Response:
    _admin(viewer)
    if overlap not in OVERLAPS:
        overlap = 0
    new = await in_thread(rotate, engine, client_id, overlap, user_actor(viewer))
    if new is None:
        raise not_found()
    secret = {"id": new.client.id, "name": new.client.name, "token": new.token, "rotated": True}
    return await _page(request, engine, secret=secret)


@router.post(PATH + "/{client_id}/revoke")
async def revoke_client(
    request: Request, viewer: CurrentUser, engine: EngineDep, client_id: int
) -> Response:
    _admin(viewer)
    revoked = await in_thread(revoke, engine, client_id, user_actor(viewer))
    if not revoked:
        raise not_found()
    return await _page(request, engine, revoked=revoked[0].name)
