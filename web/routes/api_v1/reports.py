"""Reports for BI tools: the dashboard's figures as JSON (scope `reports:read`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from models.reports import ReportSummary
from services.reports import (
    DEFAULT_RANGE_DAYS,
    EVERYTHING,
    ReportFilters,
    ReportInvalid,
    default_filters,
    summary,
)
from web.api_auth import AUTH_PROBLEMS, ReportsRead
from web.deps import EngineDep
from web.problems import PROBLEM_JSON, Problem

router = APIRouter(
    prefix="/reports",
    tags=["reports"],
    responses={
        **AUTH_PROBLEMS,
        422: {"description": "Invalid filter", "content": {PROBLEM_JSON: {}}},
    },
)

Text = Annotated[str | None, Query(max_length=64)]
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


@router.get("/summary", response_model=ReportSummary, response_model_by_alias=True)
def report_summary(
    _client: ReportsRead,
    engine: EngineDep,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    tz: Annotated[str, Query(max_length=64)] = "UTC",
    program: Text = None,
    unit: Text = None,
    channel: Annotated[str | None, Query(max_length=40)] = None,
    owner: Text = None,
    cause: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006 (FastAPI copies it)
    bucket: Literal["auto", "day", "week"] = "auto",
) -> ReportSummary:
    """The customer resolution dashboard's figures for cases created from `from` to `to`.

    `from` and `to` are local dates (inclusive) in `tz` (IANA name, default UTC); without them
    the last 30 days. `cause` may repeat: cases citing every one of them. Every unit is counted
    (an API client is not a person with units). Definitions: see the dashboard's documentation
    in `services/reports.py`; `null` means there was nothing to compute a figure from.
    """
    try:
        for name, day in (("from", date_from), ("to", date_to)):
            if day is not None and not EARLIEST <= day <= LATEST:
                raise ReportInvalid(name, "choose a date between 2000-01-01 and 2100-12-31")
        if any(len(c) > 200 for c in cause):
            raise ReportInvalid("cause", "A root cause is at most 200 characters")
        if date_from is None and date_to is None:
            start, end = default_filters(tz).date_from, default_filters(tz).date_to
        elif date_from is None:
            assert date_to is not None
            start, end = date_to - timedelta(days=DEFAULT_RANGE_DAYS - 1), date_to
        else:
            start = date_from
            end = date_to if date_to is not None else max(default_filters(tz).date_to, date_from)
        filters = ReportFilters(
            date_from=start,
            date_to=end,
            tz=tz,
            program_id=program or None,
            unit_id=unit or None,
            channel=channel or None,
            owner_id=owner or None,
            root_causes=tuple(dict.fromkeys(c for c in cause if c)),
            bucket=bucket,
        )
    except ReportInvalid as exc:
        raise Problem(
            422, "Invalid request", f"{exc.field}: {exc.message}", field=exc.field
        ) from exc
    return summary(engine, filters, EVERYTHING)
