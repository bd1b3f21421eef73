"""Blocking work (database, files) off the event loop, in one pool sized for it.

`asyncio.to_thread` uses the loop's default executor: min(32, CPUs + 4) threads, six on a
two-core box. Intake waits in its thread for the batch writer, so six threads capped intake
at six requests in the database step, while the Temporal start of the others sat idle
(bench/intake.py: API/raw 0.51 -> 0.64 with this pool). 32 threads stay within the PostgreSQL
pool (10 + 20 overflow, models/db.py) plus the few sync routes Starlette runs itself.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="caseloop-io")


async def in_thread(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`asyncio.to_thread`, in the shared I/O pool (context variables travel along)."""
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_pool, call)
