"""Typed dependencies for the reports: the filters from the query string, parsed once by the
filter model (`ReportFilters.from_query`) for the dashboard, its case lists, both CSV downloads
and the JSON API, so they take the same parameter names and give the same messages.

Only the answer to a bad value differs by audience: the dashboard shows each message next to its
field, the case list an error page naming the fields, the CSV downloads and the API a 422
problem+json naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel
from sqlalchemy import Engine, select

from models.config import Unit
from services.reports import (
    ReportFilters,
    ReportForbidden,
    ReportInvalid,
    Scope,
    Segment,
    scope_for,
    unit_in_scope,
)
from web import i18n
from web.auth import CurrentUser, PageError, not_allowed
from web.deps import EngineDep
from web.i18n import N_, gettext
from web.problems import Problem


@dataclass(frozen=True)
class ReportRequest:
    scope: Scope
    filters: ReportFilters
    segment: Segment
    tz_auto: bool  # no zone was asked for: the unit's own (or the one all units share)


@dataclass(frozen=True)
class RefusedFilters:
    """Filters that cannot be used: what was given (to fill the form again) and why not."""

    scope: Scope
    given: dict[str, Any]
    errors: dict[str, str]


def auto_zone(engine: Engine, scope: Scope, unit_id: str | None) -> str:
    """The unit's zone; else the zone all units in scope share; else UTC."""
    table = Unit.__table__  # type: ignore[attr-defined]
    stmt = select(table.c.timezone).distinct()
    if unit_id:
        stmt = stmt.where(table.c.id == unit_id)
    else:
        stmt = stmt.where(unit_in_scope(table.c.id, scope))
    with engine.connect() as conn:
        zones = conn.execute(stmt.limit(2)).scalars().all()
    return zones[0] if len(zones) == 1 and zones[0] else "UTC"


def read_report(
    engine: Engine, scope: Scope, pairs: Iterable[tuple[str, str]], *, segment: bool = True
) -> ReportRequest | RefusedFilters:
    """The viewer's report from the query string (and the figure's segment, for a case list);
    a zone not asked for is the unit's."""
    pairs = list(pairs)
    given = ReportFilters.given(pairs)
    tz_auto = "tz" not in given
    errors: dict[str, str] = {}
    filters, seg = None, Segment()
    try:
        zone = auto_zone(engine, scope, given.get("unit")) if tz_auto else given["tz"]
        filters = ReportFilters(**(given | {"tz": zone}))
    except ReportInvalid as exc:
        errors |= exc.errors
    try:
        seg = Segment.from_query(pairs) if segment else seg
    except ReportInvalid as exc:
        errors |= exc.errors
    if filters is None or errors:
        return RefusedFilters(scope, given, errors)
    # Refused before a download starts streaming (its 200 would be on the wire already).
    if filters.unit_id and not scope.allows_unit(filters.unit_id):
        raise not_allowed(
            f"You do not manage unit {filters.unit_id}, so its figures are not shown."
        )
    if filters.owner_id and not scope.allows_owner(filters.owner_id):
        raise not_allowed("My figures are those of the cases you own, not another owner's.")
    return ReportRequest(scope, filters, seg, tz_auto)


def invalid_problem(errors: dict[str, str]) -> Problem:
    """The 422 problem+json of the API and the CSV downloads (the first field leads)."""
    field, message = next(iter(errors.items()))
    listed = [{"field": name, "message": text} for name, text in errors.items()]
    return Problem(422, "Invalid request", f"{field}: {message}", field=field, errors=listed)


# ---------------------------------------------------------------- the pages' words

# The filter model's messages (services.reports.filters), as the pages say them: the English
# message is matched and its values put into the reader's language's version. The API and the
# CSV downloads keep the English (their readers are programs and programmers).
FILTER_MESSAGES = (
    N_("Unknown time zone %(name)s"),
    N_("Expected a date such as 2026-03-01"),
    N_("Choose a date between %(earliest)s and %(latest)s"),
    N_("At most %(max)s root causes, not %(count)s"),
    N_("The end date is before the start date"),
    N_("The range is limited to %(days)s days"),
    N_("A case without a survey is not a survey segment"),
)
# Pydantic's own messages ("Input should be …") and any other: one plain sentence.
OTHER_MESSAGE = N_("This value cannot be used here.")


def _pattern(message: str) -> re.Pattern[str]:
    parts = re.split(r"%\((\w+)\)s", message)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")


_PATTERNS = [(message, _pattern(message)) for message in FILTER_MESSAGES]


def page_message(text: str) -> str:
    """A filter message in the request's language (English: as the filter model said it)."""
    if i18n.current() == i18n.DEFAULT:
        return text
    for message, pattern in _PATTERNS:
        found = pattern.match(text)
        if found:
            return gettext(message, **found.groupdict())
    return gettext(OTHER_MESSAGE)


def page_errors(errors: dict[str, str]) -> dict[str, str]:
    return {name: page_message(text) for name, text in errors.items()}


# ---------------------------------------------------------------- the dependencies


async def viewer_scope(viewer: CurrentUser) -> Scope:
    """Pure arithmetic on the viewer: no thread-pool hop for it."""
    try:
        return scope_for(viewer)
    except ReportForbidden as exc:
        raise not_allowed(str(exc)) from exc


ViewerScope = Annotated[Scope, Depends(viewer_scope)]


def dashboard_report(
    request: Request, scope: ViewerScope, engine: EngineDep
) -> ReportRequest | RefusedFilters:
    """The dashboard's report, or the refused filters it shows next to the form's fields."""
    return read_report(engine, scope, request.query_params.multi_items(), segment=False)


def list_report(request: Request, scope: ViewerScope, engine: EngineDep) -> ReportRequest:
    """A case list's report and segment; bad values make an error page naming them."""
    report = read_report(engine, scope, request.query_params.multi_items())
    if isinstance(report, RefusedFilters):
        errors = page_errors(report.errors)
        detail = " ".join(f"{name}: {text}." for name, text in errors.items())
        raise PageError(422, gettext("Invalid filter"), detail)
    return report


def csv_report(request: Request, scope: ViewerScope, engine: EngineDep) -> ReportRequest:
    """A download's report and segment; bad values make a 422 problem+json."""
    report = read_report(engine, scope, request.query_params.multi_items())
    if isinstance(report, RefusedFilters):
        raise invalid_problem(report.errors)
    return report


async def api_filters(request: Request) -> ReportFilters:
    """Every unit and UTC unless asked otherwise (an API client is not a person with units)."""
    try:
        return ReportFilters.from_query(request.query_params.multi_items())
    except ReportInvalid as exc:
        raise invalid_problem(exc.errors) from exc


DashboardReport = Annotated[ReportRequest | RefusedFilters, Depends(dashboard_report)]
ListReport = Annotated[ReportRequest, Depends(list_report)]
CsvReport = Annotated[ReportRequest, Depends(csv_report)]
ApiFilters = Annotated[ReportFilters, Depends(api_filters)]


# A blank value is no value (an empty form field): the filters' defaults apply.
BLANK = {"type": "string", "maxLength": 0}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The model's fields as OpenAPI query parameters, for a route that reads them itself."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[1]])
            return {key: inline(value) for key, value in node.items()}
        return [inline(value) for value in node] if isinstance(node, list) else node

    out = []
    for name, prop in schema["properties"].items():
        prop = inline(prop)
        meta = {key: prop.pop(key) for key in ("title", "default") if key in prop}
        param = {"name": name, "in": "query", "required": False}
        if "description" in prop:
            param["description"] = prop.pop("description")
        if prop.get("type") != "array":  # an array's items may be blank themselves
            branches = prop.pop("anyOf", None) or [prop]
            prop = {"anyOf": [b for b in branches if b.get("type") != "null"] + [BLANK]}
        out.append(param | {"schema": prop | meta})
    return out
