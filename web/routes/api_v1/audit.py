"""The audit log for admin clients: read it (filtered, paged) and restore a program version."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from core.threads import in_thread
from domain.vocabulary import AuditObject
from models.audit import AuditEntry
from services.audit import (
    AuditFilter,
    EntryNotFound,
    RestoreError,
    api_actor,
    list_entries,
    restore_program,
)
from web.api_auth import Admin
from web.deps import EngineDep
from web.problems import Problem
from web.routes.api_v1.cases import PROBLEMS

router = APIRouter(prefix="/audit", tags=["audit log"], responses=PROBLEMS)


class AuditEntryPublic(BaseModel):
    id: int
    at: datetime
    actor_kind: str
    actor_id: str
    actor_name: str
    via: str
    object_kind: str
    object_id: str
    action: str
    diff: list[dict[str, Any]]
    restored_from: int | None


class AuditPage(BaseModel):
    entries: list[AuditEntryPublic]
    total: int
    page: int
    pages: int


def _public(e: AuditEntry) -> AuditEntryPublic:
    return AuditEntryPublic.model_validate(e, from_attributes=True)


Id = Annotated[str | None, Query(min_length=1, max_length=64)]
# A day as YYYY-MM-DD only (a bare number is no date here).
Day = Annotated[
    str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", json_schema_extra={"format": "date"})
]


def _day(value: str | None, name: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError as exc:
        raise Problem(422, "Invalid request", f"{name}: not a date", field=name) from exc


@router.get("", response_model=AuditPage)
async def read_audit_log(
    _: Admin,
    engine: EngineDep,
    kind: AuditObject | None = None,
    object_id: Id = None,
    actor: Id = None,
    since: Day = None,
    until: Day = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> AuditPage:
    """Configuration and permission changes, newest first: who, when, through what, the diff
    (secrets masked). `since` and `until` are days (UTC), both included."""
    f = AuditFilter(
        kind=kind,
        object_id=object_id,
        actor=actor,
        since=_day(since, "since"),
        until=_day(until, "until"),
    )
    data = await in_thread(list_entries, engine, f, page)
    rows = [_public(e) for e in data["rows"]]
    return AuditPage(entries=rows, total=data["total"], page=page, pages=data["pages"])


@router.post("/{entry_id}/restore", response_model=AuditEntryPublic | None)
async def restore(
    entry_id: Annotated[int, Path(ge=1, le=2**31 - 1)], me: Admin, engine: EngineDep
) -> AuditEntryPublic | None:
    """Put a program back as it was after this entry (validated like any write, and itself
    audited); `null` when the program is that version already."""
    try:
        entry = await in_thread(restore_program, engine, entry_id, api_actor(me))
    except EntryNotFound as exc:
        raise Problem(404, "Audit entry not found", str(exc), field="entry_id") from exc
    except RestoreError as exc:
        raise Problem(422, "Cannot restore", str(exc), field="entry_id") from exc
    return _public(entry) if entry is not None else None
