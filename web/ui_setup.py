"""Wiring of the HTML pages (sessions, CSRF, static files, page routers) onto the app."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings
from core.threads import in_thread
from services.documents import human_size
from web import access_log, problems
from web.accept import weighted
from web.auth import SESSION_MAX_AGE, LoginLimiter, LoginRequired, PageError, load_viewer
from web.i18n import N_, LocaleMiddleware, gettext
from web.routes import audit, dashboard, forms, outbox, survey, users, webhooks
from web.routes.pages import router as pages_router
from web.templating import STATIC_DIR, is_htmx, render

SESSION_COOKIE = "caseloop_session"

# What the browser may load on our pages: only our own files (no inline script, no CDN).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
# Every page's security headers (PageHeaders adds them; an unhandled error's page too).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": CSP,
}
UPLOAD_PATH = re.compile(r"^/cases/[^/]+/documents$")
MULTIPART_SLACK = 64 * 1024  # the other form fields and the multipart framing
# Paths that answer machines only (problem+json whatever the Accept header says).
MACHINE_PREFIXES = ("/api/", "/healthz", "/readyz", "/metrics", "/openapi.json")
# A page's error, by status: its title and what it means for the reader.
PAGE_ERRORS = {
    400: (N_("Bad request"), N_("This address or form could not be understood.")),
    403: (N_("Not allowed"), N_("You are not allowed to see this page.")),
    404: (
        N_("Page not found"),
        N_("There is no page at this address. The link may be mistyped, or the page has moved."),
    ),
    405: (N_("Not possible here"), N_("This address does not answer that kind of request.")),
    422: (N_("Bad request"), N_("This address has a value the page cannot use.")),
}
OTHER_ERROR = (N_("Request failed"), N_("This request could not be answered."))


def install(app: FastAPI, settings: Settings) -> None:
    app.state.login_limiter = LoginLimiter()
    app.add_middleware(LocaleMiddleware)  # inside the session: it reads the user's choice
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=settings.public_base_url.startswith("https://"),
    )
    app.add_middleware(PageHeaders)
    app.add_middleware(UploadLimit, max_bytes=settings.upload_max_bytes + MULTIPART_SLACK)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages_router)
    app.include_router(dashboard.router)
    app.include_router(outbox.router)
    app.include_router(audit.router)
    app.include_router(users.router)
    app.include_router(webhooks.router)
    app.include_router(survey.router)  # public: the customer's signed link is the credential
    app.include_router(forms.router)  # public: the programs' web forms (no sign-in)
    access_log.install()  # ...so that link never reaches the access log

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if is_htmx(request):
            current = request.headers.get("HX-Current-URL", "")
            path = "/" + current.split("/", 3)[3] if current.count("/") >= 3 else "/inbox"
            url = f"/login?next={quote(path, safe='/?=&')}"
            return Response(status_code=401, headers={"HX-Redirect": url})
        if request.headers.get("accept", "").startswith("text/event-stream"):
            return Response(status_code=401)
        return RedirectResponse(f"/login?next={quote(target, safe='/?=&')}", status_code=303)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return await error_page(request, exc)

    # Pages answer their errors with a page in the site's layout; the API (and any client
    # that does not ask for HTML) keeps problem+json.
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if not wants_page(request):
            return problems.http_response(request, exc)
        if request.url.path.startswith("/survey/"):  # a customer: the survey's own page
            _, title, message = survey.CLOSED["invalid"]
            ctx = {"title": title, "message": message, "state": None, "kind": "invalid"}
            return render(request, "survey_message.html", ctx, status=exc.status_code)
        title, message = PAGE_ERRORS.get(exc.status_code, OTHER_ERROR)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = problems.http_response(request, exc).headers.get("Allow")
            headers["Allow"] = allowed or headers.get("Allow", "")
        error = PageError(exc.status_code, gettext(title), gettext(message))
        return await error_page(request, error, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not wants_page(request):
            return problems.invalid_response(exc)
        title, message = PAGE_ERRORS[422]
        return await error_page(request, PageError(400, gettext(title), gettext(message)))


def wants_page(request: Request) -> bool:
    """An HTML error page for a page route asked for by a browser (or HTMX); problem+json for
    the API, the operations endpoints and clients that prefer JSON."""
    if request.url.path.startswith(MACHINE_PREFIXES):
        return False
    if is_htmx(request):
        return True
    accept = request.headers.get("accept", "").lower()
    html = _quality(accept, ("text/html", "application/xhtml+xml"))
    json = _quality(accept, ("application/json", "application/problem+json"))
    return html > 0 and html >= json


def _quality(accept: str, types: tuple[str, ...]) -> float:
    return max((q for kind, q in weighted(accept, limit=1000) if kind in types), default=0.0)


async def error_page(
    request: Request, error: PageError, headers: dict[str, str] | None = None
) -> Response:
    """The error page (for HTMX its block), with the signed-in user's header when there is one
    (an unknown address never ran the route that loads the user)."""
    if getattr(request.state, "viewer", None) is None and "session" in request.scope:
        engine = request.app.state.engine

        def viewer() -> object:
            with Session(engine) as session:
                return load_viewer(request, session)

        try:
            request.state.viewer = await in_thread(viewer)
        except Exception:  # an outage: the page without the user's menu
            request.state.viewer = None
    ctx = {"title": error.title, "error": error, "status": error.status}
    return render(request, "error.html", ctx, block="error", status=error.status, headers=headers)


class PageHeaders:
    """Security headers on every page (not on the JSON API, which has its own rules)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = {k.lower().encode(): v.encode() for k, v in SECURITY_HEADERS.items()}
                if not scope["path"].startswith("/static/"):
                    extra[b"cache-control"] = b"no-store"  # pages show personal data
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _TooLarge(Exception):
    pass


class UploadLimit:
    """Refuses an upload body past the limit while it streams in (not after buffering it)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not UPLOAD_PATH.match(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._drain(receive)
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._drain(receive)
                await self._refuse(send)

    async def _drain(self, receive: Receive) -> None:
        """Read (and drop) what the client still sends, up to a bound: a client that is cut off
        mid-upload sees a reset instead of our answer. Past the bound the connection closes."""
        budget = 8 * self.max_bytes
        while budget > 0:
            message = await receive()
            if message["type"] != "http.request":
                return
            budget -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _refuse(self, send: Send) -> None:
        limit = human_size(self.max_bytes - MULTIPART_SLACK)
        body = (
            f'<p class="field-error" role="alert">The file is larger than the limit of {limit}.</p>'
        ).encode()
        headers: list[Any] = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            # HTMX puts the message next to the upload field instead of replacing the page.
            (b"hx-retarget", b"#upload-error"),
            (b"hx-reswap", b"innerHTML"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
