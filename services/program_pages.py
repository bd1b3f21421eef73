"""What the admin pages for programs and units do: a section of a program or a unit saved on
the version its form was rendered from (`services.config_writes`, audited as the signed-in
admin), and the deadlines an unsaved SLA and calendar would give a case opened now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine

from domain.audit import Actor
from domain.deadlines import DeadlineRequest, compute_deadlines
from domain.program import CalendarIn, ProgramIn, SlaIn, UnitIn, error_location
from domain.vocabulary import ApplyTo, Priority
from services.config_writes import Invalid, read_config, read_item, write_item
from services.configuration import policy_of
from services.deadline_follow import ProgramChange


def field_errors(exc: Invalid) -> list[tuple[str, str]]:
    """(dotted field path within the item, message) for each error, as `error_location` finds it."""
    found = []
    for e in exc.error.errors():
        loc, msg = error_location(e)
        found.append((".".join(str(p) for p in loc[exc.strip :]), msg))
    return found


def programs(engine: Engine) -> list[ProgramIn]:
    return list(read_config(engine).programs)


def units(engine: Engine) -> list[UnitIn]:
    return list(read_config(engine).units)


def _validated(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid(exc) from exc


def save_program(
    engine: Engine, program_id: str, changes: dict[str, Any], actor: Actor, tag: str
) -> str:
    """Replace the top-level fields in `changes` of the program, if it is still the version
    `tag` names (else `Stale`); `Invalid` when the result does not validate. The new ETag."""

    def changed(found: dict[str, Any] | None) -> BaseModel:
        return _validated(ProgramIn, {**(found or {}), **changes})

    return write_item(engine, "programs", changed, program_id, actor, if_match=tag)[1]


def save_sla_and_calendar(
    engine: Engine,
    program_id: str,
    sla: dict[str, Any],
    calendar: dict[str, Any],
    actor: Actor,
    tag: str,
    apply_to: ApplyTo = ApplyTo.NEW,
) -> tuple[str, list[ProgramChange]]:
    """The SLA and the business calendar: one save, whose audit entry records whom it applies
    to ("new cases only" or "also open cases"). The new ETag, and the change for the caller to
    tell the open cases of (`services.deadline_follow.reschedule_open_cases`)."""
    changes = {"sla": sla, "calendar": calendar}

    def changed(found: dict[str, Any] | None) -> BaseModel:
        return _validated(ProgramIn, {**(found or {}), **changes})

    followed: list[ProgramChange] = []
    _, new_tag = write_item(
        engine,
        "programs",
        changed,
        program_id,
        actor,
        if_match=tag,
        apply_to=apply_to,
        changed=followed,
    )
    return new_tag, followed


def create_program(engine: Engine, data: dict[str, Any], actor: Actor) -> str:
    """A new program (`Exists` if the id is taken)."""
    program = _validated(ProgramIn, data)
    program_id = str(data.get("id"))
    return write_item(engine, "programs", program, program_id, actor, if_none_match="*")[1]


def save_unit(engine: Engine, data: dict[str, Any], actor: Actor, tag: str | None) -> str:
    """A unit created (no `tag`: create only) or changed on the version `tag` names."""
    unit = _validated(UnitIn, data)
    unit_id = str(data.get("id"))
    if tag is None:
        return write_item(engine, "units", unit, unit_id, actor, if_none_match="*")[1]
    return write_item(engine, "units", unit, unit_id, actor, if_match=tag)[1]


def program(engine: Engine, program_id: str) -> tuple[dict[str, Any], str] | None:
    return read_item(engine, "programs", program_id)


@dataclass(frozen=True)
class Promise:
    """What a case opened at `start` with `priority` would be due for."""

    priority: Priority
    open_due_at: datetime | None
    resolve_due_at: datetime | None
    timezone: str


def preview(
    stored: dict[str, Any],
    sla: dict[str, Any],
    calendar: dict[str, Any],
    place: UnitIn,
    now: datetime | None = None,
) -> list[Promise]:
    """The deadlines of a case opened `now` at `place` under the unsaved `sla` and `calendar`
    (`Invalid` when they do not validate), per priority, by the domain's deadline rules."""
    sla_in = _validated(SlaIn, sla)
    calendar_in = _validated(CalendarIn, calendar)
    candidate = ProgramIn.model_validate(stored).model_copy(
        update={"sla": sla_in, "calendar": calendar_in}
    )
    policy = policy_of(candidate, place)
    start = now or datetime.now(UTC)
    out = []
    for priority in Priority:
        d = compute_deadlines(DeadlineRequest(start, policy, priority))
        out.append(Promise(priority, d.open_due_at, d.resolve_due_at, policy.calendar.timezone))
    return out
