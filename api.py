"""FastAPI app: the Temporal client and DB engine are made once, in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy import Engine, text
from temporalio.client import Client

from core.settings import Settings, get_settings
from core.temporal import connect
from models.db import make_engine
from web import api_setup, problems, ui_setup
from web.storable import refuse_unstorable_url


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
        # Text the databases cannot store never gets past the URL or the headers (422).
        dependencies=[Depends(refuse_unstorable_url)],
    )
    # Given dependencies are usable at once (tests drive the app without a lifespan).
    app.state.settings, app.state.engine, app.state.temporal = settings, engine, temporal
    problems.install(app)
    api_setup.install(app, settings)
    ui_setup.install(app, settings)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        with app.state.engine.connect() as conn:
            conn.execute(text("select 1"))
        return {"status": "ok"}

    return app


app = create_app()
