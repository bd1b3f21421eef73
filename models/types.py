"""Column types shared by every table, and the text both databases can store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError
from sqlalchemy import JSON, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite drops the zone; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


JSONType: Any = JSON


# ---------------------------------------------------------------- storable text

UNSTORABLE = "cannot be stored"  # in every message below: pages and tests look for it


def unstorable(value: str) -> str | None:
    """Why PostgreSQL or SQLite cannot store `value` as text; None when they can.

    PostgreSQL refuses NUL (U+0000) in text; neither database can encode a lone surrogate
    (U+D800-U+DFFF, not valid Unicode) as UTF-8. A JSON string escape can carry both.
    """
    if "\x00" in value:
        return f"contains a NUL character (U+0000), which {UNSTORABLE}"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"contains a lone surrogate (not valid Unicode), which {UNSTORABLE}"
    return None


def storable(value: str) -> str:
    """Pydantic validator: the value, or an error naming why it cannot be stored."""
    problem = unstorable(value)
    if problem is not None:
        raise PydanticCustomError("unstorable_text", "Text " + problem)
    return value


# Every text field of every request model: refused at the edge, so no database (and no
# activity retrying against one) ever sees it.
StorableStr = Annotated[str, AfterValidator(storable)]
