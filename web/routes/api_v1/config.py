"""Configuration as data: programs, units and users, read and written by admin clients.

Every write goes through the same `ConfigDoc` validation as the YAML loader, on the whole
configuration as it would be after the write (so references to users and question ids are
checked against what is stored), and is applied in one transaction.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from core.threads import in_thread
from services.configuration import (
    ConfigDoc,
    ProgramIn,
    UnitIn,
    UserIn,
    apply_config,
    error_location,
    export_config,
)
from web.api_auth import require_scope
from web.deps import EngineDep
from web.problems import Problem
from web.routes.api_v1.cases import PROBLEMS

router = APIRouter(
    prefix="/config",
    tags=["configuration"],
    responses=PROBLEMS,
    dependencies=[require_scope("admin")],
)

ItemId = Annotated[str, Path(min_length=1, max_length=64)]
Item = TypeVar("Item", ProgramIn, UnitIn, UserIn)


class Applied(BaseModel):
    users: int
    units: int
    programs: int


def _read(engine: Engine) -> ConfigDoc:
    with Session(engine) as session:
        return export_config(session)


def _invalid(exc: ValidationError, strip: int = 0) -> Problem:
    """A 422 naming the field; `strip` drops the leading "units.3." of a single-item write."""
    errors = []
    for e in exc.errors():
        loc, msg = error_location(e)
        errors.append({"field": ".".join(str(p) for p in loc[strip:]) or "body", "message": msg})
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    return Problem(
        422,
        "Invalid configuration",
        f"{first['field']}: {first['message']}",
        field=first["field"],
        errors=errors,
    )


def _write(engine: Engine, kind: str, item: BaseModel) -> Applied:
    """Validate the configuration as it would be with `item`, then upsert only `item`."""
    current = _read(engine).model_dump(mode="json")
    items: list[dict[str, Any]] = current[kind]
    new = item.model_dump(mode="json")
    items[:] = [i for i in items if i["id"] != new["id"]] + [new]
    try:
        ConfigDoc.model_validate(current)
    except ValidationError as exc:
        raise _invalid(exc, strip=2) from exc
    only = ConfigDoc.model_construct(
        users=[item] if isinstance(item, UserIn) else [],
        units=[item] if isinstance(item, UnitIn) else [],
        programs=[item] if isinstance(item, ProgramIn) else [],
    )
    counts = apply_config(engine, only)
    return Applied(**{k: counts.get(k, 0) for k in ("users", "units", "programs")})


def _one(items: list[Item], item_id: str, what: str) -> Item:
    for item in items:
        if item.id == item_id:
            return item
    raise Problem(404, f"{what.capitalize()} not found", f"No {what} {item_id!r}", field="id")


def _same_id(path_id: str, body_id: str) -> None:
    if path_id != body_id:
        raise Problem(
            422, "Invalid request", "id in the body must match the one in the path", field="id"
        )


@router.get("", response_model=ConfigDoc)
async def read_config(engine: EngineDep) -> ConfigDoc:
    """The whole configuration (never any password)."""
    return await in_thread(_read, engine)


@router.put("", response_model=Applied)
async def write_config(body: ConfigDoc, engine: EngineDep) -> Applied:
    """Load a whole configuration document, exactly as `core.cli load-config` does."""
    counts = await in_thread(apply_config, engine, body)
    return Applied(**counts)


@router.get("/programs", response_model=list[ProgramIn])
async def read_programs(engine: EngineDep) -> list[ProgramIn]:
    return (await in_thread(_read, engine)).programs


@router.get("/programs/{program_id}", response_model=ProgramIn)
async def read_program(program_id: ItemId, engine: EngineDep) -> ProgramIn:
    return _one((await in_thread(_read, engine)).programs, program_id, "program")


@router.put("/programs/{program_id}", response_model=Applied)
async def write_program(program_id: ItemId, body: ProgramIn, engine: EngineDep) -> Applied:
    """Create or replace a program (SLA, calendar, alert and routing rules, ...)."""
    _same_id(program_id, body.id)
    return await in_thread(_write, engine, "programs", body)


@router.get("/units", response_model=list[UnitIn])
async def read_units(engine: EngineDep) -> list[UnitIn]:
    return (await in_thread(_read, engine)).units


@router.get("/units/{unit_id}", response_model=UnitIn)
async def read_unit(unit_id: ItemId, engine: EngineDep) -> UnitIn:
    return _one((await in_thread(_read, engine)).units, unit_id, "unit")


@router.put("/units/{unit_id}", response_model=Applied)
async def write_unit(unit_id: ItemId, body: UnitIn, engine: EngineDep) -> Applied:
    _same_id(unit_id, body.id)
    return await in_thread(_write, engine, "units", body)


@router.get("/users", response_model=list[UserIn])
async def read_users(engine: EngineDep) -> list[UserIn]:
    return (await in_thread(_read, engine)).users


@router.get("/users/{user_id}", response_model=UserIn)
async def read_user(user_id: ItemId, engine: EngineDep) -> UserIn:
    return _one((await in_thread(_read, engine)).users, user_id, "user")


@router.put("/users/{user_id}", response_model=Applied)
async def write_user(user_id: ItemId, body: UserIn, engine: EngineDep) -> Applied:
    """Create or update a user; a password, when given, is stored argon2-hashed."""
    _same_id(user_id, body.id)
    return await in_thread(_write, engine, "users", body)
