"""Live pages: the read model polled on the server, a server-sent event when it changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from fastapi import Request

from core.threads import in_thread
from services.outages import outage_of

T = TypeVar("T")


async def changes(
    request: Request, read: Callable[[], T], every: float, last: T | None = None
) -> AsyncIterator[T]:
    """Each new value of `read()` (blocking: run in a thread) until the client goes away.

    `last` is what the client already shows; without it the first value is sent at once.
    While the database is down the stream waits instead of failing.
    """
    while not await request.is_disconnected():
        try:
            now = await in_thread(read)
        except Exception as exc:
            if outage_of(exc) is None:
                raise
            # The database is away for a moment: the stream stays open, the next round looks.
            await asyncio.sleep(every)
            continue
        if now != last:
            last = now
            yield now
        await asyncio.sleep(every)
