"""Accept-style headers (Accept, Accept-Language): their items with quality values."""

from __future__ import annotations


def weighted(header: str | None, limit: int = 32) -> list[tuple[str, float]]:
    """(item, q) in header order; a q that is not a number counts as 0 (not acceptable)."""
    items: list[tuple[str, float]] = []
    for part in (header or "").split(",")[:limit]:
        item, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        items.append((item.strip(), q))
    return items
