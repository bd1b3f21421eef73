"""Configuration as data: programs, units and users, read and written by admin clients.

Every write goes through the same `ConfigDoc` validation as the YAML loader, on the whole
configuration as it would be after the write (so references to users and question ids are
checked against what is stored), and is applied in one transaction.

Each program, unit and user has an `ETag` (a hash of its JSON). A write with `If-Match` whose
tag is no longer the item's is refused with 412 and changes nothing; a whole-program `PUT` must
send `If-Match` (or `If-None-Match: *` to create one), else 428. `PATCH` takes a JSON merge
patch (RFC 7396): only the fields it names change.

A program's new calendar, holidays or SLA apply to cases opened from then on; with
`?apply_to=open` the open cases' deadlines move too (services/deadline_follow.py). The audit
entry of the change records the choice.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Header, Path, Query, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from temporalio.client import Client

from core.threads import in_thread
from domain.audit import Actor
from domain.fields import StorableStr
from domain.program import ConfigDoc, ProgramIn, UnitIn, UserIn, error_location
from domain.vocabulary import ApplyTo
from models.config import ApiClient
from services import config_writes
from services.audit import api_actor
from services.config_writes import Exists, Invalid, Stale, etag, write_item
from services.configuration import apply_config
from services.deadline_follow import ProgramChange, reschedule_open_cases
from web.api_auth import Admin, require_scope
from web.deps import EngineDep, SettingsDep, TemporalDep
from web.problems import PROBLEM_JSON, Problem
from web.routes.api_v1.cases import PROBLEMS

router = APIRouter(
    prefix="/config",
    tags=["configuration"],
    responses=PROBLEMS,
    dependencies=[require_scope("admin")],
)

ItemId = Annotated[str, Path(min_length=1, max_length=64)]
Item = TypeVar("Item", ProgramIn, UnitIn, UserIn)
IfMatch = Annotated[
    StorableStr | None,
    Header(alias="If-Match", max_length=500, description="The ETag the change was made on"),
]
IfNoneMatch = Annotated[
    StorableStr | None,
    Header(alias="If-None-Match", max_length=10, description="`*`: create only, never replace"),
]
MergePatch = Annotated[
    dict[str, Any],
    Body(
        media_type="application/merge-patch+json",
        description="A JSON merge patch (RFC 7396): the fields to change; null removes one",
    ),
]
CONDITIONAL: dict[int | str, dict[str, Any]] = {
    412: {
        "description": "If-Match names an older version (or If-None-Match: * an existing item)",
        "content": {PROBLEM_JSON: {}},
    },
    428: {"description": "A whole-program PUT needs If-Match", "content": {PROBLEM_JSON: {}}},
}
ApplyToQuery = Annotated[
    ApplyTo | None,
    Query(
        description="A new calendar, holidays or SLA: for cases opened from now on (`new`, the "
        "default) or the open cases too (`open`: their deadlines move, keeping the business "
        "time used)"
    ),
]


class Applied(BaseModel):
    users: int
    units: int
    programs: int


def _read(engine: Engine) -> ConfigDoc:
    return config_writes.read_config(engine)


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


def _write(
    engine: Engine,
    kind: str,
    item: BaseModel | Callable[[dict[str, Any] | None], BaseModel],
    item_id: str,
    actor: Actor,
    if_match: str | None = None,
    if_none_match: str | None = None,
    apply_to: ApplyTo | None = None,
    changed: list[ProgramChange] | None = None,
) -> tuple[Applied, str]:
    """`services.config_writes.write_item`, its refusals as problems (412, 422)."""
    if if_none_match is not None and if_none_match.strip() != "*":
        raise Problem(422, "Invalid request", "If-None-Match takes only *", field="If-None-Match")
    try:
        counts, tag = write_item(
            engine, kind, item, item_id, actor, if_match, if_none_match, apply_to, changed
        )
    except Exists as exc:
        raise Problem(
            412, "Precondition failed", f"{exc.item_id!r} exists", field="If-None-Match"
        ) from exc
    except Stale as exc:
        raise Problem(
            412,
            "Precondition failed",
            "It was changed since you read it (If-Match is not its current ETag): read it "
            "again and redo the change",
            field="If-Match",
            current_etag=exc.current_etag,
        ) from exc
    except Invalid as exc:
        raise _invalid(exc.error, exc.strip) from exc
    applied = Applied(**{k: counts.get(k, 0) for k in ("users", "units", "programs")})
    return applied, tag


def _apply_to(kind: str, apply_to: ApplyTo | None) -> ApplyTo | None:
    """A program's change applies to new cases unless the admin chose otherwise."""
    return (apply_to or ApplyTo.NEW) if kind == "programs" else None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: `patch` applied to `target` (neither is changed)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


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
    counts = await in_thread(apply_config, engine, body, api_actor(me))
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
        [
            inspect.Parameter(
                p, kw, annotation=a, default=None if p in OPTIONAL else inspect.Parameter.empty
            )
            for p, a in {**params, "engine": EngineDep}.items()
        ]
    )
    responses = CONDITIONAL if method in ("PUT", "PATCH") else None
    router.add_api_route(
        path, fn, methods=[method], response_model=response_model, responses=responses
    )


# The parameters that may be left out (the preconditions, whom a program change applies to).
OPTIONAL = frozenset({"if_match", "if_none_match", "apply_to"})


async def _follow(
    changed: list[ProgramChange], temporal: Client | None, settings: Any, engine: Engine
) -> None:
    """The open cases told of a program change that applies to them too."""
    for change in changed:
        if change.follows and temporal is not None:
            await reschedule_open_cases(temporal, settings, engine, change)


def _resource(kind: str, model: type[Item]) -> None:
    """GET /config/{kind}, GET and PUT /config/{kind}/{<kind>_id}: the list of one kind of
    item, one item, and an item created or replaced."""
    one = kind.removesuffix("s")
    id_name = f"{one}_id"

    async def read_all(engine: Engine) -> list[Item]:
        items: list[Item] = getattr(await in_thread(_read, engine), kind)
        return items

    async def read_one(engine: Engine, response: Response, **path: str) -> Item:
        found = _one(await read_all(engine), path[id_name], one)
        response.headers["ETag"] = etag(found.model_dump(mode="json"))
        return found

    async def write_one(
        engine: Engine,
        body: Item,
        me: ApiClient,
        response: Response,
        if_match: str | None,
        if_none_match: str | None,
        apply_to: ApplyTo | None = None,
        temporal: Client | None = None,
        settings: Any = None,
        **path: str,
    ) -> Applied:
        _same_id(path[id_name], body.id)
        if kind == "programs" and if_match is None and if_none_match is None:
            raise Problem(
                428,
                "Precondition required",
                "Replacing a whole program needs If-Match with the ETag you read it with "
                "(or If-None-Match: * to create one)",
                field="If-Match",
            )
        changed: list[ProgramChange] = []
        applied, tag = await in_thread(
            _write,
            engine,
            kind,
            body,
            body.id,
            api_actor(me),
            if_match,
            if_none_match,
            _apply_to(kind, apply_to),
            changed,
        )
        response.headers["ETag"] = tag
        await _follow(changed, temporal, settings, engine)
        return applied

    async def patch_one(
        engine: Engine,
        body: dict[str, Any],
        me: ApiClient,
        response: Response,
        if_match: str | None,
        apply_to: ApplyTo | None = None,
        temporal: Client | None = None,
        settings: Any = None,
        **path: str,
    ) -> Applied:
        item_id = path[id_name]

        def patched(found: dict[str, Any] | None) -> BaseModel:
            if found is None:
                raise Problem(404, f"{one.capitalize()} not found", f"No {one} {item_id!r}")
            merged = merge_patch(found, body)
            if not isinstance(merged, dict) or merged.get("id") != item_id:
                raise Problem(422, "Invalid request", "A patch cannot change the id", field="id")
            try:
                return model.model_validate(merged)
            except ValidationError as exc:
                raise _invalid(exc) from exc

        changed: list[ProgramChange] = []
        applied, tag = await in_thread(
            _write,
            engine,
            kind,
            patched,
            item_id,
            api_actor(me),
            if_match,
            None,
            _apply_to(kind, apply_to),
            changed,
        )
        response.headers["ETag"] = tag
        await _follow(changed, temporal, settings, engine)
        return applied

    item, path_id = f"/{kind}/{{{id_name}}}", {id_name: ItemId}
    resp = {"response": Response}
    # A program's write takes whom it applies to, and tells the open cases when they follow.
    follow: dict[str, Any] = (
        {"apply_to": ApplyToQuery, "temporal": TemporalDep, "settings": SettingsDep}
        if kind == "programs"
        else {}
    )
    _route("GET", f"/{kind}", read_all, f"read_{kind}", list[model])  # type: ignore[valid-type]
    _route("GET", item, read_one, f"read_{one}", model, **path_id, **resp)
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
        **resp,
        if_match=IfMatch,
        if_none_match=IfNoneMatch,
        **follow,
    )
    _route(
        "PATCH",
        item,
        patch_one,
        f"patch_{one}",
        Applied,
        f"Change some fields of a {one} (a JSON merge patch); If-Match guards against "
        "overwriting a change made since you read it.",
        **path_id,
        body=MergePatch,
        me=Admin,
        **resp,
        if_match=IfMatch,
        **follow,
    )


_resource("programs", ProgramIn)
_resource("units", UnitIn)
_resource("users", UserIn)
