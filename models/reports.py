"""The customer resolution dashboard's figures: one schema for the page, the CSV tables and the API.

Counts are exact integers; percentages are 0-100 with one decimal; durations are hours with two
decimals; `None` means "no case to compute it from" (never a misleading 0).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Bucket = Literal["day", "week"]


class FiltersOut(BaseModel):
    """The filters the figures were computed for (dates are local dates in `tz`, inclusive)."""

    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    tz: str
    program_id: str | None = None
    unit_id: str | None = None
    channel: str | None = None
    owner_id: str | None = None
    root_causes: list[str] = Field(default_factory=list)
    bucket: Bucket = "day"
    units_in_scope: list[str] | None = Field(
        default=None, description="The units the viewer may see; null means every unit"
    )


class CaseCounts(BaseModel):
    total: int = 0
    open: int = 0
    new: int = 0
    in_progress: int = 0
    overdue: int = 0
    closed: int = 0


class CountRow(BaseModel):
    key: str
    label: str
    count: int
    pct: float | None = Field(default=None, description="Share of all cases in the report")


class ClosingStats(BaseModel):
    closed: int = 0
    resolved: int = 0
    unresolved: int = 0
    resolved_pct: float | None = Field(default=None, description="Share of closed cases")
    unresolved_pct: float | None = None


class DeadlineStats(BaseModel):
    went_overdue: int = 0
    went_overdue_pct: float | None = Field(default=None, description="Share of all cases")
    escalated: int = 0
    escalated_pct: float | None = None
    reopened: int = 0


class DurationStats(BaseModel):
    cases: int = 0
    avg_hours: float | None = None
    median_hours: float | None = None
    avg_business_hours: float | None = Field(
        default=None,
        description="On each case's own business calendar (opening hours, holidays, time zone)",
    )
    median_business_hours: float | None = None
    median_approximate: bool = Field(
        default=False,
        description="The medians are estimated from the daily rollups' histograms (within "
        "19 % of the exact value); counts, sums and averages are exact",
    )


class RootCauseRow(BaseModel):
    root_cause: str
    closed: int = Field(description="Closed cases citing this root cause")
    pct_of_closed: float | None = Field(
        default=None, description="Share of closed cases (a case may cite several causes)"
    )
    resolved: int
    unresolved: int
    resolved_pct: float | None = None


class RemeasureStats(BaseModel):
    surveyed: int = Field(default=0, description="Cases whose customer was sent the survey")
    answered: int = 0
    expired: int = 0
    pending: int = 0
    response_rate: float | None = Field(
        default=None, description="answered / (answered + expired + pending), in %"
    )
    avg_satisfaction: float | None = Field(default=None, description="1-5, answered surveys")
    recovered: int = Field(
        default=0,
        description="Answered: issue resolved and score above the program's low-score threshold",
    )
    failed: int = 0
    recovery_rate: float | None = Field(default=None, description="recovered / answered, in %")


class RemeasureRow(RemeasureStats):
    key: str
    label: str


class SlaStats(BaseModel):
    closed: int = 0
    met: int = Field(default=0, description="Closed without ever missing a deadline")
    missed: int = 0
    met_pct: float | None = None


class SlaRow(SlaStats):
    key: str
    label: str


class TrendPoint(BaseModel):
    start: date
    end: date = Field(description="Last local date of the bucket (inclusive)")
    opened: int = 0
    closed: int = Field(default=0, description="Of the cases opened in the bucket")
    resolved: int = 0
    went_overdue: int = 0


class Trend(BaseModel):
    bucket: Bucket
    points: list[TrendPoint] = Field(default_factory=list)


class AgeRow(BaseModel):
    """Cases open now, opened at least `min_days` and fewer than `max_days` whole days ago."""

    key: str
    label: str
    min_days: int
    max_days: int | None = Field(default=None, description="null: no upper limit")
    open: int = 0


class FyiRow(BaseModel):
    unit_id: str
    label: str
    compliments: int = 0
    suggestions: int = 0
    total: int = 0


class FyiStats(BaseModel):
    total: int = 0
    by_unit: list[FyiRow] = Field(default_factory=list)


class ReportSummary(BaseModel):
    filters: FiltersOut
    generated_at: datetime
    cases: CaseCounts
    by_channel: list[CountRow]
    closing: ClosingStats
    deadlines: DeadlineStats
    time_to_close: DurationStats
    time_to_first_action: DurationStats
    root_causes: list[RootCauseRow]
    remeasure: RemeasureStats
    remeasure_by_root_cause: list[RemeasureRow]
    remeasure_by_owner: list[RemeasureRow]
    remeasure_by_unit: list[RemeasureRow]
    sla: SlaStats
    sla_by_owner: list[SlaRow]
    sla_by_unit: list[SlaRow]
    trend: Trend
    fyi: FyiStats
    open_by_age: list[AgeRow] = Field(
        description="Cases open at `generated_at` by days since opened (wall clock), whatever "
        "the dates: the other filters and the scope apply"
    )
