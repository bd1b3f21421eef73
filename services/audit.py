"""The audit log: recording a change in the writer's transaction, reading it back for the
admin page, and restoring a program's earlier version (itself a recorded change)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from domain.audit import Actor, diff, masked, operator
from domain.permissions import Viewer
from domain.program import ConfigDoc, ProgramIn, error_location
from domain.vocabulary import AuditAction, AuditActor, AuditObject, AuditVia
from models.audit import AuditEntry
from models.config import ApiClient

PAGE_SIZE = 25


def cli_actor() -> Actor:
    """The operator running a command (the OS account)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "operator"
    return operator(name)


def api_actor(client: ApiClient) -> Actor:
    """An API client, by its id (names repeat across rotations)."""
    return Actor(AuditActor.CLIENT, str(client.id), client.name, AuditVia.API)


def user_actor(viewer: Viewer) -> Actor:
    """A signed-in user on the pages."""
    return Actor(AuditActor.USER, viewer.user_id, viewer.name, AuditVia.PAGE)


def record(
    session: Session,
    actor: Actor,
    kind: AuditObject,
    object_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    action: AuditAction | None = None,
    restored_from: int | None = None,
) -> AuditEntry | None:
    """Add an entry for a change from `before` to `after` (None when nothing changed)."""
    changes = diff(before, after)
    if not changes:
        return None
    entry = AuditEntry(
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        via=actor.via,
        object_kind=kind,
        object_id=object_id,
        action=action
        or (
            AuditAction.RESTORE
            if restored_from
            else AuditAction.CREATE
            if before is None
            else AuditAction.UPDATE
        ),
        diff=changes,
        snapshot=masked(after),
        restored_from=restored_from,
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    kind: str | None = None
    object_id: str | None = None
    actor: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive


def _where(query: Any, f: AuditFilter) -> Any:
    if f.kind:
        query = query.where(col(AuditEntry.object_kind) == f.kind)
    if f.object_id:
        query = query.where(col(AuditEntry.object_id) == f.object_id)
    if f.actor:
        query = query.where(col(AuditEntry.actor_id) == f.actor)
    if f.since:
        query = query.where(col(AuditEntry.at) >= datetime.combine(f.since, time(), UTC))
    if f.until:
        end = datetime.combine(f.until + timedelta(days=1), time(), UTC)
        query = query.where(col(AuditEntry.at) < end)
    return query


def list_entries(engine: Engine, f: AuditFilter, page: int = 1) -> dict[str, Any]:
    """One page of entries (newest first) with the total, and the actors and objects seen."""
    with Session(engine) as session:
        total = session.exec(_where(select(func.count()).select_from(AuditEntry), f)).one()
        rows = session.exec(
            _where(select(AuditEntry), f)
            .order_by(col(AuditEntry.id).desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        actors = session.exec(
            select(AuditEntry.actor_id, func.max(AuditEntry.actor_name))
            .group_by(col(AuditEntry.actor_id))
            .order_by(col(AuditEntry.actor_id))
        ).all()
        objects = session.exec(
            select(AuditEntry.object_kind, AuditEntry.object_id)
            .distinct()
            .order_by(col(AuditEntry.object_kind), col(AuditEntry.object_id))
        ).all()
    return {
        "rows": list(rows),
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "actors": [(a, n) for a, n in actors],
        "objects": [(k, o) for k, o in objects],
    }


class RestoreError(ValueError):
    """An entry that cannot be restored; the message says why (shown inline)."""


class EntryNotFound(RestoreError):
    """No entry with that number."""


def restore_program(engine: Engine, entry_id: int, actor: Actor) -> AuditEntry | None:
    """Put the program back as it was after entry `entry_id`: validated like any write,
    recorded as "restored from entry N". None when the program is already that version."""
    from services.configuration import apply_in, export_config

    with Session(engine) as session:
        entry = session.get(AuditEntry, entry_id)
        if entry is None:
            raise EntryNotFound(f"No audit entry {entry_id}.")
        if entry.object_kind != AuditObject.PROGRAM or not entry.snapshot:
            raise RestoreError("This entry holds no program version to restore.")
        current = export_config(session).model_dump(mode="json")
    try:
        program = ProgramIn.model_validate(entry.snapshot)
        others = [p for p in current["programs"] if p["id"] != program.id]
        current["programs"] = [*others, program.model_dump(mode="json")]
        ConfigDoc.model_validate(current)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc, msg = error_location(err)
        where = ".".join(str(p) for p in loc if p not in ("programs",) and not isinstance(p, int))
        raise RestoreError(
            f"This version no longer validates ({where or 'program'}: {msg})."
        ) from exc
    only = ConfigDoc.model_construct(users=[], units=[], programs=[program])
    with Session(engine) as session:
        entries = apply_in(session, only, actor, restored_from=entry_id)
        session.commit()
        for e in entries:
            session.refresh(e)
            session.expunge(e)
    return entries[0] if entries else None
