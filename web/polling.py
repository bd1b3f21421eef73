"""Live pages: the read model polled on the server, a server-sent event when it changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from fastapi import Request

from core.threads import in_thread

T = TypeVar("T")


async def changes(
    request: Request, read: Callable[[], T], every: float, last: T | None = None
) -> AsyncIterator[T]:
    """Each new value of `read()` (blocking: run in a thread) until the client goes away.

    `last` is what the client already shows; without it the first value is sent at once.
    """
    while not await request.is_disconnected():
        now = await in_thread(read)
        if now != last:
            last = now
            yield now
        await asyncio.sleep(every)
