"""Sign-in and sign-out pages."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from domain.fields import UNSTORABLE, unstorable
from models.config import User
from web.auth import LoginLimiter, load_viewer, sign_in, sign_out, verify_password
from web.deps import EngineDep
from web.i18n import SESSION_LOCALE, gettext, ngettext, supported
from web.rate_limit import public_limit
from web.templating import render as _render

router = APIRouter()


def render(request: Request, name: str, context: dict[str, Any], **kw: Any) -> Response:
    """The sign-in page, with the single sign-on button when a provider is configured."""
    settings = request.app.state.settings
    oidc = settings.oidc_provider_name if settings.oidc_enabled else ""
    return _render(request, name, {"oidc_name": oidc, **context}, **kw)


def limiter(request: Request) -> LoginLimiter:
    found: LoginLimiter | None = getattr(request.app.state, "login_limiter", None)
    if found is None:
        found = request.app.state.login_limiter = LoginLimiter()
    return found


def safe_next(target: str | None) -> str:
    """Only a local path: never an open redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return target


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/inbox", status_code=303)


@router.get("/login", dependencies=[Depends(public_limit)])
def login_page(request: Request, engine: EngineDep, next: str | None = None) -> Response:
    with Session(engine) as session:
        if load_viewer(request, session) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "username": "", "error": ""})


@router.post("/login", dependencies=[Depends(public_limit)])
def login(
    request: Request,
    engine: EngineDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/inbox",
) -> Response:
    if unstorable(username) or unstorable(password) or unstorable(next):
        error = gettext(
            "The sign-in form held a character that %(why)s. Type it again.", why=UNSTORABLE
        )
        ctx = {"next": "/inbox", "username": "", "error": error}
        return render(request, "login.html", ctx, status=422)
    username = username.strip()
    ip = client_ip(request)
    rate = limiter(request)
    ctx = {"next": safe_next(next), "username": username}
    wait = rate.retry_after(username, ip)
    if wait:
        minutes = max(1, round(wait / 60))
        error = ngettext(
            "Too many failed sign-ins. For your account's safety, try again in %(num)s minute.",
            "Too many failed sign-ins. For your account's safety, try again in %(num)s minutes.",
            minutes,
        )
        return render(
            request,
            "login.html",
            {**ctx, "error": error},
            status=429,
            headers={"Retry-After": str(wait)},
        )
    with Session(engine) as session:
        user = session.get(User, username) if username else None
        ok = verify_password(user.password_hash if user else None, password)
        if not ok or user is None or not user.active:
            rate.failed(username, ip)
            error = gettext("That user name and password do not match. Check them and try again.")
            return render(request, "login.html", {**ctx, "error": error}, status=401)
        rate.succeeded(username, ip)
        sign_in(request, session, user)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/language")
def choose_language(
    request: Request,
    engine: EngineDep,
    locale: Annotated[str, Form(max_length=16)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/inbox",
) -> Response:
    """The language picker: kept in the user's profile when signed in, else in the session."""
    chosen = supported(locale)
    with Session(engine) as session:
        viewer = load_viewer(request, session)
        user = session.get(User, viewer.user_id) if viewer is not None else None
        if user is not None:
            user.locale = chosen
            session.add(user)
            session.commit()
    if chosen:
        request.session[SESSION_LOCALE] = chosen
    else:
        request.session.pop(SESSION_LOCALE, None)
    return RedirectResponse(safe_next(next if not unstorable(next) else None), status_code=303)


@router.post("/logout")
def logout(request: Request, engine: EngineDep) -> Response:
    sign_out(request, engine)
    response = RedirectResponse("/login", status_code=303)
    if request.headers.get("HX-Request") == "true":
        response.headers["HX-Redirect"] = "/login"
    return response


def login_url(path: str) -> str:
    return f"/login?next={quote(path, safe='/')}"
