"""What an inbox row says about its deadline, on the case's business calendar (the program's
calendar on its unit's time zone and holidays: services.configuration.policy_for)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlmodel import Session

from domain.calendar import BusinessCalendar
from domain.deadlines import business_hours_late, missed_deadline
from domain.policy import CalendarSpec, DayHours
from domain.vocabulary import CaseStatus
from services.configuration import load_program, load_unit, policy_for


@dataclass(frozen=True)
class RowDue:
    text: str  # "3 business hours past due", "5 hours to resolve", "Closed · resolved"
    urgency: str  # past | soon | ok | none | closed | paused (the row's and the cell's style)
    # For a late case whose next deadline lies ahead: "resolve within 5 hours"; for a case
    # waiting on the customer: when it resumes by itself ("resumes Thu 09:00").
    detail: str = ""


class Words(Protocol):
    """The reader's language (a gettext catalog: web passes the request's); English without.
    The strings in the calls below are extracted into the pages' catalog (babel.cfg)."""

    def gettext(self, message: str, /) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int, /) -> str: ...


class English:
    def gettext(self, message: str, /) -> str:
        return message

    def ngettext(self, singular: str, plural: str, n: int, /) -> str:
        return singular if n == 1 else plural


ENGLISH = English()


def span(delta: timedelta, tr: Words = ENGLISH) -> str:
    """A duration for people: minutes under an hour, else whole hours."""
    seconds = abs(delta.total_seconds())
    if seconds < 3600:
        minutes = max(1, int(seconds // 60))
        return tr.ngettext("%(num)d minute", "%(num)d minutes", minutes) % {"num": minutes}
    hours = int(seconds // 3600)
    return tr.ngettext("%(num)d hour", "%(num)d hours", hours) % {"num": hours}


def late_text(hours: int, tr: Words = ENGLISH) -> str:
    if hours < 1:
        return tr.gettext("Under 1 business hour past due")
    return tr.ngettext(
        "%(num)d business hour past due", "%(num)d business hours past due", hours
    ) % {"num": hours}


def closed_text(closing_status: str | None, tr: Words = ENGLISH) -> str:
    """ "Closed", or "Closed · resolved" (the closing status in the reader's words)."""
    how = (closing_status or "").replace("_", " ")
    return tr.gettext("Closed") + (f" · {tr.gettext(how)}" if how else "")


def to_goal(left: str, first_contact: bool, tr: Words = ENGLISH) -> str:
    """ "5 hours to resolve" / "30 minutes to first contact"."""
    if first_contact:
        return tr.gettext("%(left)s to first contact") % {"left": left}
    return tr.gettext("%(left)s to resolve") % {"left": left}


def _missed(case: Any, now: datetime) -> datetime | None:
    if not case.is_open:
        return None
    missed = missed_deadline(
        status=case.status,
        open_due_at=case.open_due_at,
        open_breached=bool(case.open_breached),
        resolve_due_at=case.resolve_due_at,
        resolve_breached=bool(case.resolve_breached),
        now=now,
    )
    due = case.next_due_at
    return due if missed is None and due is not None and due <= now else missed


def paused_text(
    since: datetime, resumes: datetime | None, tz: Any, now: datetime, tr: Words = ENGLISH
) -> RowDue:
    """A case waiting on the customer: "Paused 2 hours", "resumes Thu 09:00" (local time)."""
    detail = ""
    if resumes is not None:
        detail = tr.gettext("resumes %(when)s") % {"when": f"{resumes.astimezone(tz):%a %H:%M}"}
    return RowDue(tr.gettext("Paused %(span)s") % {"span": span(now - since, tr)}, "paused", detail)


def row_due(
    case: Any, calendar: BusinessCalendar | None, now: datetime, tr: Words = ENGLISH
) -> RowDue:
    if not case.is_open:
        return RowDue(closed_text(case.closing_status, tr), "closed")
    since = getattr(case, "paused_since", None)
    if since is not None:
        tz = calendar.tz if calendar is not None else UTC
        return paused_text(since, getattr(case, "pause_resumes_at", None), tz, now, tr)
    due = case.next_due_at
    first_contact = case.status == CaseStatus.NEW
    missed = _missed(case, now)
    if missed is not None:
        if calendar is not None:
            hours = business_hours_late(calendar, missed, now)
        else:
            hours = int((now - missed).total_seconds() // 3600)
        ahead = ""
        if due is not None and due > now:
            left = span(due - now, tr)
            if first_contact:
                ahead = tr.gettext("%(left)s left to first contact") % {"left": left}
            else:
                ahead = tr.gettext("%(left)s left to resolve") % {"left": left}
        return RowDue(late_text(hours, tr), "past", ahead)
    if due is None:
        return RowDue(tr.gettext("No deadline"), "none")
    soon = due - now <= timedelta(hours=4)
    return RowDue(to_goal(span(due - now, tr), first_contact, tr), "soon" if soon else "ok")


@functools.lru_cache(maxsize=256)
def _calendar(key: tuple[Any, ...]) -> BusinessCalendar:
    timezone, week, country, subdivision, extra, always_open = key
    spec = CalendarSpec(
        timezone=timezone,
        week=[DayHours(o, c) for o, c in week],
        holiday_country=country,
        holiday_subdivision=subdivision,
        extra_holidays=list(extra),
        always_open=always_open,
    )
    return BusinessCalendar(spec)


def calendar_of(spec: CalendarSpec) -> BusinessCalendar:
    """One calendar object per distinct calendar (building one parses its week and region)."""
    key = (
        spec.timezone,
        tuple((d.open, d.close) for d in spec.week),
        spec.holiday_country,
        spec.holiday_subdivision,
        tuple(spec.extra_holidays),
        spec.always_open,
    )
    return _calendar(key)


def calendars_for(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """The business calendar of each (program, unit) (None if either is gone). Units that
    share a time zone and holidays share a calendar: one unit of each kind is loaded."""
    from sqlmodel import col, select

    from models.config import Unit

    unit_ids = sorted({u for _, u in pairs})
    kinds = {
        uid: (tz, country, sub)
        for uid, tz, country, sub in session.exec(
            select(Unit.id, Unit.timezone, Unit.holiday_country, Unit.holiday_subdivision).where(
                col(Unit.id).in_(unit_ids)
            )
        ).all()
    }
    made: dict[tuple[str, Any], BusinessCalendar | None] = {}
    out: dict[tuple[str, str], BusinessCalendar | None] = {}
    for program_id, unit_id in sorted(pairs):
        kind = (program_id, kinds.get(unit_id))
        if kind not in made:
            program, unit = load_program(session, program_id), load_unit(session, unit_id)
            calendar = None
            if program is not None and unit is not None:
                try:
                    calendar = calendar_of(policy_for(program, unit).calendar)
                except ValueError:
                    calendar = None
            made[kind] = calendar
        out[(program_id, unit_id)] = made[kind]
    return out


def rows_due(
    session: Session, rows: list[Any], now: datetime, tr: Words = ENGLISH
) -> dict[str, RowDue]:
    """Each row's deadline text, in `tr`'s language; only late rows need their calendar
    (business hours late)."""
    late = {
        (c.program_id, c.unit_id)
        for c in rows
        if _missed(c, now) is not None or getattr(c, "paused_since", None) is not None
    }
    calendars = calendars_for(session, late)
    return {c.id: row_due(c, calendars.get((c.program_id, c.unit_id)), now, tr) for c in rows}


def deadlines_late(
    session: Session, case: Any, now: datetime, tr: Words = ENGLISH
) -> dict[str, str]:
    """The case page's "N business hours past due" per missed deadline ("open", "resolve"),
    counted on the case's calendar as the inbox counts it."""
    if not case.is_open:
        return {}
    missed = {
        name: due
        for name, due in (("open", case.open_due_at), ("resolve", case.resolve_due_at))
        if due is not None and due <= now
    }
    if not missed or getattr(case, "paused_since", None) is not None:
        return {}
    calendar = calendars_for(session, {(case.program_id, case.unit_id)}).get(
        (case.program_id, case.unit_id)
    )

    def hours(due: datetime) -> int:
        if calendar is None:
            return int((now - due).total_seconds() // 3600)
        return business_hours_late(calendar, due, now)

    return {name: late_text(hours(due), tr) for name, due in missed.items()}
