"""Fixtures for notifications: a real SMTP server (aiosmtpd), real intake, the real app.

The SMTP sink keeps every message it accepted, can refuse the next DATA of a matching message
with 451 (a transient failure the sender must retry), and can be stopped and started again on
the same port (an outage).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from models.api import CaseCreate
from models.case import Outbox
from services.intake import open_case
from tests.conftest import unavailable
from tests.factories import running_worker
from tests.live import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        content: str = body.get_content()
        return content


@dataclass
class SmtpSink:
    """aiosmtpd on 127.0.0.1:`port`; `messages` are what it accepted."""

    port: int
    messages: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _fail: list[tuple[str, int]] = field(default_factory=list)
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- aiosmtpd handler
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        subject = str(msg["Subject"] or "")
        with self._lock:
            for i, (pattern, times) in enumerate(self._fail):
                if times > 0 and re.search(pattern, subject):
                    self._fail[i] = (pattern, times - 1)
                    self.refused.append(subject)
                    return "451 4.3.0 Requested action aborted: try again later"
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 2.0.0 Message accepted for delivery"

    # -- control
    def fail_next(self, subject_pattern: str, times: int = 1) -> None:
        """Answer 451 to the next `times` DATA commands whose subject matches."""
        with self._lock:
            self._fail.append((subject_pattern, times))

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def with_subject(self, pattern: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if re.search(pattern, m.subject)]

    async def wait_for(self, pattern: str, count: int = 1, within: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = self.with_subject(pattern)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"{count} message(s) matching {pattern!r} not received in {within}s; "
            f"got {[m.subject for m in self.messages]}"
        )


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink(free_port())
    try:
        sink.start()
    except Exception as exc:  # pragma: no cover - environment problem
        unavailable(f"cannot run the aiosmtpd test server: {exc}")
    yield sink
    sink.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpSink) -> Settings:
    """The test settings with SMTP pointing at the sink."""
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "mail_from": "Caseloop <caseloop@example.com>",
        }
    )


CUSTOMER = {
    "name": "Kari Nordmann",
    "email": "kari@example.com",
    "phone": "+4755512345",
}
TRANSACTION = {"date": "2026-11-20", "room": "412", "booking": "BK-55821"}


# Cases the tests opened, terminated after each test: a workflow left running would answer the
# next test's start of the same case id (a fresh database numbers from C-000001 again).
_opened: list[tuple[Client, str]] = []


@pytest.fixture(autouse=True)
async def _terminate_opened_cases() -> AsyncIterator[None]:
    yield
    await terminate_opened()


async def terminate_opened() -> None:
    """Let the cases opened so far settle, then terminate them."""
    while _opened:
        client, case_id = _opened.pop()
        await settle(client, case_id)
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(case_id).terminate("test finished")


async def settle(client: Client, case_id: str, within: float = 15.0) -> None:
    """Wait until the case has no activity or workflow task in flight.

    The time-skipping server holds its clock while work is in flight: a delivery's completion
    (and the workflow task it triggers) cut off by the end of a test can freeze the clock for
    the next test's `env.sleep`.
    """
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=case_id)
    )
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            desc = await client.workflow_service.describe_workflow_execution(request)
        except RPCError:
            return
        if not desc.pending_activities and await _no_workflow_task(client, case_id):
            return
        await asyncio.sleep(0.05)


async def _no_workflow_task(client: Client, case_id: str) -> bool:
    """Every workflow task the history scheduled has ended (completed, failed or timed out)."""
    open_tasks = 0
    async for event in client.get_workflow_handle(case_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            open_tasks += 1
        elif event.event_type in (
            EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        ):
            open_tasks -= 1
    return open_tasks <= 0


@asynccontextmanager
async def notify_worker(
    env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> AsyncIterator[None]:
    """The real worker; on the way out the cases opened meanwhile settle and are terminated."""
    async with running_worker(env.client, engine, settings):
        try:
            yield
        finally:
            await terminate_opened()


async def open_test_case(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, **fields: Any
) -> str:
    """A case through the real intake (customer profile, transaction, routing).

    Opened "now" on the server's clock: an earlier test may have moved the time-skipping clock
    days past the wall clock, and deadlines computed from the wall clock would already be due.
    """
    body: dict[str, Any] = {
        "program_id": "recovery",
        "unit_id": "4723",
        "channel": "contact_center",
        "customer": dict(CUSTOMER),
        "transaction": dict(TRANSACTION),
        "category": "Housekeeping",
        "reason": "Room was not cleaned on arrival",
        "verbatim": 'The room smelled of smoke & nobody came. <b>"Unacceptable"</b>',
    }
    body.update(fields)
    result = await open_case(
        engine,
        env.client,
        settings,
        CaseCreate.model_validate(body),
        created_at=await env.get_current_time(),
    )
    _opened.append((env.client, result.case_id))
    return result.case_id


def outbox_rows(engine: Engine, case_id: str | None = None) -> list[Outbox]:
    with Session(engine) as s:
        query = select(Outbox).order_by(col(Outbox.id))
        if case_id:
            query = query.where(col(Outbox.case_id) == case_id)
        return list(s.exec(query).all())


def with_notify_routes(app: FastAPI) -> FastAPI:
    """The app with this issue's routers, whether or not the lead has wired them in yet."""
    from web.routes import outbox, survey
    from web.routes.api_v1 import notifications

    paths = {getattr(r, "path", "") for r in app.router.routes}
    if "/survey/{token}" not in paths:
        app.include_router(survey.router)
    if "/admin/outbox" not in paths:
        app.include_router(outbox.router)
    if "/api/v1/templates/preview" not in paths:
        app.include_router(notifications.router, prefix="/api/v1")
    return app


def make_settings(tmp: Path, url: str, **extra: Any) -> Settings:
    return Settings(
        database_url=url,
        task_queue=f"caseloop-notify-{uuid.uuid4().hex[:8]}",
        upload_dir=tmp / "uploads",
        secret_key=f"test-{uuid.uuid4().hex}",  # type: ignore[arg-type]
        **extra,
    )
