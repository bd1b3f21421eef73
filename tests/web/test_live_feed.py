"""The change log and the one feed per API process, on SQLite and PostgreSQL: a write in another
process reaches every stream, a reconnect replays what it missed, nobody hears of cases they may
not see. The app runs in uvicorn (its lifespan starts the feed); writes come from elsewhere."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select
from starlette.requests import Request
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.settings import ROOT, Settings
from core.temporal import PLAIN_DATA_CONVERTER
from models.case import Case, CaseWatcher
from models.config import Unit, User
from models.db import make_engine
from models.sessions import WebSession
from models.types import utcnow
from services import sessions
from services.access import viewer_for, visible_clause
from tests.conftest import migrated_db, sqlite_db
from tests.live import (
    ServerThread,
    SseEvent,
    csrf_of,
    eventually,
    free_port,
    log_in,
    sse_events,
)
from tests.test_change_log import change_rows, notify, project
from tests.web.conftest import PASSWORD, seed_web
from web import live as live_module
from web.auth import SESSION_TOKEN, fingerprint, load_viewer, viewers_by_token
from web.live import LISTENER_NAME, Batch, Change, prune, read_head
from web.routes.pages import live as live_routes

WAIT = 20.0  # a missing event fails the test after this long (a bound, not a measurement)


def project_elsewhere(url: str, case_id: str, version: int, note: str) -> None:
    """The same write from another OS process, as the worker makes it."""
    code = (
        "import sys\n"
        "from models.db import make_engine\n"
        "from tests.test_change_log import project\n"
        "project(make_engine(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, url, case_id, str(version), note],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@dataclass
class Served:
    base_url: str
    url: str
    engine: Engine


@asynccontextmanager
async def serve(url: str, tmp_path: Path) -> AsyncIterator[Served]:
    """The app (no Temporal needed: nothing here starts a workflow) on a fresh database."""
    from api import create_app

    engine = make_engine(url)
    seed_web(engine)
    down = await Client.connect("127.0.0.1:1", lazy=True, data_converter=PLAIN_DATA_CONVERTER)
    port = free_port()
    settings = Settings(
        database_url=url,
        upload_dir=tmp_path / "uploads",
        public_base_url=f"http://127.0.0.1:{port}",
        secret_key=f"test-{uuid.uuid4().hex}",  # type: ignore[arg-type]
        live_poll_seconds=0.1,
    )
    server = ServerThread(create_app(settings, engine=engine, temporal=down), port)
    await asyncio.to_thread(server.start)
    try:
        yield Served(server.base_url, url, engine)
    finally:
        await asyncio.to_thread(server.stop)
        engine.dispose()


@pytest.fixture
async def served(any_db_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    async with serve(any_db_url, tmp_path) as app:
        yield app


@pytest.fixture
async def pg_served(tmp_path: Path) -> AsyncIterator[Served]:
    for url in migrated_db("postgresql", tmp_path, "caseloop_live"):
        async with serve(url, tmp_path) as app:
            yield app


@dataclass
class Events:
    source: AsyncIterator[SseEvent]
    seen: list[SseEvent] = field(default_factory=list)

    async def until(self, wanted: Callable[[SseEvent], bool], what: str) -> SseEvent:
        try:
            async with asyncio.timeout(WAIT):
                async for event in self.source:
                    self.seen.append(event)
                    if wanted(event):
                        return event
        except TimeoutError:
            pass
        raise AssertionError(f"no {what} (events: {self.seen})")

    async def end(self) -> None:
        """Read on until the server ends the stream."""
        try:
            async with asyncio.timeout(WAIT):
                async for event in self.source:
                    self.seen.append(event)
                return
        except TimeoutError:
            pass
        raise AssertionError(f"the server did not end the stream (events: {self.seen})")

    def of(self, kind: str) -> list[SseEvent]:
        return [e for e in self.seen if e.event == kind]


@asynccontextmanager
async def stream(
    served: Served | str, user: str, query: str, last_event_id: str | None = None
) -> AsyncIterator[Events]:
    """A signed-in browser's /events stream."""
    timeout = httpx.Timeout(30, read=None)
    base_url = served if isinstance(served, str) else served.base_url
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as client:
        await log_in(client, user, PASSWORD)
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        async with client.stream("GET", f"/events?{query}", headers=headers) as r:
            assert r.status_code == 200, await r.aread()
            assert r.headers["content-type"].startswith("text/event-stream")
            events = Events(sse_events(r))
            await events.until(lambda e: e.event == "badge", "badge at connection time")
            yield events


def case_event(case_id: str) -> Callable[[SseEvent], bool]:
    return lambda e: e.event == "case" and json.loads(e.data)["case"] == case_id


async def test_a_write_in_another_process_reaches_every_stream(served: Served) -> None:
    since = read_head(served.engine)
    query = f"inbox=1&case=C-000101&last_id={since}"
    async with stream(served, "ole", query) as ole, stream(served, "mia", query) as mia:
        await asyncio.to_thread(project_elsewhere, served.url, "C-000101", 1, "From the worker")
        for events in (ole, mia):  # the owner, and the unit's manager in another connection
            got = await events.until(case_event("C-000101"), "the case's change")
            data = json.loads(got.data)
            assert (data["case"], data["version"]) == ("C-000101", 1)
            assert "This case has just changed: From the worker" in data["html"]
            assert [e.event for e in events.seen[1:]] == ["inbox", "case"]
            assert got.id == str(read_head(served.engine))  # the batch's last event has its id


async def test_a_reconnect_with_last_event_id_misses_nothing(served: Served) -> None:
    cases = ("C-000201", "C-000202", "C-000203")
    query = "inbox=1&" + "&".join(f"case={c}" for c in cases)
    async with stream(served, "ole", f"{query}&last_id={read_head(served.engine)}") as events:
        await asyncio.to_thread(project, served.engine, cases[0], 1, "first")
        seen = await events.until(case_event(cases[0]), "the first change")
    assert seen.id

    # While the page is away: three transactions, and a notice for ole's badge.
    for case_id, version in ((cases[1], 1), (cases[2], 1), (cases[0], 2)):
        await asyncio.to_thread(project, served.engine, case_id, version, f"{case_id} v{version}")
    await asyncio.to_thread(notify, served.engine, cases[1], "ole")
    head = str(read_head(served.engine))

    # The browser's own reconnect (header), and a page that closed its stream (last_id).
    for last_event_id, extra in ((seen.id, ""), (None, f"&last_id={seen.id}")):
        async with stream(served, "ole", query + extra, last_event_id) as again:
            await again.until(lambda e: e.id == head, "the replay up to the newest change")
            told = {
                json.loads(e.data)["case"]: json.loads(e.data)["version"] for e in again.of("case")
            }
            assert told == {cases[0]: 2, cases[1]: 1, cases[2]: 1}
            assert len(again.of("inbox")) == 1 and len(again.of("badge")) == 2
            assert "v2" in json.loads(again.of("case")[0].data)["html"]


async def test_a_viewer_never_hears_of_cases_they_may_not_see(served: Served) -> None:
    theirs, own = "C-000301", "C-000302"
    query = f"inbox=1&case={theirs}&case={own}&last_id={read_head(served.engine)}"
    async with stream(served, "alex", query) as alex:
        await asyncio.to_thread(project, served.engine, theirs, 1, "ole's secret", "ole")
        await asyncio.to_thread(notify, served.engine, theirs, "ole", "mia")
        await asyncio.to_thread(project, served.engine, own, 1, "alex's own", "alex")
        await alex.until(case_event(own), "alex's own case")
    # The log is read in order: alex's event came after ole's changes were read and withheld.
    assert [e.event for e in alex.seen] == ["badge", "inbox", "case"]
    assert not [e for e in alex.seen if theirs in e.data or "secret" in e.data]


async def test_the_feed_listens_again_after_losing_its_connection(pg_served: Served) -> None:
    served = pg_served  # SQLite has no connection to lose
    query = f"case=C-000801&last_id={read_head(served.engine)}"
    async with stream(served, "ole", query) as events:
        # The server (an admin, a failover) ends the LISTEN session; the feed reconnects.
        with served.engine.begin() as conn:
            ended = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": LISTENER_NAME},
            ).all()
        assert ended == [(True,)]
        await asyncio.to_thread(project, served.engine, "C-000801", 1, "after the cut")
        await events.until(case_event("C-000801"), "the change after the reconnect")


async def test_signing_out_ends_the_stream(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_routes, "SESSION_CHECK_SECONDS", 0.2)
    timeout = httpx.Timeout(30, read=None)
    async with httpx.AsyncClient(base_url=served.base_url, timeout=timeout) as client:
        await log_in(client, "ole", PASSWORD)
        token = csrf_of((await client.get("/inbox")).text)
        async with client.stream("GET", "/events?inbox=1") as r:
            events = Events(sse_events(r))
            await events.until(lambda e: e.event == "badge", "the badge")
            assert (await client.post("/logout", data={"csrf_token": token})).status_code == 303
            await events.end()
        assert (await client.get("/events")).status_code in (302, 303)  # and no way back in


async def test_beyond_the_retention_the_page_reloads(served: Served) -> None:
    await asyncio.to_thread(project, served.engine, "C-000401", 1, "old")
    old = read_head(served.engine)
    await asyncio.to_thread(project, served.engine, "C-000401", 2, "new")
    # Pruning keeps the newest row (seq never restarts) and drops the rest.
    assert prune(served.engine, utcnow() + timedelta(seconds=1)) == 1
    assert [r[0] for r in change_rows(served.engine)] == [old + 1]
    async with stream(served, "ole", "case=C-000401", last_event_id=str(old - 1)) as events:
        got = await events.until(lambda e: e.event == "reload", "the reload")
        assert got.id == str(old + 1)
    # Within the retention a reconnect replays instead.
    async with stream(served, "ole", "case=C-000401", last_event_id=str(old)) as events:
        await events.until(case_event("C-000401"), "the replay")


async def test_shutting_down_ends_the_streams(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """uvicorn waits for open responses before it stops: streams that stayed open would hold a
    restart for minutes. The server ends them; browsers reconnect with Last-Event-ID."""
    url = sqlite_db(tmp_path)
    engine = make_engine(url)
    seed_web(engine)
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "LOG_FORMAT": "console",
    }
    argv = [sys.executable, "-m", "uvicorn", "api:app", "--host", "127.0.0.1", "--port", str(port)]
    log = (tmp_path / "api.log").open("wb")
    api = await asyncio.to_thread(
        subprocess.Popen, argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    try:

        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient(base_url=base_url) as client:
                    return (await client.get("/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(healthy, within=60, what="the API")
        async with stream(base_url, "ole", "inbox=1") as events:
            api.send_signal(signal.SIGTERM)
            await events.end()
        await asyncio.to_thread(api.wait, 30)  # uvicorn then re-raises the SIGTERM it caught
        assert "Application shutdown complete" in (tmp_path / "api.log").read_text()
    finally:
        if api.poll() is None:
            api.kill()
            api.wait(10)
        log.close()


async def test_one_session_check_for_every_stream_ends_only_the_stale_ones(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every stream's session is looked at in one round for all of the process's streams; a
    deactivated user's stream ends, and so does one whose rights changed; the others go on."""
    monkeypatch.setattr(live_routes, "SESSION_CHECK_SECONDS", 0.2)
    rounds: list[int] = []
    find_many = sessions.find_many

    def counted(session: Session, tokens: Iterable[object]) -> dict[str, WebSession]:
        tokens = list(tokens)
        rounds.append(len(tokens))
        return find_many(session, tokens)

    monkeypatch.setattr(sessions, "find_many", counted)
    query = f"case=C-000901&last_id={read_head(served.engine)}"
    async with (
        stream(served, "ole", query) as ole,
        stream(served, "mia", query) as mia,
        stream(served, "alex", query) as alex,
    ):
        await eventually(lambda: max(rounds, default=0) == 3, within=WAIT, what="a shared round")
        with Session(served.engine) as db:
            user = db.get(User, "mia")
            unit = db.get(Unit, "9000")
            assert user is not None and unit is not None
            user.active = False  # mia may no longer sign in
            unit.field_manager_id = "alex"  # alex has other rights now
            db.add_all([user, unit])
            db.commit()
        await mia.end()
        await alex.end()
        await asyncio.to_thread(project, served.engine, "C-000901", 1, "still told")
        await ole.until(case_event("C-000901"), "ole's stream going on")


async def test_a_batch_runs_the_lookups_asked_for_in_one_turn_in_one_thread_hop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hops: list[int] = []
    call_all = live_module._call_all

    def counted(fns: Sequence[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        hops.append(len(fns))
        return call_all(fns)

    monkeypatch.setattr(live_module, "_call_all", counted)
    batch = Batch([Change(1, "case", "C-1", None, 1)])
    calls: list[int] = []

    def lookup(n: int) -> int:
        calls.append(n)
        if n == 2:
            raise LookupError(n)
        return n * 10

    asks = [batch.once(n, partial(lookup, n)) for n in (0, 1, 2, 0, 1, 2, 0)]
    got = await asyncio.gather(*asks, return_exceptions=True)
    assert got[:2] == [0, 10] and isinstance(got[2], LookupError) and got[3:5] == [0, 10]
    assert sorted(calls) == [0, 1, 2] and hops == [3]  # once each, together
    assert await batch.once(1, partial(lookup, 9)) == 10 and hops == [3]  # memoised


def test_viewers_by_token_agrees_with_load_viewer(tmp_path: Path) -> None:
    engine = make_engine(sqlite_db(tmp_path))
    seed_web(engine)
    with Session(engine) as db:
        users = {u.id: u for u in db.exec(select(User)).all()}
        tokens = {
            uid: sessions.start(db, uid, fingerprint(u.password_hash), 3600)
            for uid, u in users.items()
        }
        expired = sessions.start(db, "ole", fingerprint(users["ole"].password_hash), -1)
        old_password = sessions.start(db, "alex", "0" * 16, 3600)
        gone = users["dora"]
        gone.active = False
        db.add(gone)
        db.commit()
    asked = [*tokens.values(), expired, old_password, "not-a-token", "x" * 40]
    found = viewers_by_token(engine, asked)
    with Session(engine) as db:
        one_by_one = {}
        for token in asked:
            request = cast(Request, SimpleNamespace(session={SESSION_TOKEN: token}))
            if (viewer := load_viewer(request, db)) is not None:
                one_by_one[token] = viewer
    assert found == one_by_one
    assert tokens["dora"] not in found and expired not in found and old_password not in found
    assert found[tokens["mia"]].managed_units and found[tokens["fred"]].managed_units
    engine.dispose()


def test_the_stream_lets_see_the_cases_the_inbox_lets_see(tmp_path: Path) -> None:
    """The stream applies the case page's rule in Python to one read of the batch's cases; for
    every user that is the inbox's SQL clause (owners, watchers, unit managers, admins)."""
    engine = make_engine(sqlite_db(tmp_path))
    seed_web(engine)
    project(engine, "C-000951", 1, "ole's", "ole")
    project(engine, "C-000952", 1, "alex's", "alex")
    project(engine, "C-000953", 1, "alex's too", "alex")
    with Session(engine) as db:
        db.add(CaseWatcher(case_id="C-000952", user_id="ole", access="limited"))
        db.add(CaseWatcher(case_id="C-000951", user_id="alex", access="full"))
        db.commit()
        ids = ["C-000951", "C-000952", "C-000953", "C-000999"]  # the last one: not projected
        facts = live_routes._cases(engine, ids)
        seen_by = {}
        for user in db.exec(select(User)).all():
            viewer = viewer_for(db, user)
            stmt = select(Case.id).where(col(Case.id).in_(ids))
            if (clause := visible_clause(viewer)) is not None:
                stmt = stmt.where(clause)
            assert live_routes._visible(viewer, facts) == set(db.exec(stmt).all()), user.id
            seen_by[user.id] = live_routes._visible(viewer, facts)
    assert seen_by["ole"] == {"C-000951", "C-000952"} and seen_by["alex"] == {
        "C-000951",
        "C-000952",
        "C-000953",
    }
    assert "C-000951" in seen_by["mia"] and "C-000952" not in seen_by["mia"]
    engine.dispose()
