"""Users as an admin page: every user with role and state; change a role, deactivate (signs
that user out at once) or reactivate; invite a person (a mailed one-time link to set their
password) or send a user a password link. Each change is validated like a configuration write
and audited. Admins only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from core.threads import in_thread
from domain.permissions import Viewer
from domain.vocabulary import Role, values
from services.account_mail import MailNotSent
from services.audit import user_actor
from services.invites import MAIL_FAILED, InviteRefused, invite, list_units, send_link
from services.users import UserRefused, change_user, list_users
from web.auth import CurrentUser, not_allowed, verify_csrf
from web.deps import EngineDep
from web.i18n import N_, gettext
from web.routes.pages.account import compose_invite, compose_reset
from web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

PATH = "/admin/users"
# The refusals of services.users, for the catalog (shown through gettext).
REFUSALS = (N_("You cannot take your own admin rights or deactivate yourself."),)
# services.invites' refusals, for the catalog (tests/web/test_identity.py checks they match).
INVITE_MESSAGES = (
    N_("A user with this user name exists already."),
    N_("A user name has 1 to 64 letters, digits or . _ @ - (no spaces)."),
    N_("Give the person's name (1 to 200 characters)."),
    N_("Give a valid email address: the invitation is sent there."),
    N_("Choose a role."),
    N_("One of the chosen units has someone in that place already."),
    N_("One of the chosen units does not exist."),
    N_("This user has no email address to send a link to."),
    N_("There is no such user."),
    N_("Another user has this email address already."),
    N_("The mail could not be sent. Check the mail server and send it again."),
)


def _admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise not_allowed(N_("Only administrators can manage users."))


async def _page(request: Request, engine: Any, status: int = 200, **ctx: Any) -> Response:
    users = await in_thread(list_users, engine)
    units = await in_thread(list_units, engine)
    context = {
        "title": N_("Users"),
        "users": users,
        "roles": values(Role),
        "units": units,
        "invite": {},
        "invite_errors": {},
        **ctx,
    }
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


@router.post("/admin/invites")
async def invite_user(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    user_id: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=20)] = "agent",
    units: Annotated[list[str] | None, Form(max_length=1000)] = None,
) -> Response:
    """A new user and the mail with their one-time link to set a password."""
    _admin(viewer)
    form = {"user_id": user_id, "name": name, "email": email, "role": role, "units": units or []}
    settings = request.app.state.settings
    try:
        created = await in_thread(
            invite,
            engine,
            settings,
            user_actor(viewer),
            compose_invite,
            user_id=user_id,
            name=name,
            email=email,
            role=role,
            units=units or [],
        )
    except InviteRefused as exc:
        errors = {exc.field: gettext(str(exc))}
        return await _page(request, engine, 422, invite=form, invite_errors=errors)
    except MailNotSent:
        error = {"user": user_id.strip(), "message": gettext(MAIL_FAILED)}
        return await _page(request, engine, 502, error=error)
    return await _page(request, engine, 201, invited={"user": created.id, "email": created.email})


@router.post(PATH + "/{user_id}/link")
async def send_password_link(
    request: Request, viewer: CurrentUser, engine: EngineDep, user_id: str
) -> Response:
    """A fresh invitation (no password yet) or reset link, mailed to the user."""
    _admin(viewer)
    settings = request.app.state.settings

    def compose(url: str, name: str) -> tuple[str, str]:
        return compose_reset(url, name) if "/reset/" in url else compose_invite(url, name)

    try:
        purpose = await in_thread(send_link, engine, settings, user_actor(viewer), compose, user_id)
    except InviteRefused as exc:
        error = {"user": user_id, "message": gettext(str(exc))}
        return await _page(request, engine, 422, error=error)
    except MailNotSent:
        error = {"user": user_id, "message": gettext(MAIL_FAILED)}
        return await _page(request, engine, 502, error=error)
    return await _page(request, engine, linked={"user": user_id, "purpose": purpose})
