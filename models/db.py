"""Engine creation: one place knows the SQLite and PostgreSQL specifics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

import models  # noqa: F401  (registers tables)

CONNECT_TIMEOUT_SECONDS = 5


def make_engine(url: str, **kwargs: Any) -> Engine:
    # A failed statement's error (logged, traced) never shows its values: they hold customer data.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the API read while the worker's projections write.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    if "connect_timeout=" not in url:
        # An unreachable server fails a connect in seconds (libpq waits for TCP otherwise):
        # requests answer 503, the worker's retries go on. `?connect_timeout=N` in the URL wins.
        kwargs.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    return create_engine(url, pool_pre_ping=True, **kwargs)


def session_scope(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session
