"""Who sees what, and the report's WHERE clause: filters, scope and a figure's segment as SQL.

The figures count with the same predicates that the drill-down lists filter by, so a number and
the list it links to always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, and_

from domain.permissions import Viewer
from domain.vocabulary import CaseStatus, ClosingStatus, RemeasureStatus, Role
from models.case import Case
from models.intake import Fyi
from services.reports.dialect import Dialect
from services.reports.filters import ReportFilters, Segment

CASES: Table = Case.__table__  # type: ignore[attr-defined]
FYIS: Table = Fyi.__table__  # type: ignore[attr-defined]
c = CASES.c

# The survey went out, whatever became of it.
SURVEYED = tuple(s for s in RemeasureStatus if s is not RemeasureStatus.NOT_APPLICABLE)


class ReportForbidden(Exception):
    """The viewer may not see these figures (shown as 403)."""


@dataclass(frozen=True)
class Scope:
    """The units whose cases the viewer may count; None means every unit."""

    units: tuple[str, ...] | None = None

    def allows_unit(self, unit_id: str) -> bool:
        return self.units is None or unit_id in self.units


EVERYTHING = Scope(None)


def scope_for(viewer: Viewer) -> Scope:
    """Admins see every unit, managers the units they manage (unit or field manager)."""
    if viewer.is_admin:
        return EVERYTHING
    if viewer.role == Role.MANAGER:
        return Scope(tuple(viewer.managed_units))
    raise ReportForbidden("The dashboard is for managers and admins.")


def check_scope(f: ReportFilters, scope: Scope) -> None:
    if f.unit_id and not scope.allows_unit(f.unit_id):
        raise ReportForbidden(f"You do not manage unit {f.unit_id}.")


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


def segment_conditions(seg: Segment) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if seg.status == "open":
        conds.append(c.is_open.is_(True))
    elif seg.status:
        conds.append(c.status == seg.status)
    if seg.closing:
        conds.append(is_resolved() if seg.closing == ClosingStatus.RESOLVED else is_unresolved())
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
    return conds


# ---------------------------------------------------------------- the report's WHERE clause


def base_conditions(
    dialect: Dialect, f: ReportFilters, scope: Scope, seg: Segment | None = None
) -> list[ColumnElement[bool]]:
    start, end = f.window()
    conds: list[ColumnElement[bool]] = [c.created_at >= start, c.created_at < end]
    if scope.units is not None:
        conds.append(c.unit_id.in_(scope.units))
    for column, value in (
        (c.program_id, f.program_id),
        (c.unit_id, f.unit_id),
        (c.channel, f.channel),
        (c.owner_id, f.owner_id),
    ):
        if value:
            conds.append(column == value)
    conds += [dialect.has_cause(c.root_causes, cause) for cause in f.root_causes]
    if seg is not None:
        conds += segment_conditions(seg)
    return conds


def fyi_conditions(f: ReportFilters, scope: Scope) -> list[ColumnElement[bool]]:
    """FYIs have no owner, channel or root cause: the dates, program, unit and scope only."""
    fc = FYIS.c
    start, end = f.window()
    conds: list[ColumnElement[bool]] = [fc.created_at >= start, fc.created_at < end]
    if scope.units is not None:
        conds.append(fc.unit_id.in_(scope.units))
    if f.program_id:
        conds.append(fc.program_id == f.program_id)
    if f.unit_id:
        conds.append(fc.unit_id == f.unit_id)
    return conds
