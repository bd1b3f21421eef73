"""The audit log's rules: who changed configuration, and the diff of what changed (no I/O).

A diff names each changed top-level field with its value before and after. Secrets (passwords,
their hashes, tokens) are never written down: a changed secret shows as `SECRET`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.vocabulary import AuditActor, AuditVia

SECRET = "[secret]"
SECRET_FIELDS = frozenset({"password", "password_hash", "token", "token_hash", "secret"})


@dataclass(frozen=True)
class Actor:
    """Who makes a change (`kind` + `id`, a display `name`) and through what (`via`)."""

    kind: AuditActor
    id: str
    name: str
    via: AuditVia


def operator(name: str) -> Actor:
    """An operator at the command line (the OS account's name)."""
    return Actor(AuditActor.OPERATOR, name[:64], name[:200], AuditVia.CLI)


def masked(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """`state` with every secret field replaced by `SECRET` (what a snapshot may keep)."""
    if state is None:
        return None
    return {k: (SECRET if k in SECRET_FIELDS and v else v) for k, v in state.items()}


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The changed fields, in order: `{"field", "before", "after"}`; secrets masked.

    `before` None: the object is new (every field of `after` not empty is listed).
    """
    old, new = before or {}, after or {}
    changes = []
    for field in dict.fromkeys([*old, *new]):
        a, b = old.get(field), new.get(field)
        if a == b or (before is None and b in (None, "", [], {})):
            continue
        if field in SECRET_FIELDS:
            a, b = (SECRET if a else None), SECRET
        changes.append({"field": field, "before": a, "after": b})
    return changes


def readable(changes: list[dict[str, Any]]) -> list[tuple[str, Any, Any]]:
    """A diff as lines to read: `(field, before, after)`, a changed mapping (an SLA, a calendar)
    opened one level so that only its changed keys show (`sla.resolve_within`)."""
    lines: list[tuple[str, Any, Any]] = []
    for c in changes:
        a, b = c["before"], c["after"]
        if isinstance(a, dict) and isinstance(b, dict):
            for key in dict.fromkeys([*a, *b]):
                if a.get(key) != b.get(key):
                    lines.append((f"{c['field']}.{key}", a.get(key), b.get(key)))
        else:
            lines.append((c["field"], a, b))
    return lines
