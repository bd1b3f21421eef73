"""A person's own account, signed out: the invitation and reset links (set a password, then
signed in), and "Forgot password?" (the same answer whether or not the address is known)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from core.threads import in_thread
from domain.fields import unstorable
from domain.vocabulary import LinkPurpose
from services.invites import LinkState, PasswordRefused, link_state, request_reset, use_link
from web.auth import LoginLimiter, sign_in
from web.deps import EngineDep
from web.i18n import N_, gettext
from web.routes.pages.auth import client_ip
from web.templating import render

router = APIRouter()

# The password rules' messages (domain/passwords.py), for the catalog (checked by a test).
RULES = (
    N_("A password needs at least 8 characters."),
    N_("A password can have at most 1024 characters."),
    N_("The password holds a character that cannot be stored. Choose another."),
    N_("A password cannot be your user name or email address."),
    N_("The two passwords are not the same."),
)
# Why a link no longer works, by its state: the page's heading and text.
GONE = {
    "used": (
        N_("This link has been used already"),
        N_("Each link works once. Sign in with your password, or ask for a new link."),
    ),
    "expired": (
        N_("This link has expired"),
        N_("Ask for a new link: an administrator can send you one, or use “Forgot password?”."),
    ),
    "unknown": (
        N_("This link does not work"),
        N_("Check that you copied the whole link from the mail, or ask for a new one."),
    ),
}


def compose_reset(url: str, name: str) -> tuple[str, str]:
    """The reset mail, in the page's language."""
    subject = gettext("Reset your Caseloop password")
    body = gettext(
        "Hello %(name)s,\n\nSomeone (we hope you) asked to reset your Caseloop password. "
        "Open this link to choose a new one:\n\n%(url)s\n\nThe link works once and expires "
        "soon. If you did not ask for it, ignore this mail: your password stays as it is.\n",
        name=name,
        url=url,
    )
    return subject, body


def compose_invite(url: str, name: str) -> tuple[str, str]:
    """The invitation, in the language of the admin's page."""
    subject = gettext("You are invited to Caseloop")
    body = gettext(
        "Hello %(name)s,\n\nYou have a user account in Caseloop. Open this link to choose "
        "your password and sign in:\n\n%(url)s\n\nThe link works once and expires in a few "
        "days.\n",
        name=name,
        url=url,
    )
    return subject, body


def _limiter(request: Request) -> LoginLimiter:
    found: LoginLimiter | None = getattr(request.app.state, "reset_limiter", None)
    if found is None:
        found = request.app.state.reset_limiter = LoginLimiter(
            max_failures=3, per_account_failures=5, per_ip_failures=20, window_seconds=900
        )
    return found


def _page(request: Request, mode: str, status: int = 200, **ctx: Any) -> Response:
    titles = {
        "forgot": N_("Forgot password"),
        "sent": N_("Check your mail"),
        "set": N_("Choose your password"),
        "gone": GONE.get(ctx.get("state", "unknown"), GONE["unknown"])[0],
    }
    context = {"title": titles[mode], "mode": mode, "gone": GONE, **ctx}
    return render(request, "account.html", context, status=status)


@router.get("/forgot-password")
def forgot_page(request: Request) -> Response:
    return _page(request, "forgot", address="")


@router.post("/forgot-password")
async def forgot(
    request: Request,
    engine: EngineDep,
    address: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """The same page whatever the address: it never tells who has an account. Past a few
    requests for one address (or from one client) in a while, no more mail goes out."""
    rate = _limiter(request)
    ip = client_ip(request)
    if not unstorable(address) and not rate.retry_after(address.strip(), ip):
        rate.failed(address.strip(), ip)  # every request counts, not only failures
        settings = request.app.state.settings
        await in_thread(request_reset, engine, settings, address, compose_reset)
    return _page(request, "sent")


def _link_page(request: Request, state: LinkState, token: str, **ctx: Any) -> Response:
    if state.status != "valid":
        return _page(request, "gone", 410 if state.status != "unknown" else 404, state=state.status)
    action = ("/invite/" if state.purpose == LinkPurpose.INVITE else "/reset/") + token
    status = ctx.pop("status", 200)
    return _page(request, "set", status, action=action, link=state, **ctx)


@router.get("/invite/{token}")
@router.get("/reset/{token}")
async def link_page(request: Request, engine: EngineDep, token: str) -> Response:
    state = await in_thread(link_state, engine, token)
    return _link_page(request, state, token)


@router.post("/invite/{token}")
@router.post("/reset/{token}")
async def set_password(
    request: Request,
    engine: EngineDep,
    token: str,
    password: Annotated[str, Form(max_length=2048)] = "",
    password_again: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    try:
        state, user = await in_thread(use_link, engine, token, password, password_again)
    except PasswordRefused as exc:
        state = await in_thread(link_state, engine, token)
        return _link_page(request, state, token, error=gettext(str(exc)), status=422)
    if user is None:
        return _link_page(request, state, token)
    with Session(engine) as session:
        sign_in(request, session, user)
    return RedirectResponse("/inbox", status_code=303)
