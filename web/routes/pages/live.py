"""GET /events: the one live stream of a browser (its tabs share it), multiplexed.

Each event is filtered on the server by what the signed-in viewer may see (services.access):
- `badge`: the header's badge (HTML, as a JSON string), at once and whenever the viewer's unseen
  count moves;
- `inbox` (with `inbox=1`): a case the viewer may see changed, or the viewer got a notice (a case
  reassigned away tells its late owner so): inbox pages re-fetch their list;
- `case` (for each `case=` id): that case changed; data {"case", "version", "html"};
- `reload`: the log cannot say what was missed (beyond its retention): load the page afresh;
- `position`: nothing for this viewer lately, but the log moved on (keeps replays short).

The event that ends a batch carries `id: <seq>`. A reconnect replays from the change log what it
missed: the browser's own reconnect sends `Last-Event-ID`; a page that closed its stream while
hidden passes `last_id` (a new EventSource cannot send the header). A page passes the seq it was
rendered at (`data-live-since`), so a change between its render and its stream is not lost.

A stream ends when its session does, or its viewer's rights change (checked every
SESSION_CHECK_SECONDS in one round for all the process's streams, `ChangeFeed.sessions`); a quiet
stream gets a `: ping` comment every POSITION_SECONDS. Per batch, what a viewer gets is worked
out and encoded once for all the streams of that viewer and topics (`Batch.share`), and the
lookups of all of them run in one thread hop (`Batch.ask`). Who may see which case: the batch's
cases are read once, and the case page's access rule (`relation_to`) applied per viewer in
Python. A stream's own work per batch is a dict look-up and one write (bench/live_feed.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.sse import EventSourceResponse
from markupsafe import escape
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.exceptions import HTTPException

from core.threads import in_thread
from domain.permissions import Viewer, relation_to
from models.case import Case, CaseEvent, CaseWatcher
from services.notices import unseen_count
from web.auth import SESSION_TOKEN, CurrentUser
from web.deps import EngineDep
from web.live import Batch, ChangeFeed, read_since
from web.routes.pages.notices import badge_html

router = APIRouter()

MAX_CASES = 50  # case ids one stream follows (all of a browser's open case tabs)
REPLAY_LIMIT = 5000  # changes a reconnect may replay; further behind, the page reloads
POSITION_SECONDS = 15.0  # at most this long without telling the browser where the log is
STREAM_SECONDS = 300.0  # then the browser reconnects (and is authorised) afresh
SESSION_CHECK_SECONDS = 15.0  # a stream ends this soon after its session does
RETRY_MS = 2000
HELLO = f": live\nretry: {RETRY_MS}\n\n".encode()
PING = b": ping\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # nginx: do not buffer

CaseId = Annotated[str, Query(max_length=20)]


@dataclass(frozen=True)
class Topics:
    cases: frozenset[str]
    inbox: bool


async def get_feed(request: Request) -> ChangeFeed:
    feed: ChangeFeed | None = getattr(request.app.state, "live", None)
    if feed is None or feed.head is None:  # not started, or the database is not reachable yet
        raise HTTPException(503, "Live updates are not available yet", {"Retry-After": "5"})
    return feed


FeedDep = Annotated[ChangeFeed, Depends(get_feed)]


# Not response_class=EventSourceResponse: FastAPI would then encode every event of every stream.
@router.get("/events")
async def events(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    feed: FeedDep,
    case: Annotated[list[CaseId], Query(max_length=MAX_CASES)] = [],  # noqa: B006 (FastAPI copies)
    inbox: bool = False,
    last_id: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> EventSourceResponse:
    header = last_event_id.strip() if last_event_id else ""
    start = int(header) if header.isascii() and header.isdigit() else last_id
    token = str(request.session.get(SESSION_TOKEN, ""))  # current_viewer found it
    stream = _stream(engine, feed, viewer, token, Topics(frozenset(case), inbox), start)
    # Bytes, encoded once per batch for all the streams that get the same: FastAPI's own SSE
    # path (a model, a keep-alive task and a timer per event and stream) cost 15x the floor.
    return EventSourceResponse(stream, headers=HEADERS)


async def _stream(
    engine: Engine,
    feed: ChangeFeed,
    viewer: Viewer,
    token: str,
    topics: Topics,
    start: int | None,
) -> AsyncIterator[bytes]:
    now = time.monotonic()
    deadline = now + STREAM_SECONDS
    checked_at = written_at = now
    with feed.subscribe() as sub, feed.sessions.watching(token):
        yield HELLO
        count = await in_thread(_unseen, engine, viewer.user_id)
        yield _badge(count)
        position = (feed.head or 0) if start is None else start
        sent_at, sent = time.monotonic(), position
        replay = start is not None
        while time.monotonic() < deadline and not sub.closed:
            out = b""
            if replay or sub.lagged:
                sub.drop_queued()
                replay = False
                rows = await in_thread(read_since, engine, position, REPLAY_LIMIT)
                if rows is None:
                    position = max(position, feed.head or 0)
                    yield _event("reload", "reload", position)
                    sent_at = written_at = time.monotonic()
                    sent = position
                    continue
                batch: Batch | None = Batch(rows) if rows else None
            else:
                wait = min(POSITION_SECONDS, SESSION_CHECK_SECONDS, deadline - time.monotonic())
                batch = await sub.next(wait)
            if batch is not None and batch.last > position:
                out = await relevant(engine, viewer, topics, batch, position)
                position = batch.last
                if out:
                    sent_at, sent = time.monotonic(), position
            now = time.monotonic()
            if position > sent and now - sent_at >= POSITION_SECONDS:
                out += _position(position)
                sent_at, sent = now, position
            if not out and now - written_at >= POSITION_SECONDS:
                out = PING  # for proxies that close a quiet connection
            if out:
                yield out
                written_at = now
            if now - checked_at >= SESSION_CHECK_SECONDS:
                # One round for every stream of the process (feed.sessions), not one per stream.
                if await feed.sessions.get(token, since=checked_at) != viewer:
                    break  # signed out, deactivated, or other rights: reconnect (or not) afresh
                checked_at = now
        if position > sent:
            yield _position(position)


def _event(event: str, data: str, seq: int | None = None) -> bytes:
    lines = [f"event: {event}", *(f"data: {line}" for line in data.splitlines() or [""])]
    if seq is not None:
        lines.append(f"id: {seq}")
    return ("\n".join(lines) + "\n\n").encode()


def _badge(count: int) -> bytes:
    # JSON: an empty badge as raw data would be an empty event, which browsers drop.
    return _event("badge", json.dumps(str(badge_html(count))))


def _position(seq: int) -> bytes:
    return _event("position", str(seq), seq)


async def relevant(
    engine: Engine, viewer: Viewer, topics: Topics, batch: Batch, after: int
) -> bytes:
    """What the viewer gets of `batch` (its changes after `after`), encoded; the last event
    carries the batch's id, so a stream cut mid-batch replays the whole batch. Worked out once
    per batch for all the streams of the same viewer and topics."""
    key = ("events", viewer, topics, after)
    return await batch.share(key, partial(_relevant, engine, viewer, topics, batch, after))


async def _relevant(
    engine: Engine, viewer: Viewer, topics: Topics, batch: Batch, after: int
) -> bytes:
    new = [c for c in batch.changes if c.seq > after]
    mine = any(c.kind == "notice" and c.user_id == viewer.user_id for c in new)
    latest = {c.case_id: c for c in new if c.kind == "case" and c.case_id}
    followed = sorted(topics.cases & latest.keys())
    # Everything this may need, asked for at once (one thread hop for all the batch's streams);
    # a followed case's notice is only sent if the viewer may see the case.
    cases = count = None
    if latest and (topics.inbox or followed):
        ids = sorted({c.case_id for c in batch.changes if c.kind == "case" and c.case_id})
        cases = batch.ask("cases", partial(_cases, engine, ids))  # the same for every viewer
    if mine:
        count = batch.ask(("badge", viewer.user_id), partial(_unseen, engine, viewer.user_id))
    notices = {cid: batch.ask(("notice", cid), partial(_notice, engine, cid)) for cid in followed}
    seen = _visible(viewer, await asyncio.shield(cases)) if cases is not None else set()
    out: list[tuple[str, str]] = []
    if count is not None:
        out.append(("badge", json.dumps(str(badge_html(await asyncio.shield(count))))))
    if topics.inbox and (mine or seen & latest.keys()):
        out.append(("inbox", "changed"))
    for case_id in followed:
        if case_id in seen:
            data = {
                "case": case_id,
                "version": latest[case_id].version,
                "html": await asyncio.shield(notices[case_id]),
            }
            out.append(("case", json.dumps(data)))
    last = len(out) - 1
    return b"".join(
        _event(event, data, batch.last if i == last else None)
        for i, (event, data) in enumerate(out)
    )


@dataclass(frozen=True)
class CaseFacts:
    """What the access rule needs of a case: its owner, unit, and watchers (user -> access)."""

    owner_id: str
    unit_id: str
    watchers: dict[str, str]


def _cases(engine: Engine, ids: Sequence[str]) -> dict[str, CaseFacts]:
    """The batch's cases, in two queries, once per batch for all viewers."""
    with Session(engine) as session:
        rows = session.exec(
            select(Case.id, Case.owner_id, Case.unit_id).where(col(Case.id).in_(ids))
        ).all()
        watched = session.exec(
            select(CaseWatcher.case_id, CaseWatcher.user_id, CaseWatcher.access).where(
                col(CaseWatcher.case_id).in_(ids)
            )
        ).all()
    facts = {case_id: CaseFacts(owner_id, unit_id, {}) for case_id, owner_id, unit_id in rows}
    for case_id, user_id, access in watched:
        if case_id in facts:
            facts[case_id].watchers[user_id] = access
    return facts


def _visible(viewer: Viewer, cases: dict[str, CaseFacts]) -> set[str]:
    """The cases the viewer may see: the case page's own rule (services.access.access_to)."""
    return {
        case_id
        for case_id, f in cases.items()
        if relation_to(viewer, f.owner_id, f.unit_id, f.watchers.get(viewer.user_id)) is not None
    }


def _unseen(engine: Engine, user_id: str) -> int:
    with Session(engine) as session:
        return unseen_count(session, user_id)


def _notice(engine: Engine, case_id: str) -> str:
    """The case page's note that the case changed, with its newest timeline entry."""
    with Session(engine) as session:
        summary = session.exec(
            select(CaseEvent.summary)
            .where(col(CaseEvent.case_id) == case_id)
            .order_by(col(CaseEvent.seq).desc())
            .limit(1)
        ).first()
    told = f": {escape(summary)}" if summary else ""
    return (
        f'<p class="notice" role="status">This case has just changed{told}. '
        f'<a href="/cases/{escape(case_id)}">Show the latest state</a></p>'
    )
