"""One configuration item written on the version it was read from: the ETag of an item, the
precondition check and the validated upsert the JSON API and the admin pages share (so both
refuse a stale write the same way, and both are audited by `apply_config`)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from domain.audit import Actor
from domain.program import ConfigDoc, ProgramIn, UnitIn, UserIn
from domain.vocabulary import ApplyTo
from services.configuration import apply_config, export_config
from services.deadline_follow import ProgramChange, apply_program

# Checking a tag and writing are one step in this process (two admins' writes do not interleave).
_writing = threading.Lock()


class Stale(Exception):
    """If-Match names a version that is no longer the item's (or the item is gone)."""

    def __init__(self, current_etag: str | None) -> None:
        super().__init__("changed since it was read")
        self.current_etag = current_etag


class Exists(Exception):
    """Create-only (If-None-Match: *) on an item that exists."""

    def __init__(self, item_id: str) -> None:
        super().__init__(f"{item_id!r} exists")
        self.item_id = item_id


class Invalid(Exception):
    """The configuration would not validate with the item; `error` is pydantic's, `strip` the
    number of leading location parts ("programs", 3) that name the item in the document."""

    def __init__(self, error: ValidationError, strip: int = 0) -> None:
        super().__init__(str(error))
        self.error, self.strip = error, strip


def etag(item: dict[str, Any]) -> str:
    """A strong tag of an item's JSON (as the API's GET shows it)."""
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def check_precondition(
    found: dict[str, Any] | None, if_match: str | None, if_none_match: str | None = None
) -> None:
    """Raise `Exists` or `Stale` when the write would not be on the version it was read from."""
    if if_none_match is not None and found is not None:
        raise Exists(str(found["id"]))
    if if_match is None:
        return
    tags = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if found is None or ("*" not in tags and etag(found) not in tags):
        raise Stale(etag(found) if found is not None else None)


def read_config(engine: Engine) -> ConfigDoc:
    with Session(engine) as session:
        return export_config(session)


def read_item(engine: Engine, kind: str, item_id: str) -> tuple[dict[str, Any], str] | None:
    """An item of `kind` ("programs", "units", "users") as JSON, with its ETag; None if none."""
    for item in getattr(read_config(engine), kind):
        if item.id == item_id:
            data: dict[str, Any] = item.model_dump(mode="json")
            return data, etag(data)
    return None


def write_item(
    engine: Engine,
    kind: str,
    item: BaseModel | Callable[[dict[str, Any] | None], BaseModel],
    item_id: str,
    actor: Actor,
    if_match: str | None = None,
    if_none_match: str | None = None,
    apply_to: ApplyTo | None = None,
    changed: list[ProgramChange] | None = None,
) -> tuple[dict[str, int], str]:
    """Validate the configuration as it would be with `item` (or what `item` makes of the stored
    one), then upsert only `item`, audited by `actor`. Raises `Stale`/`Exists` when a
    precondition fails and `Invalid` when the result does not validate; nothing changes then.
    The counts and the item's new ETag; a program written with `apply_to` ("new cases only" or
    "also open cases") is added to `changed`, for the caller to start its fan-out."""
    with _writing:
        current = read_config(engine).model_dump(mode="json")
        items: list[dict[str, Any]] = current[kind]
        found = next((i for i in items if i["id"] == item_id), None)
        check_precondition(found, if_match, if_none_match)
        if not isinstance(item, BaseModel):
            item = item(found)
        new = item.model_dump(mode="json")
        items[:] = [i for i in items if i["id"] != new["id"]] + [new]
        try:
            ConfigDoc.model_validate(current)
        except ValidationError as exc:
            raise Invalid(exc, strip=2) from exc
        only = ConfigDoc.model_construct(
            users=[item] if isinstance(item, UserIn) else [],
            units=[item] if isinstance(item, UnitIn) else [],
            programs=[item] if isinstance(item, ProgramIn) else [],
        )
        if apply_to is not None and isinstance(item, ProgramIn):
            change = apply_program(engine, only, actor, apply_to)
            counts = {"programs": 1}
            if changed is not None:
                changed.append(change)
        else:
            counts = apply_config(engine, only, actor)
        stored = read_item(engine, kind, item_id)
    assert stored is not None
    return counts, stored[1]
