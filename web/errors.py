"""What a client sees when a request fails through no fault of its own, for every route.

- A dependency down (`services.outages.outage_of`: the database, Temporal): 503 with
  Retry-After. The API answers problem+json naming the part that is down; pages answer the
  "temporarily unavailable" page (a banner fragment for HTMX, a bare 503 to an event stream).
  Nothing was done: the request may be repeated as it is.
- An owner action that Temporal holds but has not finished within the wait (`ActionPending`):
  202 Accepted with the case's Location (pages say so on the case itself).
- Anything else is a bug: 500, problem+json or an error page with the request id to quote. The
  traceback goes to the log (the error is re-raised to the server), never to the client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import exc as sa_exc
from starlette.responses import Response
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from models.api import ActionPendingPublic
from services.case_actions import ActionPending
from services.outages import Component, Unavailable, outage_of, summary
from web.i18n import N_, gettext
from web.problems import problem_response
from web.templating import FLASH, is_htmx, render

log = logging.getLogger(__name__)

WHAT = {
    "database": N_("Caseloop cannot reach its database right now."),
    "temporal": N_("Caseloop cannot reach its workflow service (Temporal) right now."),
}
REPEAT = (
    "Repeat the request after Retry-After seconds; with the same Idempotency-Key it is never "
    "applied twice."
)
PENDING = {
    "admitted": (
        "Temporal holds this action, but the case's workflow has not confirmed it yet (no worker "
        "is processing the case, or it is waiting for the database); it is checked and applied "
        "as soon as it can be, and the case (Location) shows it then. Until the workflow has "
        "accepted it, it is not durable: if the case does not show it once service is back, "
        "repeat the request with the same Idempotency-Key (it never applies twice)."
    ),
    "accepted": (
        "The case's workflow accepted this action (it is in the case's history) and finishes "
        "it as soon as it can, e.g. once the database is back; the case (Location) shows it "
        "then. Repeating the request with the same Idempotency-Key answers with the outcome "
        "and never applies it twice."
    ),
}
# What a page says about its pending action (the API's texts are for programmers).
PENDING_PAGE = {
    "admitted": N_(
        "Caseloop has your change but cannot process it right now; it will apply as soon as "
        "processing resumes, and show on the timeline then."
    ),
    "accepted": N_(
        "Your change is recorded; it shows on the timeline as soon as processing catches up."
    ),
}
# Handled here when outage_of() names a dependency; otherwise re-raised as the bug they are.
OUTAGE_TYPES: tuple[type[Exception], ...] = (
    Unavailable,
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
    RPCError,
    RPCTimeoutOrCancelledError,
    RuntimeError,  # a lazy Temporal client that cannot connect
)


def _api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def unavailable(request: Request, component: Component, exc: Exception) -> Response:
    retry_after = str(request.app.state.settings.retry_after_seconds)
    headers = {"Retry-After": retry_after}
    what = f"{exc}." if isinstance(exc, Unavailable) else WHAT[component]
    if _api(request):
        response = problem_response(
            503, "Temporarily unavailable", f"{what} {REPEAT}", unavailable=component
        )
        response.headers.update(headers)
        return response
    if request.headers.get("accept", "").startswith("text/event-stream"):
        return Response(status_code=503, headers=headers)  # the stream reconnects later
    if request.url.path.startswith("/survey/"):
        ctx = {
            "title": N_("This survey is unavailable for a moment"),
            "message": N_(
                "We cannot record answers right now. Please try again in a few minutes; "
                "your link stays valid."
            ),
            "kind": "unavailable",
            "state": None,
        }
        return render(request, "survey_message.html", ctx, status=503, headers=headers)
    changing = request.method not in ("GET", "HEAD")
    if changing:
        advice = (
            gettext(
                "Your change was not saved. Try again in a few seconds: the form keeps what "
                "you typed."
            )
            if is_htmx(request)
            else gettext("Your change was not saved. Go back and send it again in a few seconds.")
        )
    else:
        advice = gettext("It is usually back within minutes. Try again in a few seconds.")
    return _page(
        request,
        503,
        gettext("Caseloop is temporarily unavailable"),
        gettext(WHAT[component]),
        advice,
        headers,
        refresh=None if changing else retry_after,
    )


def _page(
    request: Request,
    status: int,
    title: str,
    message: str,
    advice: str,
    headers: dict[str, str],
    *,
    refresh: str | None = None,
    reference: str | None = None,
) -> Response:
    """The error page, or for HTMX its banner above the current page."""
    if is_htmx(request):
        headers = {**headers, "HX-Retarget": "#outage", "HX-Reswap": "outerHTML"}
    ctx: dict[str, Any] = {
        "title": title,
        "message": message,
        "advice": advice,
        "refresh": refresh,
        "reference": reference,
    }
    return render(
        request, "service_error.html", ctx, block="outage", status=status, headers=headers
    )


def pending(request: Request, exc: ActionPending) -> Response:
    location = f"/api/v1/cases/{exc.case_id}"
    if _api(request):
        body = ActionPendingPublic(
            case_id=exc.case_id,
            action_id=exc.action_id,
            stage="accepted" if exc.stage == "accepted" else "admitted",
            detail=PENDING.get(exc.stage, PENDING["admitted"]),
        )
        return JSONResponse(body.model_dump(), status_code=202, headers={"Location": location})
    # Pages handle their actions themselves; any other page lands on the case with the news.
    request.session[FLASH] = gettext(PENDING_PAGE.get(exc.stage, PENDING_PAGE["admitted"]))
    url = f"/cases/{exc.case_id}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def internal_error(request: Request, exc: Exception) -> Response:
    """A bug. Runs outside the other middleware (Starlette's ServerErrorMiddleware), so the
    answer carries its own security headers; the server logs the traceback."""
    from web.ui_setup import SECURITY_HEADERS  # ui_setup imports the pages, which import us

    reference = str(getattr(request.state, "request_id", "")) or None
    if not _api(request) and "session" in request.scope:
        try:
            return _page(
                request,
                500,
                gettext("Something went wrong"),
                gettext("An error on our side stopped this request; it has been logged."),
                gettext("Try again; if it keeps happening, tell your administrator."),
                SECURITY_HEADERS,
                reference=reference,
            )
        except Exception:  # the page itself failed: the plain answer below
            log.exception("the error page could not be rendered")
    response = problem_response(
        500,
        "Internal Server Error",
        "An error on our side; it has been logged. Quote the request_id when reporting it.",
        request_id=reference,
    )
    response.headers.update({"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
    return response


def install(app: FastAPI) -> None:
    async def on_outage(request: Request, exc: Exception) -> Response:
        component = outage_of(exc)
        if component is None:
            raise exc  # a bug after all: internal_error answers it, the server logs it
        log.warning("%s unavailable: %s", component, summary(exc))
        return unavailable(request, component, exc)

    async def on_pending(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ActionPending)
        return pending(request, exc)

    async def on_bug(request: Request, exc: Exception) -> Response:
        return internal_error(request, exc)

    for kind in OUTAGE_TYPES:
        app.add_exception_handler(kind, on_outage)
    app.add_exception_handler(ActionPending, on_pending)
    app.add_exception_handler(Exception, on_bug)
