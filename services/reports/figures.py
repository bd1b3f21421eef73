"""The summary: the queries' counts and sums turned into the dashboard's figures.

Python only divides: counts into percentages, sums into averages, seconds into hours; a figure
with nothing to compute it from is None (never a misleading 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from domain.vocabulary import CaseStatus, Channel
from models.reports import (
    AgeRow,
    CaseCounts,
    ClosingStats,
    CountRow,
    DeadlineStats,
    DurationStats,
    FiltersOut,
    FyiRow,
    FyiStats,
    RemeasureRow,
    RemeasureStats,
    ReportSummary,
    RootCauseRow,
    SlaRow,
    SlaStats,
    Trend,
    TrendPoint,
)
from services.reports.filters import AGE_BUCKETS, ReportFilters
from services.reports.queries import names, summary_rows
from services.reports.where import Scope

CHANNEL_LABELS: dict[str, str] = {
    Channel.CONTACT_CENTER: "Contact center",
    Channel.LOCATION_SURVEY: "Location survey",
    Channel.DIGITAL_CONTACT_CARD: "Contact card",
    Channel.SOCIAL_MEDIA: "Social media",
    Channel.EMAIL: "Email",
    Channel.WEB_FORM: "Web form",
    Channel.CHAT: "Chat",
    Channel.PHONE: "Phone",
}
STATUS_LABELS: dict[str, str] = {
    CaseStatus.NEW: "New",
    CaseStatus.IN_PROGRESS: "In progress",
    CaseStatus.OVERDUE: "Overdue",
    CaseStatus.CLOSED: "Closed",
}


def channel_label(key: str) -> str:
    return CHANNEL_LABELS.get(key, key.replace("_", " ").capitalize())


def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600.0, 2)


def _business_hours(minutes: float | None) -> float | None:
    return None if minutes is None else round(minutes / 60.0, 2)


@dataclass
class Tally:
    """The figures of a group of cases: one row of `queries.figure_columns`."""

    n: int = 0
    status: dict[str, int] = field(default_factory=dict)
    resolved: int = 0
    unresolved: int = 0
    went_overdue: int = 0
    sla_met: int = 0
    answered: int = 0
    expired: int = 0
    pending: int = 0
    score_sum: float = 0.0
    recovered: int = 0
    failed: int = 0
    escalated: int = 0
    reopened: int = 0
    close_n: int = 0
    close_sum: float = 0.0
    first_n: int = 0
    first_sum: float = 0.0
    biz_close_n: int = 0
    biz_close_sum: float = 0.0
    biz_first_n: int = 0
    biz_first_sum: float = 0.0

    @property
    def closed(self) -> int:
        return self.status.get(CaseStatus.CLOSED, 0)

    @property
    def surveyed(self) -> int:
        return self.answered + self.expired + self.pending

    @classmethod
    def of(cls, r: Any) -> Tally:
        """One row of `figure_columns`, read by column label (a column left out reads 0)."""
        m = r._mapping
        values: dict[str, Any] = {
            f.name: (float if isinstance(f.default, float) else int)(m.get(f.name) or 0)
            for f in fields(cls)
            if f.name != "status"
        }
        values["status"] = {s.value: int(m.get(s.value) or 0) for s in CaseStatus}
        return cls(**values)

    def remeasure(self) -> RemeasureStats:
        return RemeasureStats(
            surveyed=self.surveyed,
            answered=self.answered,
            expired=self.expired,
            pending=self.pending,
            response_rate=pct(self.answered, self.surveyed),
            avg_satisfaction=round(self.score_sum / self.answered, 2) if self.answered else None,
            recovered=self.recovered,
            failed=self.failed,
            recovery_rate=pct(self.recovered, self.answered),
        )

    def sla(self) -> SlaStats:
        return SlaStats(
            closed=self.closed,
            met=self.sla_met,
            missed=self.closed - self.sla_met,
            met_pct=pct(self.sla_met, self.closed),
        )

    def durations(
        self, medians: dict[str, float | None], key: str, approximate: bool = False
    ) -> DurationStats:
        """Time to close (`close`) or to first action (`first`): wall-clock and business."""
        n, total = getattr(self, f"{key}_n"), getattr(self, f"{key}_sum")
        biz_n, biz_total = getattr(self, f"biz_{key}_n"), getattr(self, f"biz_{key}_sum")
        return DurationStats(
            cases=n,
            avg_hours=_hours(total / n) if n else None,
            median_hours=_hours(medians.get(key)),
            avg_business_hours=_business_hours(biz_total / biz_n) if biz_n else None,
            median_business_hours=_business_hours(medians.get(f"biz_{key}")),
            median_approximate=approximate,
        )


def summary(
    engine: Engine, f: ReportFilters, scope: Scope, *, now: datetime | None = None
) -> ReportSummary:
    """Every figure of the dashboard for these filters and this viewer's scope; the ages of
    open cases are taken at `now` (default: the wall clock)."""
    now = now or datetime.now(UTC)
    got = summary_rows(engine, f, scope, now)
    g = got.groups
    o = Tally.of(g["all"][0])
    buckets = {got.bucket_day(r.bucket): Tally.of(r) for r in g["bucket"]}
    owners = {r.owner: Tally.of(r) for r in g["owner"]}
    units = {r.unit: Tally.of(r) for r in g["unit"]}
    by_channel = sorted(g["channel"], key=lambda r: (-r.n, r.channel))
    cause_tallies = {r.key: Tally.of(r) for r in got.causes}
    owner_names, unit_names = names(engine, set(owners), set(units) | {r.unit_id for r in got.fyis})
    fyis = sorted(
        (
            FyiRow(
                unit_id=r.unit_id,
                label=unit_names.get(r.unit_id, r.unit_id),
                compliments=r.compliments,
                suggestions=r.suggestions,
                total=r.total,
            )
            for r in got.fyis
        ),
        key=lambda r: (-r.total, r.label),
    )
    closed = o.closed
    return ReportSummary(
        filters=FiltersOut(
            **f.model_dump(exclude={"bucket"}),
            bucket=f.trend_bucket,
            units_in_scope=None if scope.units is None else list(scope.units),
        ),
        generated_at=now,
        cases=CaseCounts(total=o.n, open=o.n - closed, **o.status),
        by_channel=[
            CountRow(key=r.channel, label=channel_label(r.channel), count=r.n, pct=pct(r.n, o.n))
            for r in by_channel
        ],
        closing=ClosingStats(
            closed=closed,
            resolved=o.resolved,
            unresolved=o.unresolved,
            resolved_pct=pct(o.resolved, closed),
            unresolved_pct=pct(o.unresolved, closed),
        ),
        deadlines=DeadlineStats(
            went_overdue=o.went_overdue,
            went_overdue_pct=pct(o.went_overdue, o.n),
            escalated=o.escalated,
            escalated_pct=pct(o.escalated, o.n),
            reopened=o.reopened,
        ),
        time_to_close=o.durations(got.medians, "close", got.approximate),
        time_to_first_action=o.durations(got.medians, "first", got.approximate),
        root_causes=sorted(
            (
                RootCauseRow(
                    root_cause=key,
                    closed=t.closed,
                    pct_of_closed=pct(t.closed, closed),
                    resolved=t.resolved,
                    unresolved=t.unresolved,
                    resolved_pct=pct(t.resolved, t.closed),
                )
                for key, t in cause_tallies.items()
                if t.closed
            ),
            key=lambda r: (-r.closed, r.root_cause),
        ),
        remeasure=o.remeasure(),
        remeasure_by_root_cause=_remeasure_rows(cause_tallies, {}),
        remeasure_by_owner=_remeasure_rows(owners, owner_names),
        remeasure_by_unit=_remeasure_rows(units, unit_names),
        sla=o.sla(),
        sla_by_owner=_sla_rows(owners, owner_names),
        sla_by_unit=_sla_rows(units, unit_names),
        trend=_trend(f, buckets),
        fyi=FyiStats(total=sum(r.total for r in fyis), by_unit=fyis),
        open_by_age=[
            AgeRow(
                key=key,
                label=b.label,
                min_days=b.min_days,
                max_days=b.max_days,
                open=got.ages[key],
            )
            for key, b in AGE_BUCKETS.items()
        ],
    )


def _remeasure_rows(tallies: dict[str, Tally], names: dict[str, str]) -> list[RemeasureRow]:
    out = [
        RemeasureRow(key=key, label=names.get(key, key), **t.remeasure().model_dump())
        for key, t in tallies.items()
        if t.surveyed
    ]
    return sorted(out, key=lambda r: (-r.surveyed, r.label))


def _sla_rows(tallies: dict[str, Tally], names: dict[str, str]) -> list[SlaRow]:
    out = [
        SlaRow(key=key, label=names.get(key, key), **t.sla().model_dump())
        for key, t in tallies.items()
        if t.closed
    ]
    return sorted(out, key=lambda r: (-r.closed, r.label))


def _trend(f: ReportFilters, buckets: dict[date, Tally]) -> Trend:
    """Every bucket of the range (empty ones too), from the overview's per-bucket tallies."""
    step = timedelta(days=1 if f.trend_bucket == "day" else 7)
    points = []
    for at in f.bucket_starts():
        t = buckets.get(at, Tally())
        points.append(
            TrendPoint(
                start=max(at, f.date_from),
                end=min(at + step - timedelta(days=1), f.date_to),
                opened=t.n,
                closed=t.closed,
                resolved=t.resolved,
                went_overdue=t.went_overdue,
            )
        )
    return Trend(bucket=f.trend_bucket, points=points)
