"""Wiring of the JSON API (/api/v1) onto the app: routers, body limit, bootstrap token."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings
from core.threads import in_thread
from web import api_docs
from web.limits import BodyLimit
from web.routes import api_v1

log = logging.getLogger(__name__)


def ensure_bootstrap_client(app: FastAPI, settings: Settings) -> None:
    """CASELOOP_BOOTSTRAP_TOKEN: an admin API client with that token exists once the app runs."""
    from services.tokens import ensure_bootstrap

    if settings.bootstrap_token is None:
        return
    client = ensure_bootstrap(app.state.engine, settings.bootstrap_token.get_secret_value())
    if client is not None:
        log.info("bootstrap admin API client: %s (id %s)", client.name, client.id)


class ApiHeaders:
    """Answers of /api/ carry personal data: never stored by a cache or browser, never sniffed."""

    HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                ]
                message["headers"] = headers + [
                    (k, v) for k, v in self.HEADERS if k not in {n.lower() for n, _ in headers}
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: Settings) -> None:
    app.include_router(api_v1.router)
    api_docs.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.request_max_bytes, prefix="/api/")
    app.add_middleware(ApiHeaders)

    @asynccontextmanager
    async def bootstrap(_: FastAPI) -> AsyncIterator[None]:
        # Merged after api.py's lifespan, so the engine exists by now.
        await in_thread(ensure_bootstrap_client, app, settings)
        yield

    app.include_router(APIRouter(lifespan=bootstrap))
