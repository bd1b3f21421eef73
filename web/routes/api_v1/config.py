"""Configuration as data: programs, units and users, read and written by admin clients.

Every write goes through the same `ConfigDoc` validation as the YAML loader, on the whole
configuration as it would be after the write (so references to users and question ids are
checked against what is stored), and is applied in one transaction.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from core.threads import in_thread
from domain.audit import Actor
from domain.program import ConfigDoc, ProgramIn, UnitIn, UserIn, error_location
from models.config import ApiClient
from services.audit import client_actor
from services.configuration import apply_config, export_config
from web.api_auth import Admin, require_scope
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


def _write(engine: Engine, kind: str, item: BaseModel, actor: Actor) -> Applied:
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
    counts = apply_config(engine, only, actor)
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
async def write_config(body: ConfigDoc, me: Admin, engine: EngineDep) -> Applied:
    """Load a whole configuration document, exactly as `python -m cli load-config` does."""
    counts = await in_thread(apply_config, engine, body, client_actor(me))
    return Applied(**counts)


WRITE_DOCS = {
    "programs": "Create or replace a program (SLA, calendar, alert and routing rules, ...).",
    "users": "Create or update a user; a password, when given, is stored argon2-hashed.",
}


def _route(
    method: str,
    path: str,
    fn: Callable[..., Any],
    name: str,
    response_model: Any,
    doc: str | None = None,
    /,
    **params: Any,
) -> None:
    """`fn` as the endpoint `method path` named `name` (its operation id and summary), taking
    the keyword parameters `params` (name: annotation) from the request, then the engine."""
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    kw = inspect.Parameter.KEYWORD_ONLY
    fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(p, kw, annotation=a) for p, a in {**params, "engine": EngineDep}.items()]
    )
    router.add_api_route(path, fn, methods=[method], response_model=response_model)


def _resource(kind: str, model: type[Item]) -> None:
    """GET /config/{kind}, GET and PUT /config/{kind}/{<kind>_id}: the list of one kind of
    item, one item, and an item created or replaced."""
    one = kind.removesuffix("s")
    id_name = f"{one}_id"

    async def read_all(engine: Engine) -> list[Item]:
        items: list[Item] = getattr(await in_thread(_read, engine), kind)
        return items

    async def read_one(engine: Engine, **path: str) -> Item:
        return _one(await read_all(engine), path[id_name], one)

    async def write_one(engine: Engine, body: Item, me: ApiClient, **path: str) -> Applied:
        _same_id(path[id_name], body.id)
        return await in_thread(_write, engine, kind, body, client_actor(me))

    item, path_id = f"/{kind}/{{{id_name}}}", {id_name: ItemId}
    _route("GET", f"/{kind}", read_all, f"read_{kind}", list[model])  # type: ignore[valid-type]
    _route("GET", item, read_one, f"read_{one}", model, **path_id)
    _route(
        "PUT",
        item,
        write_one,
        f"write_{one}",
        Applied,
        WRITE_DOCS.get(kind),
        **path_id,
        body=model,
        me=Admin,
    )


_resource("programs", ProgramIn)
_resource("units", UnitIn)
_resource("users", UserIn)
