"""Readiness: can this process reach the database and Temporal right now?

Each check is bounded by a short timeout, so a probe never hangs on a server that does not
answer. At most one database check runs at a time: a probe every few seconds against a database
that hangs must not fill the thread pool with waiting connects.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import Engine, text
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from core.threads import in_thread
from services.outages import summary, within

log = logging.getLogger(__name__)


class StillChecking(Exception):
    pass


@dataclass
class Check:
    status: Literal["up", "down"]
    latency_ms: float
    # The kind of failure ("OperationalError", "timeout"): no hosts or paths, the probe is public.
    error: str | None = None


class Readiness:
    def __init__(self, engine: Engine, temporal: Client, timeout_seconds: float) -> None:
        self.engine, self.temporal, self.timeout = engine, temporal, timeout_seconds
        self._db_busy = threading.Lock()

    async def checks(self) -> dict[str, Check]:
        database, temporal = await asyncio.gather(self.database(), self.temporal_service())
        return {"database": database, "temporal": temporal}

    async def database(self) -> Check:
        def ping() -> None:
            # Taken in the thread, so only a check that really runs (and may hang) holds it.
            if not self._db_busy.acquire(blocking=False):
                raise StillChecking("the previous check has not finished")
            try:
                with self.engine.connect() as conn:
                    conn.execute(text("select 1"))
            finally:
                self._db_busy.release()

        return await self._timed("database", in_thread(ping))

    async def temporal_service(self) -> Check:
        request = DescribeNamespaceRequest(namespace=self.temporal.namespace)
        call = self.temporal.workflow_service.describe_namespace(
            request, retry=False, timeout=timedelta(seconds=self.timeout)
        )
        return await self._timed("temporal", call)

    async def _timed(self, name: str, call: Awaitable[Any]) -> Check:
        started = time.perf_counter()
        try:
            finished, _ = await within(call, self.timeout)
        except Exception as exc:  # any failure means "down"; the log says why
            log.warning("readiness: %s is down: %s", name, summary(exc))
            return Check("down", _ms(started), type(exc).__name__)
        if not finished:
            log.warning("readiness: %s did not answer within %s s", name, self.timeout)
            return Check("down", _ms(started), "timeout")
        return Check("up", _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
