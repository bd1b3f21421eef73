"""The dashboard's links and words: every URL keeps the report's filters (written by the filter
model's own `query()`), and a case list says in words which cases it holds."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from domain.vocabulary import ClosingStatus, RemeasureStatus
from models.reports import TrendPoint
from services.reports import AGE_BUCKETS, CHANNEL_LABELS, STATUS_LABELS, ReportFilters, Segment


class Links:
    """URLs for the report's figures; every one keeps the report's filters."""

    def __init__(self, f: ReportFilters) -> None:
        self.f = f
        self.base = f.query()

    def _url(self, path: str, params: list[tuple[str, str]]) -> str:
        return path + ("?" + urlencode(params) if params else "")

    def cases(self, **segment: Any) -> str:
        return self._url("/dashboard/cases", self.base + Segment(**segment).query())

    def cause(self, cause: str, **segment: Any) -> str:
        extra = [] if cause in self.f.root_causes else [("cause", cause)]
        return self._url("/dashboard/cases", self.base + extra + Segment(**segment).query())

    def where(self, _key: str, _value: str, **segment: Any) -> str:
        """The list narrowed to one owner / unit / channel (replacing that filter)."""
        params = [(k, v) for k, v in self.base if k != _key] + [(_key, _value)]
        return self._url("/dashboard/cases", params + Segment(**segment).query())

    def where_owner(self, owner_id: str, **segment: Any) -> str:
        return self.where("owner", owner_id, **segment)

    def where_unit(self, unit_id: str, **segment: Any) -> str:
        return self.where("unit", unit_id, **segment)

    def period(self, point: TrendPoint, **segment: Any) -> str:
        params = [(k, v) for k, v in self.base if k not in ("from", "to")]
        params += [("from", point.start.isoformat()), ("to", point.end.isoformat())]
        return self._url("/dashboard/cases", params + Segment(**segment).query())

    def case_list(self, segment: Segment, **extra: str) -> str:
        return self._url("/dashboard/cases", self.base + segment.query() + list(extra.items()))

    def cases_csv(self, segment: Segment | None = None) -> str:
        return self._url("/dashboard/cases.csv", self.base + (segment or Segment()).query())

    def table(self, name: str) -> str:
        return self._url(f"/dashboard/tables/{name}.csv", self.base)

    def dashboard(self) -> str:
        return self._url("/dashboard", self.base)


SEGMENT_TEXT = {
    ("status", "open"): "open",
    ("closing", ClosingStatus.RESOLVED): "closed as resolved",
    ("closing", ClosingStatus.UNRESOLVED): "closed as unresolved",
    ("closing", ClosingStatus.ERASED): "closed as erased on request",
    ("sla", "met"): "closed within SLA",
    ("sla", "missed"): "closed after missing a deadline",
    ("remeasure", "surveyed"): "customer surveyed",
    ("remeasure", RemeasureStatus.ANSWERED): "survey answered",
    ("remeasure", RemeasureStatus.EXPIRED): "survey expired",
    ("remeasure", RemeasureStatus.PENDING): "survey pending",
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
    for name, value in seg.query():
        if name == "status" and value != "open":
            parts.append(STATUS_LABELS.get(value, value).lower())
        elif name == "age":
            parts.append(f"open now for {AGE_BUCKETS[value].label.lower()}")
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
