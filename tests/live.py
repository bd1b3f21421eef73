"""Helpers for tests against the running app: uvicorn in a thread, Chromium, signing in, waiting.

Shared by the web, notify and reports packages (the `browser` fixture is in tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import unavailable

# ---------------------------------------------------------------- the app in a uvicorn thread


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerThread:
    """uvicorn in a thread with its own event loop (the app may connect its own Temporal client).

    `start()`/`stop()`, or `with ServerThread(app) as base_url:`; without a port, a free one.
    """

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = free_port() if port is None else port
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            proxy_headers=False,  # as deployed: the app trusts only TRUSTED_PROXIES
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def __enter__(self) -> str:
        self.start()
        return self.base_url

    def __exit__(self, *_: Any) -> None:
        self.stop()


# ---------------------------------------------------------------- waiting


# How much longer than a test's own limit a wait may take: the suite runs tests side by side
# (pytest-xdist) on a small machine, where a process may take many times its quiet start-up time.
# Only a failing wait is lengthened; nothing here times anything.
PATIENCE = float(os.environ.get("TEST_PATIENCE", "3"))


async def eventually(
    check: Callable[[], Any], within: float = 30.0, what: str = "condition", every: float = 0.05
) -> Any:
    """Poll `check` until it returns something truthy and return that; fail after `within` s.

    A plain function runs in a thread (it may block on the database); a coroutine function is
    awaited.
    """
    within *= PATIENCE
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        if inspect.iscoroutinefunction(check):
            last = await check()
        else:
            last = await asyncio.to_thread(check)
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"{what} not reached in {within}s (last: {last!r})")


# ---------------------------------------------------------------- signing in over HTTP

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> None:
    """Sign `client` in through the login form (its cookie jar then holds the session)."""
    page = await client.get("/login")
    r = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 303, r.text


# ---------------------------------------------------------------- server-sent events


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: str | None  # the event's own `id:` field, if it had one


async def sse_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """The events of a text/event-stream response, as a browser's EventSource parses them."""
    event, event_id = "message", None
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if "\n".join(data):  # an event without data is not dispatched
                yield SseEvent(event, "\n".join(data), event_id)
            event, data, event_id = "message", [], None
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value


# ---------------------------------------------------------------- Debian's Chromium

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        unavailable("Debian's chromium is not installed (apt-get install chromium)")
    return path


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Playwright driving Debian's Chromium (fails in CI, skips elsewhere, when missing)."""
    try:
        from playwright.async_api import async_playwright, expect
    except ImportError:
        unavailable("the playwright package is not installed (pip install the dev extras)")
        raise
    # Playwright's own 5 s for an expectation, lengthened as every wait of the suite is.
    expect.set_options(timeout=5_000 * PATIENCE)
    path = chromium_path()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def fill_login_form(page: Any, username: str, password: str) -> None:
    """On the login page: type the credentials and press Sign in."""
    await page.get_by_label("User name").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
