"""A worker in its own process for tests that drive the app from other threads.

The workflow sandbox swaps `builtins.__import__` for the whole process; a test thread that
imports while a sandboxed worker thread runs can trip CPython 3.11's AST recursion check. In a
separate process the worker is as it is in production (`python worker.py`).

    python -m tests.api.worker_process ADDRESS DATABASE_URL TASK_QUEUE
"""

from __future__ import annotations

import asyncio
import signal
import sys


async def main(address: str, url: str, task_queue: str) -> None:
    from core.settings import Settings
    from core.temporal import connect
    from models.db import make_engine
    from worker import build_worker

    settings = Settings(database_url=url, task_queue=task_queue, temporal_address=address)
    engine = make_engine(url)
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with build_worker(client, engine, settings):
        print("worker ready", flush=True)
        await stop.wait()
    engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
