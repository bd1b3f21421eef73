"""Which errors mean "a dependency is down" (the database, Temporal) rather than a bug.

The HTTP layer answers these with 503 and Retry-After, the readiness probe names the component,
the live pages skip a poll. Anything else is a bug and stays one (500). Only the class and the
dependency are decided here; the error's own text (host names, file paths) is for the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Literal, TypeVar

from sqlalchemy import exc as sa_exc
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

Component = Literal["database", "temporal"]
T = TypeVar("T")

# SQLite's own codes for "cannot get at the file now" (sqlite3 puts syntax errors and missing
# tables under OperationalError too: those are bugs).
SQLITE_OUTAGES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL")
# A call that may well succeed once the server is reachable (or less busy) again.
TEMPORAL_OUTAGES = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.CANCELLED,
    }
)


class Unavailable(Exception):
    """A dependency did not answer; the message is safe to show (no hosts, no paths)."""

    def __init__(self, component: Component, message: str) -> None:
        super().__init__(message)
        self.component = component


def _sqlite_outage(orig: BaseException) -> bool:
    name = getattr(orig, "sqlite_errorname", None)
    return isinstance(name, str) and name.startswith(SQLITE_OUTAGES)


def outage_of(exc: BaseException) -> Component | None:
    """The dependency that `exc` says is down, or None for any other error."""
    if isinstance(exc, Unavailable):
        return exc.component
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return "database"  # no connection from the pool in time / the server went away
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return "database"
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            orig = exc.orig
            if orig is not None and type(orig).__module__ == "sqlite3":
                return "database" if _sqlite_outage(orig) else None
            return "database"
        return None
    if isinstance(exc, RPCError):
        return "temporal" if exc.status in TEMPORAL_OUTAGES else None
    if isinstance(exc, RPCTimeoutOrCancelledError):
        return "temporal"
    if isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect"):
        return "temporal"  # a lazy Temporal client that cannot connect (yet)
    return None


def summary(exc: BaseException) -> str:
    """The error's class and the first line of its text, for one log line (an SQLAlchemy error
    goes on with the statement and a link)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


async def within(call: Awaitable[T], seconds: float) -> tuple[bool, T | None]:
    """(True, result) if `call` finishes within `seconds`, else (False, None) and it is
    cancelled. Run as a task of its own: some clients turn a cancellation into an error of
    their own, which an `asyncio.timeout` around them would not recognise."""
    task = asyncio.ensure_future(call)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except BaseException:
        task.cancel()
        raise
    if done:
        return True, task.result()
    task.cancel()
    await asyncio.wait({task})  # let it wind down; its error (if any) is not ours
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved
    return False, None
