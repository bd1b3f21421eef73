"""The customer resolution dashboard (managers and admins): figures, charts, drill-down, CSV.

- `GET /dashboard` — the filter form and the report; an HTMX request (the form changing) gets
  only the `report` block back (`Vary: HX-Request`).
- `GET /dashboard/cases` — the drill-down list behind any figure: the report's filters plus the
  figure's segment (`status`, `closing`, `overdue`, `sla`, `remeasure`, `recovery`, ...), newest
  first, keyset pages. It is this page's own list (the inbox has tabs, not report filters); each
  row links to the case page.
- `GET /dashboard/cases.csv` — the same list as a streamed CSV download.
- `GET /dashboard/tables/{name}.csv` — one of the report's tables as CSV.

Scope: admins see every unit, managers the units they manage; agents get 403, and a manager who
asks for another unit's figures gets 403 as well (see `services.reports.scope_for`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Engine, or_, select

from domain.permissions import Viewer
from models.config import Program, Unit, User
from models.reports import ReportSummary, TrendPoint
from services.reports import (
    CHANNEL_LABELS,
    STATUS_LABELS,
    STATUSES,
    TABLES,
    ReportFilters,
    ReportForbidden,
    ReportInvalid,
    Scope,
    Segment,
    count_cases,
    default_filters,
    list_cases,
    scope_for,
    stream_case_csv,
    stream_table_csv,
    summary,
)
from web.auth import CurrentUser, PageError, not_allowed, verify_csrf
from web.charts import STATUS_STYLE, BarItem, SeriesSpec, bar_chart, line_chart
from web.deps import EngineDep
from web.templating import render

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

PAGE_SIZE = 50
# The owner field suggests this many people (a free text field beyond that).
OWNER_CHOICES = 300
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
BOOL_SEGMENTS = ("overdue", "escalated", "reopened", "acted")
TEXT_SEGMENTS = ("status", "closing", "sla", "remeasure", "recovery")


# ---------------------------------------------------------------- request parsing


@dataclass
class ReportRequest:
    filters: ReportFilters
    segment: Segment
    scope: Scope
    tz_auto: bool


def _text(request: Request, name: str, max_length: int = 64) -> str | None:
    value = (request.query_params.get(name) or "").strip()
    if len(value) > max_length:
        raise ReportInvalid(name, f"{name} is too long")
    return value or None


def _date(request: Request, name: str) -> date | None:
    value = _text(request, name, 10)
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise ReportInvalid(name, f"{name}: expected a date such as 2026-03-01") from exc
    if not EARLIEST <= day <= LATEST:
        raise ReportInvalid(name, f"{name}: choose a date between 2000 and 2100")
    return day


def _flag(request: Request, name: str) -> bool | None:
    value = _text(request, name, 5)
    if value is None:
        return None
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise ReportInvalid(name, f"{name} must be 1 or 0")


def auto_zone(engine: Engine, scope: Scope, unit_id: str | None) -> str:
    """The unit's zone; else the zone all units in scope share; else UTC."""
    table = Unit.__table__  # type: ignore[attr-defined]
    stmt = select(table.c.timezone).distinct()
    if unit_id:
        stmt = stmt.where(table.c.id == unit_id)
    elif scope.units is not None:
        stmt = stmt.where(table.c.id.in_(scope.units))
    with engine.connect() as conn:
        zones = conn.execute(stmt.limit(2)).scalars().all()
    return zones[0] if len(zones) == 1 and zones[0] else "UTC"


def parse_request(request: Request, viewer: Viewer, engine: Engine) -> ReportRequest:
    try:
        scope = scope_for(viewer)
    except ReportForbidden as exc:
        raise not_allowed(str(exc)) from exc
    try:
        unit_id = _text(request, "unit")
        if unit_id and not scope.allows_unit(unit_id):
            raise not_allowed(f"You do not manage unit {unit_id}, so its figures are not shown.")
        tz = _text(request, "tz")
        tz_auto = tz is None
        tz = tz or auto_zone(engine, scope, unit_id)
        causes = tuple(
            dict.fromkeys(v.strip() for v in request.query_params.getlist("cause") if v.strip())
        )
        if len(causes) > 20 or any(len(v) > 200 for v in causes):
            raise ReportInvalid("cause", "Too many or too long root causes")
        fields: dict[str, Any] = {
            "tz": tz,
            "program_id": _text(request, "program"),
            "unit_id": unit_id,
            "channel": _text(request, "channel", 40),
            "owner_id": _text(request, "owner"),
            "root_causes": causes,
            "bucket": _text(request, "bucket", 5) or "auto",
        }
        start, end = _date(request, "from"), _date(request, "to")
        if start is None or end is None:
            defaults = default_filters(tz)
            if start is None and end is None:
                start, end = defaults.date_from, defaults.date_to
            elif start is None:
                assert end is not None
                start = end - (defaults.date_to - defaults.date_from)
            else:
                end = max(defaults.date_to, start)
        filters = ReportFilters(date_from=start, date_to=end, **fields)
        seg_values: dict[str, Any] = {name: _text(request, name, 20) for name in TEXT_SEGMENTS}
        seg_values |= {name: _flag(request, name) for name in BOOL_SEGMENTS}
        segment = Segment(**seg_values)
    except ReportInvalid as exc:
        raise PageError(400, "Invalid filter", exc.message) from exc
    return ReportRequest(filters, segment, scope, tz_auto)


# ---------------------------------------------------------------- links (drill-down)


def filter_params(f: ReportFilters) -> list[tuple[str, str]]:
    params = [("from", f.date_from.isoformat()), ("to", f.date_to.isoformat()), ("tz", f.tz)]
    for name, value in (
        ("program", f.program_id),
        ("unit", f.unit_id),
        ("channel", f.channel),
        ("owner", f.owner_id),
    ):
        if value:
            params.append((name, value))
    params += [("cause", cause) for cause in f.root_causes]
    if f.bucket != "auto":
        params.append(("bucket", f.bucket))
    return params


def segment_params(seg: Segment | dict[str, Any]) -> list[tuple[str, str]]:
    values = seg if isinstance(seg, dict) else {n: getattr(seg, n) for n in Segment.CHOICES}
    if not isinstance(seg, dict):
        values |= {n: getattr(seg, n) for n in BOOL_SEGMENTS}
    out = []
    for name in (*TEXT_SEGMENTS, *BOOL_SEGMENTS):
        value = values.get(name)
        if value is None:
            continue
        out.append((name, ("1" if value else "0") if isinstance(value, bool) else str(value)))
    return out


class Links:
    """URLs for the report's figures; every one keeps the report's filters."""

    def __init__(self, f: ReportFilters) -> None:
        self.f = f
        self.base = filter_params(f)

    def _url(self, path: str, params: list[tuple[str, str]]) -> str:
        return path + ("?" + urlencode(params) if params else "")

    def cases(self, **segment: Any) -> str:
        return self._url("/dashboard/cases", self.base + segment_params(segment))

    def cause(self, cause: str, **segment: Any) -> str:
        extra = [] if cause in self.f.root_causes else [("cause", cause)]
        return self._url("/dashboard/cases", self.base + extra + segment_params(segment))

    def where(self, _key: str, _value: str, **segment: Any) -> str:
        """The list narrowed to one owner / unit / channel (replacing that filter)."""
        params = [(k, v) for k, v in self.base if k != _key] + [(_key, _value)]
        return self._url("/dashboard/cases", params + segment_params(segment))

    def where_owner(self, owner_id: str, **segment: Any) -> str:
        return self.where("owner", owner_id, **segment)

    def where_unit(self, unit_id: str, **segment: Any) -> str:
        return self.where("unit", unit_id, **segment)

    def period(self, point: TrendPoint, **segment: Any) -> str:
        params = [(k, v) for k, v in self.base if k not in ("from", "to")]
        params += [("from", point.start.isoformat()), ("to", point.end.isoformat())]
        return self._url("/dashboard/cases", params + segment_params(segment))

    def cases_csv(self, segment: Segment | None = None) -> str:
        return self._url("/dashboard/cases.csv", self.base + segment_params(segment or {}))

    def table(self, name: str) -> str:
        return self._url(f"/dashboard/tables/{name}.csv", self.base)

    def dashboard(self) -> str:
        return self._url("/dashboard", self.base)


# ---------------------------------------------------------------- the page


def _options(engine: Engine, scope: Scope, program_id: str | None) -> dict[str, Any]:
    programs_t = Program.__table__  # type: ignore[attr-defined]
    units_t = Unit.__table__  # type: ignore[attr-defined]
    users_t = User.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        programs = conn.execute(
            select(programs_t.c.id, programs_t.c.name, programs_t.c.root_causes).order_by(
                programs_t.c.name
            )
        ).all()
        unit_stmt = select(units_t.c.id, units_t.c.name, units_t.c.timezone).order_by(
            units_t.c.name
        )
        if scope.units is not None:
            unit_stmt = unit_stmt.where(units_t.c.id.in_(scope.units))
        units = conn.execute(unit_stmt).all()
        user_stmt = select(users_t.c.id, users_t.c.name).where(users_t.c.active.is_(True))
        if scope.units is not None:
            people = select(units_t.c.frontline_owner_id).where(units_t.c.id.in_(scope.units))
            managers = select(units_t.c.manager_id).where(units_t.c.id.in_(scope.units))
            field = select(units_t.c.field_manager_id).where(units_t.c.id.in_(scope.units))
            user_stmt = user_stmt.where(
                or_(
                    users_t.c.id.in_(people),
                    users_t.c.id.in_(managers),
                    users_t.c.id.in_(field),
                )
            )
        owners = conn.execute(user_stmt.order_by(users_t.c.name).limit(OWNER_CHOICES)).all()
    causes: list[str] = []
    for p in programs:
        if program_id and p.id != program_id:
            continue
        causes += [rc for rc in (p.root_causes or []) if rc not in causes]
    return {
        "programs": [(p.id, p.name) for p in programs],
        "units": [(u.id, f"{u.id} · {u.name}") for u in units],
        "channels": list(CHANNEL_LABELS.items()),
        "owners": [(o.id, o.name) for o in owners],
        "causes": causes,
    }


def charts(s: ReportSummary, links: Links) -> dict[str, Any]:
    status_items = [
        BarItem(
            STATUS_LABELS[k],
            getattr(s.cases, k),
            links.cases(status=k),
            text=f"{getattr(s.cases, k):,}",
            style=STATUS_STYLE[k],
        )
        for k in STATUSES
    ]
    channel_items = [
        BarItem(r.label, r.count, links.where("channel", r.key), text=f"{r.count:,}")
        for r in s.by_channel
    ]
    cause_items = [
        BarItem(
            r.root_cause,
            r.closed,
            links.cause(r.root_cause, status="closed"),
            text=f"{r.closed:,} ({r.pct_of_closed:g}%)" if r.pct_of_closed is not None else "",
            title=f"{r.root_cause}: {r.closed} closed cases, {r.resolved} resolved, "
            f"{r.unresolved} unresolved",
        )
        for r in s.root_causes[:12]
    ]
    points = s.trend.points
    labels = [
        p.start.strftime("%d %b") if s.trend.bucket == "day" else "wk " + p.start.strftime("%d %b")
        for p in points
    ]
    trend = line_chart(
        "chart-trend",
        f"Cases opened per {s.trend.bucket}",
        labels,
        [
            SeriesSpec("Opened", [p.opened for p in points], [links.period(p) for p in points]),
            SeriesSpec(
                "Closed",
                [p.closed for p in points],
                [links.period(p, status="closed") for p in points],
            ),
            SeriesSpec(
                "Went overdue",
                [p.went_overdue for p in points],
                [links.period(p, overdue=True) for p in points],
            ),
        ],
    )
    return {
        "status": bar_chart("chart-status", "Cases by status", status_items),
        "channel": bar_chart("chart-channel", "Cases by channel", channel_items),
        "causes": bar_chart("chart-causes", "Root causes of closed cases", cause_items),
        "trend": trend,
    }


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:g}%"


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} h"


def _num(value: int | float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


# Owner and unit tables show their largest rows; the CSV (and the API) have every row.
TABLE_ROWS = 12


def _helpers() -> dict[str, Any]:
    return {
        "fmt_pct": _pct,
        "fmt_hours": _hours,
        "fmt_num": _num,
        "tables": TABLES,
        "table_limit": TABLE_ROWS,
    }


@router.get("/dashboard")
def dashboard(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    req = parse_request(request, viewer, engine)
    s = _summary(engine, req)
    links = Links(req.filters)
    ctx = {
        "title": "Resolution dashboard",
        "s": s,
        "f": req.filters,
        "tz_auto": req.tz_auto,
        "links": links,
        "charts": charts(s, links),
        "options": _options(engine, req.scope, req.filters.program_id),
        "status_labels": STATUS_LABELS,
        **_helpers(),
    }
    return render(request, "dashboard.html", ctx, block="report")


def _summary(engine: Engine, req: ReportRequest) -> ReportSummary:
    try:
        return summary(engine, req.filters, req.scope)
    except ReportForbidden as exc:
        raise not_allowed(str(exc)) from exc


# ---------------------------------------------------------------- the drill-down list


def encode_after(created_at: datetime, case_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), case_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_after(value: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        at, case_id = json.loads(raw)
        return datetime.fromisoformat(at), str(case_id)
    except Exception as exc:
        raise PageError(400, "Invalid page link", "That page link is not valid.") from exc


SEGMENT_TEXT = {
    ("status", "open"): "open",
    ("closing", "resolved"): "closed as resolved",
    ("closing", "unresolved"): "closed as unresolved",
    ("sla", "met"): "closed within SLA",
    ("sla", "missed"): "closed after missing a deadline",
    ("remeasure", "surveyed"): "customer surveyed",
    ("remeasure", "answered"): "survey answered",
    ("remeasure", "expired"): "survey expired",
    ("remeasure", "pending"): "survey pending",
    ("recovery", "recovered"): "recovered",
    ("recovery", "failed"): "recovery failed",
    ("overdue", "1"): "went overdue",
    ("overdue", "0"): "never overdue",
    ("escalated", "1"): "escalated",
    ("escalated", "0"): "not escalated",
    ("reopened", "1"): "reopened",
    ("reopened", "0"): "never reopened",
    ("acted", "1"): "with a first action",
    ("acted", "0"): "without any action",
}


def describe(f: ReportFilters, seg: Segment) -> list[str]:
    parts = []
    for name, value in segment_params(seg):
        if name == "status" and value != "open":
            parts.append(STATUS_LABELS.get(value, value).lower())
        else:
            parts.append(SEGMENT_TEXT.get((name, value), f"{name} {value}"))
    if f.program_id:
        parts.append(f"program {f.program_id}")
    if f.unit_id:
        parts.append(f"unit {f.unit_id}")
    if f.channel:
        parts.append(f"channel {CHANNEL_LABELS.get(f.channel, f.channel)}")
    if f.owner_id:
        parts.append(f"owner {f.owner_id}")
    parts += [f"root cause {cause}" for cause in f.root_causes]
    return parts


@router.get("/dashboard/cases")
def dashboard_cases(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    req = parse_request(request, viewer, engine)
    after_param = _text(request, "after", 500)
    after = decode_after(after_param) if after_param else None
    f, seg = req.filters, req.segment
    try:
        total = count_cases(engine, f, req.scope, seg)
        rows = list_cases(engine, f, req.scope, seg, limit=PAGE_SIZE + 1, after=after)
    except ReportForbidden as exc:
        raise not_allowed(str(exc)) from exc
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    links = Links(f)
    base = links.base + segment_params(seg)
    next_url = None
    if more and rows:
        last = rows[-1]
        next_url = "/dashboard/cases?" + urlencode(
            [*base, ("after", encode_after(last.created_at, last.id))]
        )
    users_t = User.__table__  # type: ignore[attr-defined]
    units_t = Unit.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        owner_ids = sorted({r.owner_id for r in rows})
        unit_ids = sorted({r.unit_id for r in rows})
        user_names: dict[str, str] = dict(
            conn.execute(
                select(users_t.c.id, users_t.c.name).where(users_t.c.id.in_(owner_ids))
            ).all()
        )
        unit_names: dict[str, str] = dict(
            conn.execute(
                select(units_t.c.id, units_t.c.name).where(units_t.c.id.in_(unit_ids))
            ).all()
        )
    ctx = {
        "title": "Cases · Resolution dashboard",
        "f": f,
        "rows": rows,
        "total": total,
        "description": describe(f, seg),
        "links": links,
        "csv_url": links.cases_csv(seg),
        "first_url": "/dashboard/cases?" + urlencode(base) if after else None,
        "next_url": next_url,
        "user_names": user_names,
        "unit_names": unit_names,
        "status_labels": STATUS_LABELS,
        **_helpers(),
    }
    return render(request, "dashboard_cases.html", ctx, block="list")


# ---------------------------------------------------------------- CSV


def _filename(stem: str, f: ReportFilters) -> str:
    return f"{stem}-{f.date_from.isoformat()}-{f.date_to.isoformat()}.csv"


def _csv_response(body: Any, filename: str) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/dashboard/cases.csv")
def dashboard_cases_csv(request: Request, viewer: CurrentUser, engine: EngineDep) -> Response:
    """Streamed: rows are read through a server-side cursor while the download runs."""
    req = parse_request(request, viewer, engine)
    body = stream_case_csv(engine, req.filters, req.scope, req.segment)
    return _csv_response(body, _filename("cases", req.filters))


@router.get("/dashboard/tables/{name}.csv")
def dashboard_table_csv(
    name: str, request: Request, viewer: CurrentUser, engine: EngineDep
) -> Response:
    if name not in TABLES:
        raise PageError(404, "Not found", f"There is no table called {name!r}.")
    req = parse_request(request, viewer, engine)
    s = _summary(engine, req)
    return _csv_response(stream_table_csv(s, name), _filename(name.replace("_", "-"), req.filters))
