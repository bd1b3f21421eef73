"""The customer resolution dashboard: every figure computed by SQL aggregates on the read model.

The package, by reason to change:

- `filters` — what a report counts: the filter model and a figure's segment, read from and
  written back to query strings (one parse for the page, the case lists, the CSV and the API);
- `where` — who sees what (`Scope`) and the filters as SQL predicates;
- `dialect` — the SQL that differs between PostgreSQL and SQLite;
- `queries` — the summary's aggregate queries (on one snapshot) and the case lists;
- `figures` — the counts and sums turned into the `ReportSummary`, and the labels;
- `exports` — the CSV downloads.

Definitions (shared by the figures and the drill-down lists, so a number and the list it links to
always agree — see `Segment`):

- a case belongs to the report when it was *created* within the local dates [from, to] of the
  report's time zone, matches the filters, and is in the viewer's scope: every unit for an
  admin, the units they manage for a manager, the cases they own now for an agent ("My
  figures"; a case escalated away counts for the designee who holds it);
- open cases by age: open now, by whole days since created on the wall clock (under 1, 1 to 3,
  3 to 5, 5 or more), whatever the report's dates (the other filters and the scope apply), so a
  backlog does not drop out of the chart by growing old;
- time to close: created -> closed, closed cases; time to first action: created -> first owner
  action (closing counts as one), cases with an action;
- went overdue: any deadline was missed (open or resolve); escalated: escalation level > 0;
- SLA met: a closed case that never went overdue; the % is of closed cases;
- root-cause frequencies and closing status by root cause count *closed* cases (a case citing two
  causes counts once for each); remeasurement by root cause counts every surveyed case, including
  one reopened after a failed recovery (it keeps the root causes of its failed close);
- remeasurement: surveyed = answered + expired + pending; response rate = answered / surveyed;
  average satisfaction over answered surveys; *recovered* = answered, the customer says the issue
  is resolved and the score is above the program's low-score threshold (exactly the workflow's
  `recovery_failed` flag, false); recovery rate = recovered / answered. The figures describe each
  case's latest survey round;
- by owner means the current owner (after escalation, the designee who holds the case);
- FYIs follow the date, program and unit filters and the scope (they have no owner, channel or
  root cause).

SLA accounting (`sla`: the dashboard's SLA section; the case CSV's columns) aggregates the
projection's `sla_*` columns, every figure defined in `domain/sla.py`: met % is of the cases whose
verdict is decided (met + breached); medians are over the cases measured; breaches by owner count
the owner when the deadline passed, not the owner now.

Business hours come from the projection's `business_minutes_to_close` and
`business_minutes_to_first_action` columns, computed on each case's own calendar (opening hours,
holidays, time zone) by `activities.calendar.business_minutes`.
"""

from services.reports.dialect import offset_changes
from services.reports.exports import TABLES, csv_cell, stream_case_csv, stream_table_csv
from services.reports.figures import CHANNEL_LABELS, STATUS_LABELS, summary
from services.reports.filters import AGE_BUCKETS, ReportFilters, ReportInvalid, Segment, zone
from services.reports.queries import count_cases, list_cases
from services.reports.where import EVERYTHING, ReportForbidden, Scope, scope_for, unit_in_scope

__all__ = [
    "AGE_BUCKETS",
    "CHANNEL_LABELS",
    "EVERYTHING",
    "STATUS_LABELS",
    "TABLES",
    "ReportFilters",
    "ReportForbidden",
    "ReportInvalid",
    "Scope",
    "Segment",
    "count_cases",
    "csv_cell",
    "list_cases",
    "offset_changes",
    "scope_for",
    "stream_case_csv",
    "stream_table_csv",
    "summary",
    "unit_in_scope",
    "zone",
]
