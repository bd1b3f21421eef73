"""One change feed per API process: the change log read once, handed to every live stream.

The worker (another process) appends to `case_change` as it changes the read model
(models/changes.py). This process learns of new rows with LISTEN on PostgreSQL (the NOTIFY comes
with the commit) and, on SQLite, which cannot tell another process, by a cheap look for rows past
the newest one it has (an index range read, once per `live_poll_seconds`). Either way the rows
are read once and handed to every open stream (`subscribe`); each stream keeps what its viewer
may see (web/routes/pages/live.py).

Retention: the feed of every API process deletes rows older than `live_retention_hours` once an
hour (idempotent, so several processes may). A page away longer than that reloads its data
instead of replaying. The newest row always stays: a reconnect compares its id with the log's
oldest and newest seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from core.threads import in_thread
from domain.permissions import Viewer
from models.changes import CHANNEL, CaseChange
from models.types import utcnow
from web.auth import viewers_by_token

log = logging.getLogger(__name__)
T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

READ_LIMIT = 1000  # rows per read; a burst is read in several
QUEUE_BATCHES = 100  # a stream further behind than this re-reads the log itself
PRUNE_EVERY = 3600.0
# PostgreSQL: NOTIFY wakes the feed; a read this often anyway is the safety net. Also how often
# an idle LISTEN connection is checked (a dead peer is otherwise never noticed).
LISTEN_CHECK = 30.0
MAX_BACKOFF = 30.0
EXIT_CHECK = 0.5
START_WAIT = 5.0
LISTENER_NAME = "caseloop-live"  # the LISTEN connection, as pg_stat_activity shows it


@dataclass(frozen=True)
class Change:
    seq: int
    kind: str  # "case" | "notice" (models.changes.CaseChange)
    case_id: str | None
    user_id: str | None
    version: int | None


class Batch:
    """New changes, shared by every stream. `once` runs a lookup once per batch (what one viewer
    may see, one badge count), however many of that viewer's streams ask; the lookups asked for
    in one turn of the event loop (every stream wakes in the same turn) run in one thread hop.
    `share` runs a coroutine once per batch: a stream's whole answer (its events, encoded), for
    every stream that would get the same."""

    def __init__(self, changes: Sequence[Change]) -> None:
        self.changes = tuple(changes)
        self.last = self.changes[-1].seq
        self._memo: dict[Hashable, asyncio.Future[Any]] = {}
        self._queued: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._hops: set[asyncio.Future[Any]] = set()

    async def once(self, key: Hashable, fn: Callable[[], T]) -> T:
        result: T = await asyncio.shield(self.ask(key, fn))  # going away cancels no one else's
        return result

    def ask(self, key: Hashable, fn: Callable[[], T]) -> asyncio.Future[T]:
        """`once` without waiting: ask for several, then wait for them (one thread hop)."""
        found = self._memo.get(key)
        if found is None:
            loop = asyncio.get_running_loop()
            found = self._memo[key] = loop.create_future()
            if not self._queued:
                loop.call_soon(self._run_queued)
            self._queued.append((fn, found))
        return found

    async def share(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = asyncio.ensure_future(make())
        result: T = await asyncio.shield(found)
        return result

    def _run_queued(self) -> None:
        queued, self._queued = self._queued, []
        hop = asyncio.ensure_future(in_thread(_call_all, [fn for fn, _ in queued]))  # noqa: RUF006
        self._hops.add(hop)  # held until done (the loop keeps only a weak reference)

        def done(finished: asyncio.Future[list[tuple[bool, Any]]]) -> None:
            self._hops.discard(finished)
            if finished.cancelled():  # the loop is closing
                for _, future in queued:
                    future.cancel()
                return
            failed = finished.exception()
            outcomes = [(False, failed)] * len(queued) if failed else finished.result()
            for (_, future), (ok, value) in zip(queued, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
                    future.add_done_callback(_retrieved)

        hop.add_done_callback(done)


def _call_all(fns: Sequence[Callable[[], Any]]) -> list[tuple[bool, Any]]:
    out: list[tuple[bool, Any]] = []
    for fn in fns:
        try:
            out.append((True, fn()))
        except Exception as exc:  # handed to whoever asked for this one
            out.append((False, exc))
    return out


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Marks a failure as seen (no "exception was never retrieved" when nobody waits any more)."""
    if not future.cancelled():
        future.exception()


class Subscription:
    """One stream's batches. A stream that falls too far behind loses them and is `lagged`: it
    then reads the log from its own position. `closed`: the server is shutting down."""

    def __init__(self) -> None:
        self._batches: deque[Batch] = deque()
        self._ready = asyncio.Event()
        self.lagged = False
        self.closed = False

    def offer(self, batch: Batch) -> None:
        if len(self._batches) >= QUEUE_BATCHES:
            self._batches.clear()
            self.lagged = True
        else:
            self._batches.append(batch)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next(self, within: float) -> Batch | None:
        """The next batch; None after `within` seconds without one, when lagged or closed."""
        if not self._batches and not self.closed and not self.lagged:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):  # no task of its own, as wait_for makes
                    await self._ready.wait()
        return self._batches.popleft() if self._batches else None

    def drop_queued(self) -> None:
        self._batches.clear()
        self.lagged = False


class SharedCheck(Generic[K, V]):
    """One lookup for the keys of every open stream at once (the live streams' sessions), run by
    whichever stream needs it first; the others take its answer while it is newer than their last
    look. However many streams, one lookup (one thread hop, a few queries) per round."""

    def __init__(self, fn: Callable[[frozenset[K]], dict[K, V]]) -> None:
        self._fn = fn
        self._keys: Counter[K] = Counter()
        self._round: tuple[float, frozenset[K], asyncio.Future[dict[K, V]]] | None = None
        self.rounds = 0

    @contextlib.contextmanager
    def watching(self, key: K) -> Iterator[None]:
        """Include `key` in the rounds while the stream is open."""
        self._keys[key] += 1
        try:
            yield
        finally:
            self._keys[key] -= 1
            if not self._keys[key]:
                del self._keys[key]

    async def get(self, key: K, since: float) -> V | None:
        """`key`'s answer from a round started at `since` or later (a new round if none is)."""
        found = self._round
        if (
            found is None
            or found[0] < since
            or key not in found[1]
            or (found[2].done() and (found[2].cancelled() or found[2].exception() is not None))
        ):
            keys = frozenset(self._keys) | {key}
            future = asyncio.ensure_future(in_thread(self._fn, keys))
            future.add_done_callback(_retrieved)
            found = self._round = (time.monotonic(), keys, future)
            self.rounds += 1
        answers = await asyncio.shield(found[2])
        return answers.get(key)


def _server_exiting() -> Callable[[], bool] | None:
    """uvicorn's "shutting down" flag, found through the SIGTERM handler it installs in the main
    thread (None under another server, or uvicorn in a thread as in tests)."""
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    if server is None or not hasattr(server, "should_exit"):
        return None
    return lambda: bool(server.should_exit)


# ---------------------------------------------------------------- reading the log


def _rows(engine: Engine, after: int, limit: int) -> list[Change]:
    t = CaseChange.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.seq, t.c.kind, t.c.case_id, t.c.user_id, t.c.version)
            .where(t.c.seq > after)
            .order_by(t.c.seq)
            .limit(limit)
        ).all()
    return [Change(*row) for row in rows]


def live_since(session: Session) -> int:
    """The newest seq (0 for an empty log). A page reads it before its data and hands it to its
    stream (`data-live-since`): a change in between is replayed, never lost."""
    return int(session.scalar(select(func.max(col(CaseChange.seq)))) or 0)


def read_head(engine: Engine) -> int:
    with Session(engine) as session:
        return live_since(session)


def read_since(engine: Engine, since: int, limit: int) -> list[Change] | None:
    """The changes after `since`, or None when the log cannot tell: rows after it were pruned,
    more than `limit` came since, or `since` is ahead of the log (another database)."""
    with engine.connect() as conn:
        oldest, newest = conn.execute(
            select(func.min(col(CaseChange.seq)), func.max(col(CaseChange.seq)))
        ).one()
    if since > (newest or 0) or (oldest is not None and since < oldest - 1):
        return None
    rows = _rows(engine, since, limit + 1)
    return None if len(rows) > limit else rows


def prune(engine: Engine, before: datetime) -> int:
    """Delete rows older than `before`, except the newest."""
    t = CaseChange
    newest = select(func.max(col(t.seq))).scalar_subquery()
    with engine.begin() as conn:
        done = conn.execute(delete(t).where(col(t.at) < before, col(t.seq) < newest))
    return int(done.rowcount or 0)


# ---------------------------------------------------------------- the feed


class ChangeFeed:
    """Started in the app's lifespan; `head` is None until the log could be read once."""

    def __init__(
        self, engine: Engine, *, poll_seconds: float = 0.5, retention_hours: float = 24.0
    ) -> None:
        self.engine = engine
        self.listens = engine.dialect.name == "postgresql"
        self.poll = LISTEN_CHECK if self.listens else poll_seconds
        self.retention = timedelta(hours=retention_hours)
        self.head: int | None = None
        self._subscribers: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Every open stream's session, checked in one round for all (web/routes/pages/live.py).
        self.sessions: SharedCheck[str, Viewer] = SharedCheck(partial(viewers_by_token, engine))

    @property
    def streams(self) -> int:
        """Open live streams in this process (the /metrics gauge)."""
        return len(self._subscribers)

    async def start(self) -> None:
        # Streams answer 503 until the log was read once: try now, briefly (the database may be
        # down; then the feed keeps trying and the app starts anyway).
        with contextlib.suppress(SQLAlchemyError, TimeoutError):
            self.head = await asyncio.wait_for(in_thread(read_head, self.engine), START_WAIT)
        self._tasks.append(asyncio.create_task(self._follow(), name="live-feed"))
        if self.listens:
            self._tasks.append(asyncio.create_task(self._listen(), name="live-listen"))
        if (exiting := _server_exiting()) is not None:
            self._tasks.append(asyncio.create_task(self._end_streams(exiting), name="live-exit"))

    async def stop(self) -> None:
        self._close_streams()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        """Batches from now on (subscribe before reading the log: nothing falls in between)."""
        sub = Subscription()
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)

    def _close_streams(self) -> None:
        for sub in list(self._subscribers):
            sub.close()

    async def _end_streams(self, exiting: Callable[[], bool]) -> None:
        """End the streams once the server shuts down: it waits for open responses before the
        lifespan ends, so streams left open would hold the shutdown for minutes. The browsers
        reconnect (to the next server) with Last-Event-ID and miss nothing."""
        while not exiting():  # noqa: ASYNC110 (a flag of uvicorn's: nothing to await)
            await asyncio.sleep(EXIT_CHECK)
        self._close_streams()

    async def _follow(self) -> None:
        failures = 0
        pruned_at = -PRUNE_EVERY
        while True:
            self._wake.clear()
            try:
                await self._catch_up()
                if time.monotonic() - pruned_at >= PRUNE_EVERY:
                    gone = await in_thread(prune, self.engine, utcnow() - self.retention)
                    pruned_at = time.monotonic()
                    log.info("live updates: pruned %d change log rows", gone)
                failures = 0
            except SQLAlchemyError as exc:  # an outage: streams hear nothing until it is over
                failures += 1
                log.warning("live updates: reading the change log failed (%s)", type(exc).__name__)
            wait = self.poll if not failures else min(MAX_BACKOFF, self.poll * 2**failures)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _catch_up(self) -> None:
        if self.head is None:
            self.head = await in_thread(read_head, self.engine)
        while True:
            rows = await in_thread(_rows, self.engine, self.head, READ_LIMIT)
            if not rows:
                return
            self.head = rows[-1].seq
            batch = Batch(rows)
            for sub in list(self._subscribers):
                sub.offer(batch)
            if len(rows) < READ_LIMIT:
                return

    async def _listen(self) -> None:
        """LISTEN on a connection of its own; reconnects with backoff after any failure."""
        import psycopg

        conninfo = self.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        delay = 1.0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True, application_name=LISTENER_NAME
                )
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._wake.set()  # whatever came while nobody listened
                    delay = 1.0
                    while True:
                        async for _ in conn.notifies(timeout=LISTEN_CHECK):
                            self._wake.set()
                        await conn.execute("SELECT 1")
            except (psycopg.Error, OSError) as exc:
                log.warning(
                    "live updates: listening failed (%s); again in %.0f s",
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF, delay * 2)
