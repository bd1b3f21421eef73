"""The customer resolution dashboard: figures, charts, drill-down, CSV; "My figures" for agents.

- `GET /dashboard` — the filter form and the report; an HTMX request (the form changing) gets
  only the `report` block back (`Vary: HX-Request`). Filters that cannot be used get a 422: the
  form with a message next to each bad field.
- `GET /dashboard/cases` — the drill-down list behind any figure: the report's filters plus the
  figure's segment (`status`, `closing`, `overdue`, `sla`, `remeasure`, `recovery`, ...), newest
  first, keyset pages. It is this page's own list (the inbox has tabs, not report filters); each
  row links to the case page.
- `GET /dashboard/cases.csv` — the same list as a streamed CSV download.
- `GET /dashboard/tables/{name}.csv` — one of the report's tables as CSV.

Every route reads its filters through `web.report_deps` (the same parameters as the JSON API).
Scope (`services.reports.scope_for`): admins see every unit, managers the units they manage,
agents the cases they own now ("My figures"). Asking for more gets 403: a manager naming another
unit, an agent naming another owner; an agent's unit, program or channel only narrow their own.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Engine, or_, select

from models.config import Program, Unit, User
from models.reports import ReportSummary
from services.reports import (
    AGE_BUCKETS,
    CHANNEL_LABELS,
    STATUS_LABELS,
    TABLES,
    ReportFilters,
    ReportForbidden,
    Scope,
    count_cases,
    list_cases,
    stream_case_csv,
    stream_table_csv,
    summary,
    unit_in_scope,
)
from services.reports.kb_usage import top_articles
from services.reports.sla import sla_summary
from web.auth import PageError, not_allowed, verify_csrf
from web.charts import dashboard_charts
from web.deps import EngineDep
from web.i18n import N_, gettext
from web.report_deps import (
    CsvReport,
    DashboardReport,
    ListReport,
    RefusedFilters,
    ReportRequest,
    page_errors,
)
from web.report_links import Links, describe
from web.sla_charts import sla_chart
from web.templating import number, percent, render

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)

PAGE_SIZE = 50
# Sent by a form that shows messages: the answer brings the form again, without them.
REFUSED_HEADER = "X-Filters-Refused"
# The owner field suggests this many people (a free text field beyond that).
OWNER_CHOICES = 300


# ---------------------------------------------------------------- the page


@dataclass
class FilterForm:
    """The filter form's values by parameter name (`cause`: a list), and its messages."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    tz_hint: str = "automatic"

    @classmethod
    def of(cls, req: ReportRequest) -> FilterForm:
        values = ReportFilters.given(req.filters.query())
        if req.tz_auto:
            values.pop("tz")
        return cls(values, tz_hint=f"{req.filters.tz} (automatic)")


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
        units = conn.execute(unit_stmt.where(unit_in_scope(units_t.c.id, scope))).all()
        user_stmt = select(users_t.c.id, users_t.c.name).where(users_t.c.active.is_(True))
        if scope.units is not None:
            people = select(units_t.c.frontline_owner_id).where(units_t.c.id.in_(scope.units))
            managers = select(units_t.c.manager_id).where(units_t.c.id.in_(scope.units))
            field_managers = select(units_t.c.field_manager_id).where(units_t.c.id.in_(scope.units))
            user_stmt = user_stmt.where(
                or_(
                    users_t.c.id.in_(people),
                    users_t.c.id.in_(managers),
                    users_t.c.id.in_(field_managers),
                )
            )
        # An owner's figures have no owner field: they are theirs.
        owners = (
            []
            if scope.owner
            else conn.execute(user_stmt.order_by(users_t.c.name).limit(OWNER_CHOICES)).all()
        )
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


def _pct(value: float | None) -> str:
    return percent(value)


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{number(value, 1)} h"


def _num(value: int | float | None) -> str:
    """Numbers in the request's language (Babel): whole, or with two decimals."""
    if value is None:
        return "—"
    return number(value) if isinstance(value, int) else number(value, 2)


# Owner and unit tables show their largest rows; the CSV (and the API) have every row.
TABLE_ROWS = 12


def _viewing(scope: Scope) -> dict[str, Any]:
    """Whose figures the pages show: `mine` for an agent's own ("My figures")."""
    mine = scope.owner is not None
    return {"mine": mine, "page_name": N_("My figures") if mine else N_("Resolution dashboard")}


def _helpers() -> dict[str, Any]:
    return {
        "fmt_pct": _pct,
        "fmt_hours": _hours,
        "fmt_num": _num,
        "tables": TABLES,
        "table_limit": TABLE_ROWS,
    }


@router.get("/dashboard")
def dashboard(request: Request, report: DashboardReport, engine: EngineDep) -> Response:
    viewing = _viewing(report.scope)
    ctx: dict[str, Any] = {
        **viewing,
        "title": viewing["page_name"],
        "all_units": report.scope.units is None,
        "refused_header": REFUSED_HEADER,
        "form_oob": REFUSED_HEADER in request.headers,
    }
    if isinstance(report, RefusedFilters):
        errors = page_errors(report.errors)
        form = FilterForm(report.given, errors)
        ctx |= {"form": form, "errors": errors, "form_oob": True}
        ctx["options"] = _options(engine, report.scope, form.values.get("program"))
        return render(request, "dashboard.html", ctx | _helpers(), block="report", status=422)
    s = _summary(engine, report)
    links = Links(report.filters)
    sla = sla_summary(engine, report.filters, report.scope)  # the scope is checked above
    ctx |= {
        "sla": sla,
        "sla_chart": sla_chart(sla, links),
        "s": s,
        "f": report.filters,
        "form": FilterForm.of(report),
        "links": links,
        "charts": dashboard_charts(s, links),
        "kb_top": top_articles(engine, report.filters, report.scope),
        "options": _options(engine, report.scope, report.filters.program_id),
        "status_labels": STATUS_LABELS,
    }
    return render(request, "dashboard.html", ctx | _helpers(), block="report")


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
        if len(value) > 500:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        at, case_id = json.loads(raw)
        return datetime.fromisoformat(at), str(case_id)
    except Exception as exc:
        raise PageError(400, "Invalid page link", "That page link is not valid.") from exc


@router.get("/dashboard/cases")
def dashboard_cases(
    request: Request, report: ListReport, engine: EngineDep, after: str | None = None
) -> Response:
    position = decode_after(after) if after else None
    f, seg = report.filters, report.segment
    try:
        total = count_cases(engine, f, report.scope, seg)
        rows = list_cases(engine, f, report.scope, seg, limit=PAGE_SIZE + 1, after=position)
    except ReportForbidden as exc:
        raise not_allowed(str(exc)) from exc
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    links = Links(f)
    next_url = None
    if more and rows:
        last = rows[-1]
        next_url = links.case_list(seg, after=encode_after(last.created_at, last.id))
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
    viewing = _viewing(report.scope)
    page_name = viewing["page_name"]
    ctx = {
        **viewing,
        "title": gettext("Cases · %(page)s", page=gettext(page_name)),
        "age": AGE_BUCKETS[seg.age] if seg.age else None,
        "f": f,
        "rows": rows,
        "total": total,
        "description": describe(f, seg),
        "links": links,
        "csv_url": links.cases_csv(seg),
        "first_url": links.case_list(seg) if after else None,
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
def dashboard_cases_csv(report: CsvReport, engine: EngineDep) -> Response:
    """Streamed: rows are read through a server-side cursor while the download runs."""
    body = stream_case_csv(engine, report.filters, report.scope, report.segment)
    return _csv_response(body, _filename("cases", report.filters))


@router.get("/dashboard/tables/{name}.csv")
def dashboard_table_csv(name: str, report: CsvReport, engine: EngineDep) -> Response:
    if name not in TABLES:
        raise PageError(404, "Not found", f"There is no table called {name!r}.")
    s = _summary(engine, report)
    return _csv_response(
        stream_table_csv(s, name), _filename(name.replace("_", "-"), report.filters)
    )
