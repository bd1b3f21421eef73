"""The change log behind live pages: one row per change of the read model, in commit order.

Whoever changes what a page shows (the projection, a notice for someone's badge) appends a row
in the same transaction, with `record_case_change` or `record_notices`. `seq` is global and only
grows, so an event stream can say "you have seen up to N" and a reconnect can replay the rest.

Commit order: on PostgreSQL two transactions could take seq 10 and 11 and commit 11 first; a
reader that saw 11 would then skip 10 for good. So appending takes a transaction-level advisory
lock (held to commit): seq order is commit order. Append last in the transaction, so the lock is
held only for the commit. NOTIFY (delivered at commit) wakes the API processes' listeners. SQLite
serialises writers anyway; AUTOINCREMENT keeps seq from being reused after pruning.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, insert, text
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow

CHANNEL = "case_change"  # the NOTIFY channel
# pg_advisory_xact_lock key of the change log ("cl" for Caseloop, then "chg").
LOCK_KEY = 0x636C_0063_6867


class CaseChange(SQLModel, table=True):
    """`kind` "case": the case's row or timeline changed (to `version`); "notice": `user_id`
    got a notice about the case, or marked notices seen (the badge's count moved)."""

    __tablename__ = "case_change"
    __table_args__ = (Index("ix_case_change_at", "at"), {"sqlite_autoincrement": True})

    seq: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    kind: str = Field(max_length=10)
    case_id: str | None = Field(default=None, max_length=20)  # None: notices marked seen
    user_id: str | None = Field(default=None, max_length=64)
    version: int | None = None
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def _append(conn: Connection, rows: list[dict[str, object]]) -> None:
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    now = utcnow()
    conn.execute(insert(CaseChange.__table__), [{**row, "at": now} for row in rows])  # type: ignore[attr-defined]
    if postgres:
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def record_case_change(conn: Connection, case_id: str, version: int) -> None:
    """The case's page and the inboxes showing it are out of date (call last, before commit)."""
    _append(conn, [{"kind": "case", "case_id": case_id, "version": version}])


def record_notices(conn: Connection, case_id: str | None, user_ids: Iterable[str]) -> None:
    """These users' badges are out of date (call last, before commit)."""
    rows: list[dict[str, object]] = [
        {"kind": "notice", "case_id": case_id, "user_id": uid} for uid in dict.fromkeys(user_ids)
    ]
    if rows:
        _append(conn, rows)
