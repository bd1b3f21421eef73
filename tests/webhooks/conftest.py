"""Fixtures for webhooks out: a real HTTP receiver in a thread, short retry settings, and the
worker's dispatcher running beside the test's worker."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from models.webhooks import WebhookDelivery, WebhookSubscription
from services.webhook_dispatch import WebhookDispatcher
from tests.factories import running_worker
from tests.live import eventually


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next queued status (200 when none is queued)."""

    server: ThreadingHTTPServer
    hits: list[Hit] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def answer(self, *statuses: int) -> None:
        with self.lock:
            self.answers.extend(statuses)

    def take(self, hit: Hit) -> int:
        with self.lock:
            self.hits.append(hit)
            return self.answers.pop(0) if self.answers else 200

    def of(self, event: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if f'"event":"{event}"' in h.body.decode()]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            hit = Hit(
                self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
            )
            status = holder[0].take(hit)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://169.254.169.254/latest")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Receiver(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()


# The API's app with a real worker (tests/api/conftest.py), on these settings.
from tests.api.conftest import app, tokens  # noqa: E402, F401


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receiver runs on 127.0.0.1: these tests allow private targets explicitly, and
    retry within a second."""
    return settings.model_copy(
        update={
            "webhook_allow_private": True,
            "webhook_retry_initial_seconds": 0.05,
            "webhook_retry_max_interval_seconds": 0.2,
            "webhook_retry_for_seconds": 3600.0,
            "webhook_dispatch_interval_seconds": 0.05,
            "webhook_timeout_seconds": 5.0,
        }
    )


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings


@asynccontextmanager
async def dispatching(client: Client, engine: Engine, settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(WebhookDispatcher(engine, client, settings).run_forever(stop))
    try:
        yield
    finally:
        stop.set()
        await task


@asynccontextmanager
async def worker_and_dispatcher(
    env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> AsyncIterator[None]:
    """The worker as worker.py runs it: the Temporal worker and the webhook dispatcher."""
    async with (
        running_worker(env.client, engine, settings),
        dispatching(env.client, engine, settings),
    ):
        yield


def delivery_rows(engine: Engine, event: str | None = None) -> list[WebhookDelivery]:
    with Session(engine) as s:
        query = select(WebhookDelivery).order_by(col(WebhookDelivery.id))
        if event:
            query = query.where(col(WebhookDelivery.event) == event)
        return list(s.exec(query).all())


def subscription(engine: Engine, sub_id: int) -> WebhookSubscription:
    with Session(engine) as s:
        sub = s.get(WebhookSubscription, sub_id)
        assert sub is not None
        return sub


async def settled(engine: Engine, event: str, count: int = 1) -> list[WebhookDelivery]:
    """Wait until `count` deliveries of the event are settled (not pending)."""

    def check() -> list[WebhookDelivery] | None:
        rows = [r for r in delivery_rows(engine, event) if r.status != "pending"]
        return rows if len(rows) >= count else None

    found: list[WebhookDelivery] = await eventually(check, within=30, what=f"{event} settled")
    return found
