"""/healthz (the process answers) and /readyz (it can reach the database and Temporal).

A liveness probe that checked the database would have every instance restarted during a
database outage, which helps nothing; readiness takes an instance out of the load balancer
until its dependencies answer again. Both are public and say nothing about hosts or paths.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.health import Readiness

NO_STORE = {"Cache-Control": "no-store"}


def install(app: FastAPI) -> None:
    @app.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        """Liveness: the process serves requests (no dependency is checked)."""
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    @app.get(
        "/readyz",
        tags=["ops"],
        responses={503: {"description": "The database or Temporal cannot be reached"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: the database and Temporal answer (each within READINESS_TIMEOUT_SECONDS);
        `checks` gives each one's status, latency and, when down, the kind of error."""
        state = request.app.state
        if getattr(state, "readiness", None) is None:  # the engine and client exist by now
            state.readiness = Readiness(
                state.engine, state.temporal, state.settings.readiness_timeout_seconds
            )
        checks = await state.readiness.checks()
        ready = all(c.status == "up" for c in checks.values())
        body = {
            "status": "ready" if ready else "unavailable",
            "checks": {name: asdict(check) for name, check in checks.items()},
        }
        if ready:
            return JSONResponse(body, headers=NO_STORE)
        retry = str(state.settings.retry_after_seconds)
        return JSONResponse(body, status_code=503, headers={**NO_STORE, "Retry-After": retry})
