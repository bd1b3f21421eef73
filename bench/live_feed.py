"""Live updates with C connected browsers: delivery latency and the API's CPU.

One API process (uvicorn, `api.create_app`, its one change feed) serves C open `/events`
streams (signed-in users, each following the same K cases and its inbox). This process then
changes those cases M times, as the worker's projection does (the case row's version and a
`case_change` row, in one transaction), and times each change from its commit to its `case`
event on every stream.

The floor, in the same run: a bare Starlette SSE endpoint in a process of its own, polling the
same change log as often (one read per poll for all its clients) and pushing every row to C
clients, with no sign-in, no access check and no HTML.

    python bench/live_feed.py                        # 500 clients, 60 changes
    python bench/live_feed.py --clients 200 --users 20 --db postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-password-1"
POLL_SECONDS = 0.5


@dataclass
class Run:
    name: str
    connected: float = 0.0  # seconds until every stream had its first event
    latencies: list[float] = field(default_factory=list)
    cpu: float = 0.0  # server CPU seconds during the pushes
    wall: float = 0.0
    expected: int = 0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies) or [float("nan")]
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        got = len(self.latencies)
        return (
            f"{self.name:<6} p50 {self.p(0.5) * 1000:7.0f} ms   p95 {self.p(0.95) * 1000:7.0f} ms"
            f"   delivered {got}/{self.expected}   server CPU {self.cpu:6.2f} s"
            f" ({100 * self.cpu / max(self.wall, 1e-9):3.0f} % of one core)"
            f"   all connected in {self.connected:5.1f} s"
        )


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the servers (subprocesses)


def serve_app(url: str, port: str, secret: str) -> None:
    import uvicorn

    from api import create_app
    from core.settings import Settings

    settings = Settings(
        database_url=url,
        secret_key=secret,  # type: ignore[arg-type]
        demo_mode=True,
        live_poll_seconds=POLL_SECONDS,
        log_level="WARNING",
        temporal_address="127.0.0.1:1",  # never used: the live stream needs no Temporal
    )
    app = create_app(settings)
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)


def serve_bare(url: str, port: str) -> None:
    """The floor: one poll of the change log per process, every row to every client."""
    import uvicorn
    from sqlalchemy import text
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from models.db import make_engine

    engine = make_engine(url)
    queues: set[asyncio.Queue[str]] = set()

    def read(after: int) -> list[tuple[int, str, int]]:
        with engine.connect() as conn:
            return [
                (int(r[0]), str(r[1]), int(r[2]))
                for r in conn.execute(
                    text(
                        "SELECT seq, case_id, version FROM case_change WHERE seq > :a "
                        "AND kind = 'case' ORDER BY seq"
                    ),
                    {"a": after},
                )
            ]

    async def poll() -> None:
        with engine.connect() as conn:
            head = int(conn.execute(text("SELECT coalesce(max(seq), 0) FROM case_change")).one()[0])
        while True:
            rows = await asyncio.to_thread(read, head)
            for seq, case_id, version in rows:
                head = seq
                data = json.dumps({"case": case_id, "version": version})
                for q in list(queues):
                    q.put_nowait(f"event: case\nid: {seq}\ndata: {data}\n\n")
            await asyncio.sleep(POLL_SECONDS)

    async def events(request: Request) -> StreamingResponse:
        q: asyncio.Queue[str] = asyncio.Queue()

        async def stream() -> AsyncIterator[str]:
            queues.add(q)
            try:
                yield ": live\n\n"
                while True:
                    yield await q.get()
            finally:
                queues.discard(q)

        return StreamingResponse(stream(), media_type="text/event-stream")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(poll())
        yield
        task.cancel()

    app = Starlette(routes=[Route("/events", events)], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)


# ---------------------------------------------------------------- the clients


async def stream_events(
    http: Any, path: str, ready: asyncio.Event, sent: dict[tuple[str, int], float], out: list[float]
) -> None:
    async with http.stream("GET", path, headers={"Accept": "text/event-stream"}) as r:
        r.raise_for_status()
        event = ""
        async for line in r.aiter_lines():
            ready.set()
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "case":
                data = json.loads(line[5:])
                at = sent.get((data["case"], data["version"]))
                if at is not None:
                    out.append(time.perf_counter() - at)
            elif not line:
                event = ""


async def wait_port(port: int, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.3)
    sys.exit(f"the server on port {port} did not start")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def measure(
    run: Run,
    proc: Any,
    port: int,
    clients: int,
    cookies: list[Any],
    path: str,
    changes: int,
    interval: float,
    engine: Any,
    cases: list[str],
) -> None:
    import httpx
    from sqlalchemy import update

    from models.case import Case
    from models.changes import record_case_change

    await wait_port(port)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    https = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", cookies=c, limits=limits, timeout=None
        )
        for c in cookies
    ]
    sent: dict[tuple[str, int], float] = {}
    readies = [asyncio.Event() for _ in range(clients)]
    t0 = time.perf_counter()
    tasks = [
        asyncio.create_task(
            stream_events(https[i % len(https)], path, readies[i], sent, run.latencies)
        )
        for i in range(clients)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 300)
    run.connected = time.perf_counter() - t0
    await asyncio.sleep(2 * POLL_SECONDS)
    versions = {c: 100 for c in cases}

    def change(case_id: str) -> None:
        versions[case_id] += 1
        with engine.begin() as conn:
            conn.execute(update(Case).where(Case.id == case_id).values(version=versions[case_id]))  # type: ignore[arg-type]
            record_case_change(conn, case_id, versions[case_id])
        sent[(case_id, versions[case_id])] = time.perf_counter()

    cpu0, w0 = cpu_of(proc.pid), time.perf_counter()
    for i in range(changes):
        await asyncio.to_thread(change, cases[i % len(cases)])
        await asyncio.sleep(interval)
    run.expected = changes * clients
    deadline = time.monotonic() + 30
    while len(run.latencies) < run.expected and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    run.cpu, run.wall = cpu_of(proc.pid) - cpu0, time.perf_counter() - w0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for h in https:
        await h.aclose()


async def main(clients: int, users: int, changes: int, interval: float, db: str | None) -> None:
    import httpx
    from alembic import command
    from alembic.config import Config
    from sqlmodel import Session

    from models.case import Case
    from models.db import make_engine
    from services.configuration import apply_config
    from tests.factories import USERS, config_with_passwords
    from tests.live import log_in

    tmp = Path(tempfile.mkdtemp(prefix="live-bench-"))
    url = db or f"sqlite:///{tmp / 'live.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "head")
    engine = make_engine(url)
    doc = config_with_passwords(PASSWORD)
    names = [f"viewer{i:03d}" for i in range(users)]
    doc = doc.model_validate(
        {
            **doc.model_dump(mode="json"),
            "users": [u for u in doc.model_dump(mode="json")["users"]]
            + [
                {
                    "id": n,
                    "name": f"Viewer {n[-3:]}",
                    "email": f"{n}@example.com",
                    "role": "admin",
                    "password": PASSWORD,
                }
                for n in names
            ],
        }
    )
    apply_config(engine, doc)
    assert USERS
    cases = [f"L-{i:06d}" for i in range(20)]
    with Session(engine) as s:
        for i, case_id in enumerate(cases):
            s.add(
                Case(
                    id=case_id,
                    program_id="recovery",
                    unit_id="4723",
                    channel="email",
                    owner_id="ole",
                    status="in_progress",
                    is_open=True,
                    created_at=datetime.now(UTC),
                    customer_name=f"Customer {i}",
                    version=100,
                )
            )
        s.commit()
    secret = secrets.token_urlsafe(48)
    query = "&".join(f"case={c}" for c in cases)
    runs = []
    try:
        # ---- ours
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve-app", url, str(port), secret, cwd=ROOT
        )
        try:
            await wait_port(port)
            cookies = []
            for n in names:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
                    await log_in(c, n, PASSWORD)
                    cookies.append(c.cookies)
            run = Run("api")
            await measure(
                run,
                proc,
                port,
                clients,
                cookies,
                f"/events?inbox=1&{query}",
                changes,
                interval,
                engine,
                cases,
            )
            runs.append(run)
        finally:
            proc.terminate()
            await proc.wait()
        # ---- the floor
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve-bare", url, str(port), cwd=ROOT
        )
        try:
            run = Run("bare")
            await measure(
                run,
                proc,
                port,
                clients,
                [httpx.Cookies()],
                "/events",
                changes,
                interval,
                engine,
                cases,
            )
            runs.append(run)
        finally:
            proc.terminate()
            await proc.wait()
    finally:
        dialect = engine.dialect.name
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)

    ours, bare = runs
    print()
    print(
        f"live updates: {clients} streams of {users} users on one API process, {changes} case "
        f"changes every {interval:.2f} s, {dialect} change log (poll {POLL_SECONDS} s)"
    )
    for r in runs:
        print(f"  {r.line()}")
    print(
        f"  ratio api / bare: p95 {ours.p(0.95) / bare.p(0.95):5.2f}   "
        f"CPU {ours.cpu / max(bare.cpu, 1e-9):5.2f}   "
        f"(goal: p95 <= 2 s -> {'met' if ours.p(0.95) <= 2 else 'MISSED'})"
    )
    gap = statistics.median(ours.latencies or [0]) - statistics.median(bare.latencies or [0])
    print(f"  median latency gap api - bare: {gap * 1000:.0f} ms")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-app":
        serve_app(*sys.argv[2:5])
        sys.exit(0)
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-bare":
        serve_bare(*sys.argv[2:4])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500, help="open /events streams")
    parser.add_argument("--users", type=int, default=50, help="signed-in users they belong to")
    parser.add_argument("--changes", type=int, default=60, help="case changes pushed")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between changes")
    parser.add_argument("--db", default=None, help="an empty read-model URL (default: SQLite)")
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.users, args.changes, args.interval, args.db))
