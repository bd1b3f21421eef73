"""Sign-in through an OpenID Connect provider (optional: OIDC_ISSUER, _CLIENT_ID, _SECRET).

authlib does the protocol: discovery, the authorization-code flow with PKCE (S256), a random
state and nonce kept in the signed session cookie, the ID token's signature (the provider's
JWKS), issuer, audience, expiry and nonce. services/oidc.py maps the verified email to a user.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import OAuthError
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from joserfc.errors import JoseError
from sqlmodel import Session

from core.settings import Settings
from core.threads import in_thread
from services.oidc import SsoRefused, user_for_claims
from web.auth import not_found, sign_in
from web.deps import EngineDep
from web.i18n import N_, gettext
from web.routes.pages.auth import safe_next
from web.templating import render

with warnings.catch_warnings():
    # authlib's starlette client imports its httpx client, whose module warns that it is
    # deprecated on import: one stray non-JSON line in every API log otherwise.
    warnings.simplefilter("ignore")
    from authlib.integrations.starlette_client import OAuth

router = APIRouter()

CALLBACK = "/login/oidc/callback"
NEXT = "oidc_next"
# services.oidc's refusals, for the catalog (checked by a test).
MESSAGES = (
    N_("Your provider did not confirm your email address, so it cannot sign you in here."),
    N_("No active Caseloop user has the email address your provider gave. Ask an administrator."),
)
FAILED = N_(
    "Signing in through your provider did not work. Try again, or sign in with your password."
)


def _client(request: Request) -> Any:
    """The provider's client, made once per app (it caches the discovery document and keys)."""
    settings: Settings = request.app.state.settings
    if not settings.oidc_enabled:
        raise not_found()
    found = getattr(request.app.state, "oidc", None)
    if found is None:
        oauth = OAuth()
        assert settings.oidc_client_secret is not None
        found = oauth.register(
            "oidc",
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value(),
            server_metadata_url=settings.oidc_issuer.rstrip("/")
            + "/.well-known/openid-configuration",
            client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
        )
        request.app.state.oidc = found
    return found


def _refused(request: Request, message: str, status: int) -> Response:
    settings: Settings = request.app.state.settings
    ctx = {
        "next": "/inbox",
        "username": "",
        "error": gettext(message),
        "oidc_name": settings.oidc_provider_name if settings.oidc_enabled else "",
    }
    return render(request, "login.html", ctx, status=status)


@router.get("/login/oidc")
async def start(request: Request, next: str | None = None) -> Response:
    client = _client(request)
    request.session[NEXT] = safe_next(next)
    redirect_uri = request.app.state.settings.public_base_url.rstrip("/") + CALLBACK
    try:
        response: Response = await client.authorize_redirect(request, redirect_uri)
    except (httpx.HTTPError, OAuthError, ValueError, KeyError, RuntimeError):
        return _refused(request, FAILED, 502)
    return response


@router.get(CALLBACK)
async def callback(request: Request, engine: EngineDep) -> Response:
    client = _client(request)
    settings: Settings = request.app.state.settings
    # The issuer the operator configured, not only the one the discovery document names.
    options = {"iss": {"essential": True, "values": [settings.oidc_issuer.rstrip("/")]}}
    try:
        token = await client.authorize_access_token(request, claims_options=options)
    except (AuthlibBaseError, JoseError, httpx.HTTPError, ValueError, KeyError):
        return _refused(request, FAILED, 400)
    claims = token.get("userinfo")
    if not claims:
        return _refused(request, FAILED, 400)
    try:
        user = await in_thread(user_for_claims, engine, dict(claims), settings.oidc_create_users)
    except SsoRefused as exc:
        return _refused(request, str(exc), 403)
    target = safe_next(request.session.get(NEXT))
    with Session(engine) as session:
        sign_in(request, session, user, sso=True)
    return RedirectResponse(target, status_code=303)
