"""The dashboard's links and words: every URL keeps the report's filters (written by the filter
model's own `query()`), and a case list says in words which cases it holds."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from domain.vocabulary import ClosingStatus, RemeasureStatus
from models.reports import TrendPoint
from services.reports import AGE_BUCKETS, CHANNEL_LABELS, STATUS_LABELS, ReportFilters, Segment
from web.i18n import N_, gettext


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
    ("status", "open"): N_("open"),
    ("closing", ClosingStatus.RESOLVED): N_("closed as resolved"),
    ("closing", ClosingStatus.UNRESOLVED): N_("closed as unresolved"),
    ("closing", ClosingStatus.ERASED): N_("closed as erased on request"),
    ("sla", "met"): N_("closed within SLA"),
    ("sla", "missed"): N_("closed after missing a deadline"),
    ("remeasure", "surveyed"): N_("customer surveyed"),
    ("remeasure", RemeasureStatus.ANSWERED): N_("survey answered"),
    ("remeasure", RemeasureStatus.EXPIRED): N_("survey expired"),
    ("remeasure", RemeasureStatus.PENDING): N_("survey pending"),
    ("recovery", "recovered"): N_("recovered"),
    ("recovery", "failed"): N_("recovery failed"),
    ("overdue", "1"): N_("went overdue"),
    ("overdue", "0"): N_("never overdue"),
    ("escalated", "1"): N_("escalated"),
    ("escalated", "0"): N_("not escalated"),
    ("reopened", "1"): N_("reopened"),
    ("reopened", "0"): N_("never reopened"),
    ("acted", "1"): N_("with a first action"),
    ("acted", "0"): N_("without any action"),
    ("response", "met"): N_("first response within its deadline"),
    ("response", "breached"): N_("first response deadline breached"),
    ("resolution", "met"): N_("resolved within its deadline"),
    ("resolution", "breached"): N_("resolution deadline breached"),
}


def describe(f: ReportFilters, seg: Segment) -> list[str]:
    """What a case list shows, in words (in the request's language)."""
    parts = []
    for name, value in seg.query():
        if name == "status" and value != "open":
            parts.append(gettext(STATUS_LABELS.get(value, value)).lower())
        elif name == "age":
            age = gettext(AGE_BUCKETS[value].label).lower()
            parts.append(gettext("open now for %(age)s", age=age))
        elif name == "breached_by":
            parts.append(gettext("a deadline breached on %(id)s's watch", id=value))
        elif (name, value) in SEGMENT_TEXT:
            parts.append(gettext(SEGMENT_TEXT[(name, value)]))
        else:
            parts.append(f"{name} {value}")
    if f.program_id:
        parts.append(gettext("program %(id)s", id=f.program_id))
    if f.unit_id:
        parts.append(gettext("unit %(id)s", id=f.unit_id))
    if f.channel:
        channel = gettext(CHANNEL_LABELS.get(f.channel, f.channel))
        parts.append(gettext("channel %(name)s", name=channel))
    if f.owner_id:
        parts.append(gettext("owner %(id)s", id=f.owner_id))
    parts += [gettext("root cause %(cause)s", cause=cause) for cause in f.root_causes]
    return parts
