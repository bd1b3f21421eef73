"""Per-request log context: a request id (the caller's X-Request-ID if sane), echoed back.

Pure ASGI (no BaseHTTPMiddleware), so streaming answers (SSE) pass untouched. The request id is
bound for every log line of the request; the API client is bound by `web.api_auth`; the case id
of a `/{case_id}` route is bound as the answer starts, so uvicorn's access line carries it too.
The context is cleared when a request starts (each request is its own task under uvicorn).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import structlog
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.routing import replace_params
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.logging import bind

HEADER = "X-Request-ID"
# Letters, digits and a few separators, at most 128: what tracing systems and proxies send.
SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}")


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers") or []:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if SANE.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str | None:
    """The matched route's full path template ("/api/v1/cases/{case_id}"); None before routing.

    FastAPI keeps an included router's outer prefix out of the route it puts in the scope, so
    the prefix is what the request path has before the route's own part.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return None
    path: str = scope.get("path", "")
    convertors = getattr(route, "param_convertors", None)
    params = scope.get("path_params") or {}
    try:
        own, _ = replace_params(template, convertors or {}, dict(params))
    except (KeyError, TypeError, ValueError, AssertionError):
        return template
    if own != path and path.endswith(own) and "{" not in own:
        return path[: -len(own)] + template
    return template


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        bind(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(HEADER, request_id)
                case_id = (scope.get("path_params") or {}).get("case_id")
                if isinstance(case_id, str):
                    bind(case_id=case_id)
                route = route_template(scope)
                if route is not None:
                    bind(route=route)
            await send(message)

        await self.app(scope, receive, send_with_id)


def wrap_outermost(app: Starlette, middleware: Callable[[ASGIApp], ASGIApp]) -> None:
    """Put `middleware` around the whole stack, outside Starlette's ServerErrorMiddleware, so
    even an unhandled error's 500 carries the request id and is counted."""
    build = app.build_middleware_stack

    def build_wrapped() -> ASGIApp:
        return middleware(build())

    app.build_middleware_stack = build_wrapped  # type: ignore[method-assign]


def install(app: Starlette) -> None:
    wrap_outermost(app, RequestContext)
