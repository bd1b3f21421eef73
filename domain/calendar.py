"""Business-time arithmetic for SLA deadlines.

Everything here is pure and deterministic (the holiday tables come from the pinned `holidays`
package), so the same request always yields the same deadlines and the functions can be unit
tested without Temporal. Instants are compared in UTC; days and opening hours are reasoned about
on the local wall clock and converted with `zoneinfo`, which is what keeps DST transitions right.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from domain.policy import CalendarSpec, DayHours

DurationKind = Literal["business_days", "business_minutes", "wall"]

_MINUTES_PER_DAY = 24 * 60
# A calendar closed for longer than this is a misconfiguration, not a long holiday; stop looking.
_MAX_CLOSED_RUN_DAYS = 366

_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_BUSINESS_RE = re.compile(rf"{_NUMBER}\s*business\s+(day|hour|minute)s?", re.IGNORECASE)
_ISO_RE = re.compile(
    rf"P(?:{_NUMBER}W)?(?:{_NUMBER}D)?(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?",
    re.IGNORECASE,
)
_UNIT_MINUTES = {"hour": 60.0, "minute": 1.0}
_ISO_MINUTES = (7 * _MINUTES_PER_DAY, _MINUTES_PER_DAY, 60.0, 1.0, 1 / 60)


@dataclass(frozen=True)
class Duration:
    """A parsed SLA duration.

    `amount` is in days for "business_days" (days are not a fixed number of minutes) and in
    minutes otherwise.
    """

    kind: DurationKind
    amount: float


def parse_duration(text: str) -> Duration:
    """Parse "N business days|hours|minutes" or an ISO-8601 wall-clock duration.

    ISO years and months are rejected: they have no fixed length, and a deadline must not depend
    on which month a case happens to arrive in.
    """
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: expected a string")
    cleaned = text.strip()
    if match := _BUSINESS_RE.fullmatch(cleaned):
        amount, unit = float(match.group(1)), match.group(2).lower()
        if unit == "day":
            return Duration("business_days", amount)
        return Duration("business_minutes", amount * _UNIT_MINUTES[unit])
    match = _ISO_RE.fullmatch(cleaned)
    # "P" and "P1DT" match the pattern but are not valid ISO durations.
    if match and any(match.groups()) and not cleaned.upper().endswith("T"):
        minutes = sum(
            float(value) * scale
            for value, scale in zip(match.groups(), _ISO_MINUTES, strict=True)
            if value is not None
        )
        return Duration("wall", minutes)
    raise ValueError(
        f"invalid duration {text!r}: expected 'N business days|hours|minutes' "
        "or an ISO-8601 duration such as 'PT30M', 'PT4H', 'P2D' (no years or months)"
    )


def validate_duration(text: str) -> str:
    """Fail fast on program configuration; returns the text so it can be used in validators."""
    parse_duration(text)
    return text


def _as_duration(value: str | Duration) -> Duration:
    return value if isinstance(value, Duration) else parse_duration(value)


def _timedelta_minutes(minutes: float) -> timedelta:
    # Whole seconds: factors like 0.3 must not leave float noise in a deadline.
    return timedelta(seconds=round(minutes * 60))


def require_aware(value: datetime, name: str = "datetime") -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


def _parse_clock(value: str, where: str) -> int:
    """Minutes after local midnight; "24:00" is allowed as a closing time."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not match:
        raise ValueError(f"{where}: invalid time {value!r}, expected HH:MM")
    hours, minutes = int(match.group(1)), int(match.group(2))
    total = hours * 60 + minutes
    if minutes >= 60 or total > _MINUTES_PER_DAY:
        raise ValueError(f"{where}: invalid time {value!r}")
    return total


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _parse_week(week: list[DayHours]) -> tuple[tuple[int, int] | None, ...]:
    if len(week) != 7:
        raise ValueError(f"calendar week must list 7 days (Monday first), got {len(week)}")
    parsed: list[tuple[int, int] | None] = []
    for name, hours in zip(_WEEKDAYS, week, strict=True):
        if hours.open is None and hours.close is None:
            parsed.append(None)
            continue
        if hours.open is None or hours.close is None:
            raise ValueError(f"{name}: set both opening and closing time, or neither")
        opens, closes = _parse_clock(hours.open, name), _parse_clock(hours.close, name)
        # Overnight shifts would make a business day straddle two dates; not supported.
        if closes <= opens:
            raise ValueError(f"{name}: closing time {hours.close} must be after {hours.open}")
        parsed.append((opens, closes))
    if all(day is None for day in parsed):
        raise ValueError("calendar week has no opening hours; use always_open for 24x7")
    return tuple(parsed)


@functools.cache
def _check_region(country: str, subdivision: str | None) -> None:
    try:
        holidays.country_holidays(country, subdiv=subdivision, years=[])
    except NotImplementedError as exc:
        raise ValueError(f"unknown holiday region {country!r}/{subdivision!r}: {exc}") from exc


@functools.lru_cache(maxsize=1024)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    # Shared across calendars: every deadline computation builds a fresh BusinessCalendar.
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


class BusinessCalendar:
    """Opening hours, holidays and a time zone, as described by a `CalendarSpec`.

    Business days: "N business days from T" is the same local clock time N business days later.
    Work arriving outside business hours starts counting at the next opening, so T is first moved
    there. Closed weekdays and holidays are skipped. When the clock time does not fall inside the
    target day's hours (that day opens later or closes earlier), it is clamped into them: to the
    closing time if later, to the opening time if earlier; the deadline always lies in business
    time of the target day. A nonexistent local time (DST gap) resolves as `zoneinfo` does with
    fold=0, i.e. shifted forward by the gap; an ambiguous one takes its first occurrence.

    Fractional days (1.5 days, or 3 days at factor 0.5): the whole days are stepped as above, the
    fraction becomes business minutes of a standard day, the length of the first open day of the
    week (Monday first; 24h when always open), consumed from there on.

    Business hours and minutes consume real elapsed open time, across days as needed; an interval
    that spans a DST change is as long as it really is. Wall-clock (ISO) durations ignore the
    calendar: plain UTC addition, so "P1D" is exactly 24 hours.
    """

    def __init__(self, spec: CalendarSpec) -> None:
        try:
            self.tz = ZoneInfo(spec.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {spec.timezone!r}") from exc
        self.always_open = spec.always_open
        self._extra = frozenset(spec.extra_holidays)
        self._country = spec.holiday_country
        self._subdivision = spec.holiday_subdivision
        if self.always_open:
            self._week: tuple[tuple[int, int] | None, ...] = ((0, _MINUTES_PER_DAY),) * 7
        else:
            self._week = _parse_week(spec.week)
            if self._country:
                _check_region(self._country, self._subdivision)
        first_open = next(hours for hours in self._week if hours is not None)
        self.standard_day_minutes = first_open[1] - first_open[0]

    # ------------------------------------------------------------ days and intervals

    def is_holiday(self, day: date) -> bool:
        if self.always_open:
            return False
        if day in self._extra:
            return True
        if self._country is None:
            return False
        return day in _public_holidays(self._country, self._subdivision, day.year)

    def _hours(self, day: date) -> tuple[int, int] | None:
        hours = self._week[day.weekday()]
        if hours is None or self.is_holiday(day):
            return None
        return hours

    def _instant(self, day: date, offset: timedelta) -> datetime:
        """The UTC instant of a local wall-clock offset from midnight of `day`."""
        local = datetime.combine(day, time()) + offset
        return local.replace(tzinfo=self.tz).astimezone(UTC)

    def _interval(self, day: date) -> tuple[datetime, datetime] | None:
        hours = self._hours(day)
        if hours is None:
            return None
        opens, closes = hours
        return (
            self._instant(day, timedelta(minutes=opens)),
            self._instant(day, timedelta(minutes=closes)),
        )

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    def _intervals(self, day: date, step: int = 1) -> Iterator[tuple[date, datetime, datetime]]:
        """Open intervals from `day` onwards (or backwards with step=-1), in order."""
        closed_run = 0
        while True:
            interval = self._interval(day)
            if interval is not None:
                closed_run = 0
                yield day, interval[0], interval[1]
            else:
                closed_run += 1
                if closed_run > _MAX_CLOSED_RUN_DAYS:
                    raise ValueError(
                        f"calendar has no business hours for {_MAX_CLOSED_RUN_DAYS} days "
                        f"around {day.isoformat()}"
                    )
            day += timedelta(days=step)

    def _business_date(self, day: date, step: int) -> date:
        """The first business date strictly after (step=1) or before (step=-1) `day`."""
        start = day + timedelta(days=step)
        found, _, _ = next(self._intervals(start, step))
        return found

    # ------------------------------------------------------------ public API

    def is_open(self, at: datetime) -> bool:
        require_aware(at, "at")
        if self.always_open:
            return True
        day = self._local_date(at)
        # The previous day too: robust to DST edge cases around local midnight.
        for candidate in (day - timedelta(days=1), day):
            interval = self._interval(candidate)
            if interval is not None and interval[0] <= at < interval[1]:
                return True
        return False

    def next_opening(self, at: datetime) -> datetime:
        require_aware(at, "at")
        if self.always_open:
            return at.astimezone(UTC)
        for _, opens, closes in self._intervals(self._local_date(at) - timedelta(days=1)):
            if closes > at:
                return max(opens, at).astimezone(UTC)
        raise AssertionError("unreachable: _intervals is infinite or raises")

    def add(self, start: datetime, duration: str | Duration, factor: float = 1.0) -> datetime:
        """`start` plus `duration` (scaled by a priority `factor`), in UTC."""
        require_aware(start, "start")
        parsed = _as_duration(duration)
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"factor must be a positive number, got {factor!r}")
        amount = parsed.amount * factor
        if parsed.kind == "wall":
            return start.astimezone(UTC) + _timedelta_minutes(amount)
        if parsed.kind == "business_minutes":
            return self._add_minutes(start, amount)
        return self._add_days(start, amount)

    def subtract(self, end: datetime, duration: str | Duration) -> datetime:
        """The instant `duration` of business time before `end`, in UTC (pre-breach warnings)."""
        require_aware(end, "end")
        parsed = _as_duration(duration)
        if parsed.kind == "wall":
            return end.astimezone(UTC) - _timedelta_minutes(parsed.amount)
        if parsed.kind == "business_minutes":
            return self._subtract_minutes(end, parsed.amount)
        return self._subtract_days(end, parsed.amount)

    def business_seconds_between(self, a: datetime, b: datetime) -> float:
        require_aware(a, "a")
        require_aware(b, "b")
        if b <= a:
            return 0.0
        if self.always_open:
            return (b - a).total_seconds()
        total = timedelta()
        day, last = self._local_date(a) - timedelta(days=1), self._local_date(b)
        while day <= last:
            interval = self._interval(day)
            if interval is not None:
                begin, end = max(interval[0], a), min(interval[1], b)
                if end > begin:
                    total += end - begin
            day += timedelta(days=1)
        return total.total_seconds()

    # ------------------------------------------------------------ internals

    def _add_minutes(self, start: datetime, minutes: float) -> datetime:
        remaining = _timedelta_minutes(minutes)
        if self.always_open:
            return start.astimezone(UTC) + remaining
        for _, opens, closes in self._intervals(self._local_date(start) - timedelta(days=1)):
            if closes <= start:
                continue
            begin = max(opens, start)
            available = closes - begin
            if remaining <= available:
                return (begin + remaining).astimezone(UTC)
            remaining -= available
        raise AssertionError("unreachable: _intervals is infinite or raises")

    def _subtract_minutes(self, end: datetime, minutes: float) -> datetime:
        remaining = _timedelta_minutes(minutes)
        if self.always_open:
            return end.astimezone(UTC) - remaining
        for _, opens, closes in self._intervals(self._local_date(end) + timedelta(days=1), -1):
            if opens >= end:
                continue
            finish = min(closes, end)
            available = finish - opens
            if remaining <= available:
                return (finish - remaining).astimezone(UTC)
            remaining -= available
        raise AssertionError("unreachable: _intervals is infinite or raises")

    def _clock(self, at: datetime) -> tuple[date, timedelta]:
        """Local date and wall-clock offset from local midnight."""
        local = at.astimezone(self.tz).replace(tzinfo=None)
        return local.date(), local - datetime.combine(local.date(), time())

    def _on_day(self, day: date, clock: timedelta) -> datetime:
        """`clock` on business date `day`, clamped into that day's hours."""
        hours = self._hours(day)
        assert hours is not None, "only called with business dates"
        opens, closes = timedelta(minutes=hours[0]), timedelta(minutes=hours[1])
        return self._instant(day, min(max(clock, opens), closes))

    def _add_days(self, start: datetime, days: float) -> datetime:
        whole = math.floor(days)
        fraction = days - whole
        day, clock = self._clock(self.next_opening(start))
        for _ in range(whole):
            day = self._business_date(day, 1)
        result = self._on_day(day, clock)
        if fraction > 0:
            result = self._add_minutes(result, fraction * self.standard_day_minutes)
        return result.astimezone(UTC)

    def _subtract_days(self, end: datetime, days: float) -> datetime:
        # The exact mirror of _add_days: fraction first, then whole days back.
        whole = math.floor(days)
        fraction = days - whole
        if fraction > 0:
            end = self._subtract_minutes(end, fraction * self.standard_day_minutes)
        day, clock = self._clock(self._last_business_instant(end))
        for _ in range(whole):
            day = self._business_date(day, -1)
        return self._on_day(day, clock).astimezone(UTC)

    def end_of_business_day(self, day: date) -> datetime:
        """The last business instant of local `day` (its closing time; a closed day: the
        closing before it), in UTC: what "due on <date>" means."""
        return self._last_business_instant(self._instant(day + timedelta(days=1), timedelta()))

    def _last_business_instant(self, at: datetime) -> datetime:
        """`at` if open (or exactly at a closing), else the previous closing time."""
        if self.always_open:
            return at
        for _, opens, closes in self._intervals(self._local_date(at) + timedelta(days=1), -1):
            if opens <= at:
                return min(closes, at)
        raise AssertionError("unreachable: _intervals is infinite or raises")


def business_minutes(calendar: CalendarSpec, start: datetime, end: datetime | None) -> int | None:
    """Whole business minutes from `start` to `end` on a case's calendar.

    The projection stores them (time to first action, time to close), so the dashboard's
    business-hour averages and medians are plain SQL aggregates over columns.
    """
    if end is None:
        return None
    return round(BusinessCalendar(calendar).business_seconds_between(start, end) / 60)
