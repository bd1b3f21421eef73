"""FastAPI app: the Temporal client and DB engine are made once, in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine, text
from temporalio.client import Client

from core.logging import configure_logging
from core.settings import Settings, get_settings
from core.telemetry import instrument_fastapi, setup_tracing
from core.temporal import connect
from models.db import make_engine
from web import api_setup, metrics, problems, request_context, ui_setup


def create_app(
    settings: Settings | None = None,
    *,
    temporal: Client | None = None,
    engine: Engine | None = None,
) -> FastAPI:
    """Build the app; tests pass their own Temporal client and engine."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if engine is None:
            app.state.engine = make_engine(settings.database_url)
        if temporal is None:
            app.state.temporal = await connect(settings)
        yield
        if engine is None:
            app.state.engine.dispose()

    app = FastAPI(
        title="Caseloop",
        version="0.1.0",
        summary="Closed-loop customer case management",
        lifespan=lifespan,
    )
    # Given dependencies are usable at once (tests drive the app without a lifespan).
    app.state.settings, app.state.engine, app.state.temporal = settings, engine, temporal
    problems.install(app)
    api_setup.install(app, settings)
    ui_setup.install(app, settings)
    # Tracing first: the request-id and metrics wrappers go around the instrumented stack.
    instrument_fastapi(app, settings)
    request_context.install(app)
    metrics.install(app, settings)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        with app.state.engine.connect() as conn:
            conn.execute(text("select 1"))
        return {"status": "ok"}

    return app


configure_logging(get_settings())
setup_tracing(get_settings(), "api")
app = create_app()
