"""Text both databases can store: refused at the edge, so no database (and no activity retrying
against one) ever sees it."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

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
