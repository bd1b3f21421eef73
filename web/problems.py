"""RFC 9457 problem details: every API error has the same shape and names the field at fault."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.fields import unstorable

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def problem_response(status: int, title: str, detail: str = "", **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # Only the first part says where (a field may well be called "body": a reply's text).
    rest = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    return ".".join(_printable(str(p)) for p in rest) or "body"


def _printable(part: str) -> str:
    """A map key from the request, as the client can read it back (a lone surrogate would not
    even encode as JSON): unstorable characters escaped."""
    return part.encode("ascii", "backslashreplace").decode() if unstorable(part) else part


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_response(request, exc)


def invalid_response(exc: RequestValidationError) -> JSONResponse:
    """422 naming the first field at fault (and every error)."""
    from domain.program import error_location

    errors = []
    for e in exc.errors():
        loc, msg = error_location(e)  # model-level errors may name their field
        errors.append({"field": _field(loc), "message": msg})
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    return problem_response(
        422,
        "Invalid request",
        f"{first['field']}: {first['message']}",
        field=first["field"],
        errors=errors,
    )


def http_response(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    extra = {"field": "body"} if exc.status_code == 400 else {}
    response = problem_response(exc.status_code, str(exc.detail), str(exc.detail), **extra)
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        response.headers["Allow"] = _allowed_methods(request)
    return response


def _allowed_methods(request: Request) -> str:
    """Every method of every route on this path (Starlette lists only the first route's)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))
