"""Users as an admin page: every user with role and state; change a role, deactivate (signs
that user out at once) or reactivate. Each change is validated like a configuration write and
audited. Admins only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from core.threads import in_thread
from domain.permissions import Viewer
from domain.vocabulary import Role, values
from services.audit import user_actor
from services.users import UserRefused, change_user, list_users
from web.auth import CurrentUser, not_allowed, verify_csrf
from web.deps import EngineDep
from web.i18n import N_, gettext
from web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

PATH = "/admin/users"
# The refusals of services.users, for the catalog (shown through gettext).
REFUSALS = (N_("You cannot take your own admin rights or deactivate yourself."),)


def _admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise not_allowed(N_("Only administrators can manage users."))


async def _page(request: Request, engine: Any, status: int = 200, **ctx: Any) -> Response:
    users = await in_thread(list_users, engine)
    context = {"title": N_("Users"), "users": users, "roles": values(Role), **ctx}
    return render(request, "users.html", context, block="users", status=status)


@router.get(PATH)
async def users_page(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    _admin(viewer)
    return await _page(request, engine)


@router.post(PATH + "/{user_id}")
async def change(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    user_id: str,
    role: Annotated[str, Form(max_length=20)] = "",
    active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """One change of one user: `role`, or `active` ("true" / "false")."""
    _admin(viewer)
    try:
        entry = await in_thread(
            change_user,
            engine,
            user_id,
            user_actor(viewer),
            role=role or None,
            active={"true": True, "false": False}.get(active),
        )
    except UserRefused as exc:
        error = {"user": user_id, "message": gettext(str(exc))}
        return await _page(request, engine, 422, error=error)
    return await _page(request, engine, changed={"user": user_id, "entry": entry})
