"""`python -m cli inbound-imap`: poll a mailbox that cannot forward to the inbound SMTP server.

Each cycle connects to IMAP_URL, fetches the folder's unseen messages without marking them
(BODY.PEEK), hands each to services/inbound.py as the SMTP server does (the recipient taken
from its headers), and only then moves it to IMAP_MOVE_TO (or flags it \\Seen). A crash between
the two leaves the message unseen: the next cycle hands it over again and services/inbound.py
stores it once per Message-ID. Errors reconnect with a growing pause. The log gets counts and
hashes of Message-IDs only, never an address, a subject or a body.
"""

from __future__ import annotations

import asyncio
import email
import hashlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email import policy
from urllib.parse import unquote, urlsplit

from imapclient import SEEN, IMAPClient
from sqlalchemy import Engine
from temporalio.client import Client

from core.settings import Settings
from core.threads import in_thread
from services.inbound import polled_recipients, receive

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class Mailbox:
    """IMAP_URL taken apart."""

    host: str
    port: int
    tls: bool
    user: str
    password: str
    folder: str


def parse_imap_url(url: str) -> Mailbox:
    """imaps://user:password@host[:993][/folder] (imap:// in the clear, port 143)."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ValueError("IMAP_URL must look like imaps://user:password@host:993/INBOX")
    tls = parts.scheme == "imaps"
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return Mailbox(
        host=parts.hostname,
        port=parts.port or (993 if tls else 143),
        tls=tls,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        folder=folder,
    )


def backoff(failures: int, poll_seconds: float) -> float:
    """The pause before the next cycle: the poll interval, or after failures 5 s doubling up
    to five minutes (never shorter than the interval itself)."""
    if failures <= 0:
        return poll_seconds
    return max(poll_seconds, min(5.0 * 2 ** (failures - 1), MAX_BACKOFF_SECONDS))


def message_id_hash(raw: bytes) -> str:
    """What the log may say about a message: a short hash of its Message-ID."""
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    ident = str(msg.get("Message-ID") or "").strip() or hashlib.sha256(raw).hexdigest()
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


@dataclass
class Polled:
    """One cycle's counts by outcome (threaded, opened, unmatched, duplicate)."""

    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


def open_mailbox(settings: Settings) -> IMAPClient:
    box = parse_imap_url(settings.imap_url.get_secret_value())
    imap = IMAPClient(box.host, port=box.port, ssl=box.tls, timeout=60)
    try:
        imap.login(box.user, box.password)
        imap.select_folder(box.folder)
        if settings.imap_move_to and not imap.folder_exists(settings.imap_move_to):
            imap.create_folder(settings.imap_move_to)
    except Exception:
        imap.shutdown()
        raise
    return imap


def _fetch(imap: IMAPClient, uid: int) -> bytes | None:
    found = imap.fetch([uid], ["BODY.PEEK[]"]).get(uid, {})
    raw = found.get(b"BODY[]")
    return raw if isinstance(raw, bytes) else None


def _done(imap: IMAPClient, settings: Settings, uid: int) -> None:
    """Out of the unseen set for good: moved to the processed folder, or flagged \\Seen."""
    if not settings.imap_move_to:
        imap.add_flags([uid], [SEEN])
    elif imap.has_capability("MOVE"):
        imap.move([uid], settings.imap_move_to)
    else:
        imap.copy([uid], settings.imap_move_to)
        imap.delete_messages([uid])
        imap.uid_expunge([uid]) if imap.has_capability("UIDPLUS") else imap.expunge()


def _close(imap: IMAPClient) -> None:
    try:
        imap.logout()
    except Exception:  # the connection is gone already
        imap.shutdown()


async def poll_once(settings: Settings, engine: Engine, client: Client) -> Polled:
    """One cycle over the mailbox; raises (leaving the rest unseen) when a message cannot be
    handed over, e.g. Temporal is down."""
    polled = Polled()
    imap = await asyncio.to_thread(open_mailbox, settings)
    try:
        uids = await asyncio.to_thread(imap.search, ["UNSEEN"])
        for uid in sorted(uids):
            raw = await asyncio.to_thread(_fetch, imap, uid)
            if raw is None:  # expunged meanwhile by another client
                continue
            if len(raw) <= settings.inbound_max_bytes:
                rcpts = await in_thread(polled_recipients, engine, settings, raw)
                result = await receive(engine, client, settings, raw, rcpts)
                outcome = result.outcome
                log.info("polled message %s: %s", message_id_hash(raw), outcome)
            else:  # moved unhandled: the mailbox's owner finds it in the processed folder
                outcome = "too large"
                log.warning("polled message %s above INBOUND_MAX_BYTES", message_id_hash(raw))
            polled.outcomes[outcome] += 1
            await asyncio.to_thread(_done, imap, settings, uid)
    finally:
        await asyncio.to_thread(_close, imap)
    return polled


async def poll_forever(
    settings: Settings,
    engine: Engine,
    client: Client,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Cycle after cycle; a failed one (the server, the network, Temporal) is logged by its
    exception's type only and retried after the backoff."""
    failures = 0
    while True:
        try:
            polled = await poll_once(settings, engine, client)
        except Exception as exc:
            failures += 1
            log.warning(
                "IMAP poll failed (%s), retrying in %.0f s",
                type(exc).__name__,
                backoff(failures, settings.imap_poll_seconds),
            )
        else:
            failures = 0
            if polled.total:
                log.info("IMAP poll: %s", dict(polled.outcomes))
        await sleep(backoff(failures, settings.imap_poll_seconds))


async def serve(settings: Settings) -> None:
    from core.temporal import connect
    from models.db import make_engine

    client = await connect(settings)
    engine = make_engine(settings.database_url)
    log.info("polling IMAP folder every %.0f s", settings.imap_poll_seconds)
    await poll_forever(settings, engine, client)
