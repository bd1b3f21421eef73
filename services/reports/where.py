"""Who sees what, and the report's WHERE clause: filters, scope and a figure's segment as SQL.

The figures count with the same predicates that the drill-down lists filter by, so a number and
the list it links to always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Table, and_, false, or_, select, true

from domain.permissions import Viewer
from domain.vocabulary import OPEN_STATUSES, CaseStatus, ClosingStatus, RemeasureStatus, Role
from models.case import Case
from models.intake import Fyi
from services.reports.dialect import Dialect
from services.reports.filters import AGE_BUCKETS, ReportFilters, Segment

CASES: Table = Case.__table__  # type: ignore[attr-defined]
FYIS: Table = Fyi.__table__  # type: ignore[attr-defined]
c = CASES.c

# The survey went out, whatever became of it.
SURVEYED = tuple(s for s in RemeasureStatus if s is not RemeasureStatus.NOT_APPLICABLE)


class ReportForbidden(Exception):
    """The viewer may not see these figures (shown as 403)."""


@dataclass(frozen=True)
class Scope:
    """The cases the viewer may count: those of `units` (None means every unit) and, when
    `owner` is set, only the cases that person owns now."""

    units: tuple[str, ...] | None = None
    owner: str | None = None

    def allows_unit(self, unit_id: str) -> bool:
        return self.units is None or unit_id in self.units

    def allows_owner(self, owner_id: str) -> bool:
        return self.owner is None or owner_id == self.owner


EVERYTHING = Scope(None)


def scope_for(viewer: Viewer) -> Scope:
    """Admins see every unit, managers the units they manage (unit or field manager), agents
    the cases they own now (a case escalated away counts for its designee: the current owner)."""
    if viewer.is_admin:
        return EVERYTHING
    if viewer.role == Role.MANAGER:
        return Scope(tuple(viewer.managed_units))
    return Scope(owner=viewer.user_id)


def unit_in_scope(unit_id: ColumnElement[str], scope: Scope) -> ColumnElement[bool]:
    """`unit_id` is a unit the viewer's figures come from (for an owner: a unit of a case
    they own), for the units offered in the filter form and the report's default time zone."""
    if scope.units is not None:
        return unit_id.in_(scope.units)
    if scope.owner is not None:
        return unit_id.in_(select(c.unit_id).where(c.owner_id == scope.owner).distinct())
    return true()


def check_scope(f: ReportFilters, scope: Scope) -> None:
    """A filter naming what the viewer may not see is refused, never silently emptied (unit,
    program and channel filters only narrow an owner's own cases)."""
    if f.unit_id and not scope.allows_unit(f.unit_id):
        raise ReportForbidden(f"You do not manage unit {f.unit_id}.")
    if f.owner_id and not scope.allows_owner(f.owner_id):
        raise ReportForbidden("Your figures are those of the cases you own, not another owner's.")


# ---------------------------------------------------------------- predicates (figures = lists)


def is_closed() -> ColumnElement[bool]:
    return c.status == CaseStatus.CLOSED


def is_resolved() -> ColumnElement[bool]:
    return and_(is_closed(), c.closing_status == ClosingStatus.RESOLVED)


def is_unresolved() -> ColumnElement[bool]:
    return and_(is_closed(), c.closing_status == ClosingStatus.UNRESOLVED)


def went_overdue() -> ColumnElement[bool]:
    return c.went_overdue.is_(True)


def is_escalated() -> ColumnElement[bool]:
    return c.escalation_level > 0


def sla_met() -> ColumnElement[bool]:
    return and_(is_closed(), c.went_overdue.is_(False))


def sla_missed() -> ColumnElement[bool]:
    return and_(is_closed(), went_overdue())


def surveyed() -> ColumnElement[bool]:
    return c.remeasure_status.in_(SURVEYED)


def answered() -> ColumnElement[bool]:
    return c.remeasure_status == RemeasureStatus.ANSWERED


def recovered() -> ColumnElement[bool]:
    return and_(answered(), c.recovery_failed.is_(False))


def recovery_failed() -> ColumnElement[bool]:
    return and_(answered(), c.recovery_failed.is_(True))


def has_first_action() -> ColumnElement[bool]:
    return c.first_action_at.is_not(None)


def closed_with_time() -> ColumnElement[bool]:
    return and_(is_closed(), c.closed_at.is_not(None))


def not_merged() -> ColumnElement[bool]:
    """Not a duplicate merged into another case: a merged pair counts once, as its primary."""
    return or_(c.closing_status.is_(None), c.closing_status != ClosingStatus.MERGED)


def is_open_now() -> ColumnElement[bool]:
    """`is_open`, spelled so that the (status, created_at) index serves it."""
    return c.status.in_(OPEN_STATUSES)


def opened_ago(key: str, now: datetime) -> ColumnElement[bool]:
    """Opened within the age bucket `key` before `now` (one stamped after `now`: under a day)."""
    bucket = AGE_BUCKETS[key]
    conds = []
    if bucket.min_days:
        conds.append(c.created_at <= now - timedelta(days=bucket.min_days))
    if bucket.max_days is not None:
        conds.append(c.created_at > now - timedelta(days=bucket.max_days))
    return and_(*conds)


def segment_conditions(seg: Segment) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if seg.status == "open":
        conds.append(c.is_open.is_(True))
    elif seg.status:
        conds.append(c.status == seg.status)
    if seg.closing:
        # Any closing status, "erased_on_request" too (services/gdpr.py): exactly that one.
        conds.append(and_(is_closed(), c.closing_status == seg.closing))
    if seg.overdue is not None:
        conds.append(went_overdue() if seg.overdue else c.went_overdue.is_(False))
    if seg.escalated is not None:
        conds.append(is_escalated() if seg.escalated else c.escalation_level == 0)
    if seg.sla:
        conds.append(sla_met() if seg.sla == "met" else sla_missed())
    if seg.remeasure:
        conds.append(
            surveyed() if seg.remeasure == "surveyed" else c.remeasure_status == seg.remeasure
        )
    if seg.recovery:
        conds.append(recovered() if seg.recovery == "recovered" else recovery_failed())
    if seg.reopened is not None:
        conds.append(c.reopened_count > 0 if seg.reopened else c.reopened_count == 0)
    if seg.acted is not None:
        conds.append(has_first_action() if seg.acted else c.first_action_at.is_(None))
    if seg.response:
        conds.append(c.sla_first_response_met.is_(seg.response == "met"))
    if seg.resolution:
        conds.append(c.sla_resolution_met.is_(seg.resolution == "met"))
    if seg.breached_by:
        conds.append(breached_by(seg.breached_by))
    return conds


def breached_by(owner_id: str) -> ColumnElement[bool]:
    """A deadline of the case passed on `owner_id`'s watch (the owner then, domain/sla.py)."""
    return or_(
        c.sla_first_response_breach_owner == owner_id, c.sla_resolution_breach_owner == owner_id
    )


# ---------------------------------------------------------------- the report's WHERE clause


def base_conditions(
    dialect: Dialect,
    f: ReportFilters,
    scope: Scope,
    seg: Segment | None = None,
    *,
    now: datetime | None = None,
) -> list[ColumnElement[bool]]:
    """The report's cases: created on its dates (an age segment: open now and that old,
    whatever the dates), matching its filters, in the viewer's scope, in the figure's segment."""
    conds: list[ColumnElement[bool]]
    if seg is not None and seg.age:
        conds = [is_open_now(), opened_ago(seg.age, now or datetime.now(UTC))]
    else:
        start, end = f.window()
        conds = [c.created_at >= start, c.created_at < end]
    conds += filter_conditions(dialect, f, scope)
    if seg is not None:
        conds += segment_conditions(seg)
    return conds


def filter_conditions(
    dialect: Dialect, f: ReportFilters, scope: Scope
) -> list[ColumnElement[bool]]:
    """The filters but the dates, and the scope; never a merged duplicate."""
    conds: list[ColumnElement[bool]] = [not_merged()]
    if scope.units is not None:
        conds.append(c.unit_id.in_(scope.units))
    if scope.owner is not None:
        conds.append(c.owner_id == scope.owner)
    for column, value in (
        (c.program_id, f.program_id),
        (c.unit_id, f.unit_id),
        (c.channel, f.channel),
        (c.owner_id, f.owner_id),
    ):
        if value:
            conds.append(column == value)
    conds += [dialect.has_cause(c.root_causes, cause) for cause in f.root_causes]
    return conds


def fyi_conditions(f: ReportFilters, scope: Scope) -> list[ColumnElement[bool]]:
    """FYIs have no owner, channel or root cause: the dates, program, unit and scope only (an
    owner's figures have none: nobody owns an FYI)."""
    fc = FYIS.c
    start, end = f.window()
    conds: list[ColumnElement[bool]] = [fc.created_at >= start, fc.created_at < end]
    if scope.units is not None:
        conds.append(fc.unit_id.in_(scope.units))
    if scope.owner is not None:
        conds.append(false())
    if f.program_id:
        conds.append(fc.program_id == f.program_id)
    if f.unit_id:
        conds.append(fc.unit_id == f.unit_id)
    return conds
