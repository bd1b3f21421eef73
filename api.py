"""FastAPI app: the Temporal client and DB engine are made once, in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from fastapi import Depends, FastAPI
from sqlalchemy import Engine
from starlette.types import ASGIApp
from temporalio.client import Client
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from core.logging import configure_logging
from core.settings import Settings, get_settings
from core.telemetry import instrument_fastapi, setup_tracing
from core.temporal import connect
from models.db import make_engine
from web import (
    api_setup,
    codec,
    errors,
    health,
    live,
    metrics,
    problems,
    rate_limit,
    request_context,
    ui_setup,
)
from web.storable import refuse_unstorable_url


def create_app(
    settings: Settings | None = None,
    *,
    temporal: Client | None = None,
    engine: Engine | None = None,
) -> FastAPI:
    """Build the app; tests pass their own Temporal client and engine."""
    settings = settings or get_settings()
    settings.require_secret_key()  # never serve with a key anyone could sign cookies with

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if engine is None:
            app.state.engine = make_engine(settings.database_url)
        if temporal is None:
            # Lazily: the API starts (and /readyz says so) while Temporal is down.
            app.state.temporal = await connect(settings, lazy=True)
        app.state.live = live.ChangeFeed(
            app.state.engine,
            poll_seconds=settings.live_poll_seconds,
            retention_hours=settings.live_retention_hours,
        )
        await app.state.live.start()
        yield
        await app.state.live.stop()
        if engine is None:
            app.state.engine.dispose()

    app = FastAPI(
        title="Caseloop",
        version="0.1.0",
        summary="Closed-loop customer case management",
        lifespan=lifespan,
        docs_url=None,  # web.api_docs serves /docs from vendored files (our CSP blocks CDNs)
        redoc_url=None,
        # Text the databases cannot store never gets past the URL or the headers (422).
        dependencies=[Depends(refuse_unstorable_url)],
    )
    # Given dependencies are usable at once (tests drive the app without a lifespan).
    app.state.settings, app.state.engine, app.state.temporal = settings, engine, temporal
    problems.install(app)
    rate_limit.install(app)
    errors.install(app)
    health.install(app)
    codec.install(app, settings)
    api_setup.install(app, settings)
    ui_setup.install(app, settings)
    # Tracing first: the request-id and metrics wrappers go around the instrumented stack.
    instrument_fastapi(app, settings)
    request_context.install(app)
    metrics.install(app, settings)
    # Outermost: X-Forwarded-* count only from TRUSTED_PROXIES (uvicorn runs --no-proxy-headers).
    request_context.wrap_outermost(
        app,
        lambda inner: cast(
            ASGIApp, ProxyHeadersMiddleware(cast(Any, inner), settings.trusted_proxies)
        ),
    )

    return app


def __getattr__(name: str) -> FastAPI:
    """`uvicorn api:app` builds the app from the environment on first use, not on import: a
    bad SECRET_KEY stops the server, while `from api import create_app` needs no environment."""
    if name != "app":
        raise AttributeError(name)
    settings = get_settings()
    configure_logging(settings)
    setup_tracing(settings, "api")
    globals()["app"] = built = create_app(settings)
    return built
