"""What a report counts: the filters and a figure's segment, one model each.

The dashboard, its case lists, both CSV downloads and the JSON API read them from the query
string with `from_query` and nothing else, so they accept the same parameter names and give the
same messages; `query()` writes a model back as the query string that parses into it again (the
page's links). A bad value raises `ReportInvalid`, whose errors name the query parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, ClassVar, Literal, Self, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from domain.fields import storable
from domain.vocabulary import CaseStatus, Channel, ClosingStatus, RemeasureStatus

# A day-by-day trend up to this many days; a longer range is shown per week.
AUTO_DAY_LIMIT = 92
MAX_RANGE_DAYS = 5 * 366
DEFAULT_RANGE_DAYS = 30
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
MAX_CAUSES = 20
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")


class ReportInvalid(ValueError):
    """Filter values that cannot be used: messages by query parameter (the first one leads)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        self.field, self.message = next(iter(errors.items()))
        super().__init__(f"{self.field}: {self.message}")


# ---------------------------------------------------------------- time zones and days


def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name` (a plain name, never a path); ValueError if there is none."""
    if not _ZONE_NAME.match(name or ""):
        raise ValueError(f"Unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"Unknown time zone {name!r}") from exc


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which `day` starts in `tz` (a midnight lost to DST moves forward)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _known_zone(name: str) -> str:
    try:
        zone(name)
    except ValueError:
        raise PydanticCustomError(
            "time_zone", "Unknown time zone {name}", {"name": repr(name)}
        ) from None
    return name


def _day(value: Any, handler: ValidatorFunctionWrapHandler) -> date:
    try:
        day: date = handler(value)
    except ValidationError:
        raise PydanticCustomError("date_type", "Expected a date such as 2026-03-01") from None
    if not EARLIEST <= day <= LATEST:
        raise PydanticCustomError(
            "date_range", "Choose a date between {earliest} and {latest}",
            {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()},
        )  # fmt: skip
    return day


def _causes(value: Any) -> Any:
    """Blank causes dropped, each cited once, in the order given (counted as given)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return value
    if len(value) > MAX_CAUSES:
        raise PydanticCustomError(
            "too_long", "At most {max} root causes, not {count}",
            {"max": MAX_CAUSES, "count": len(value)},
        )  # fmt: skip
    return tuple(dict.fromkeys(v.strip() for v in value if isinstance(v, str) and v.strip()))


Day = Annotated[date, WrapValidator(_day)]
Key = Annotated[str, StringConstraints(max_length=64), AfterValidator(storable)]
Cause = Annotated[str, StringConstraints(max_length=200), AfterValidator(storable)]
ZoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_known_zone)]
_DAY: TypeAdapter[date] = TypeAdapter(Day)


def _today(tz: Any) -> date:
    try:
        return datetime.now(zone(tz)).date()
    except (TypeError, ValueError):  # the zone's own error is reported by its field
        return datetime.now(UTC).date()


def _peek(value: Any) -> date | None:
    try:
        return None if value is None else _DAY.validate_python(value)
    except ValidationError:  # reported by its field
        return None


# ---------------------------------------------------------------- the query string


def _pairs(data: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for key, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            out.append((key, ("1" if item else "0") if isinstance(item, bool) else str(item)))
    return out


class QueryModel(BaseModel):
    """A frozen model read from a query string, whose errors are `ReportInvalid`."""

    model_config = ConfigDict(
        frozen=True, validate_by_name=True, validate_by_alias=True, extra="ignore"
    )
    REPEATED: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise self._invalid(exc) from exc

    @classmethod
    def given(cls, pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
        """What a query string's (name, value) pairs give, by name: blank values are absent,
        the last value of a name counts (every value of a repeated name, as a list)."""
        data: dict[str, Any] = {}
        for key, value in pairs:
            value = value.strip()
            if not value:
                continue
            if key in cls.REPEATED:
                data.setdefault(key, []).append(value)
            else:
                data[key] = value
        return data

    @classmethod
    def from_query(cls, pairs: Iterable[tuple[str, str]]) -> Self:
        return cls(**cls.given(pairs))

    @classmethod
    def _invalid(cls, exc: ValidationError) -> ReportInvalid:
        """The errors by query parameter name (an alias, whichever name the value came by)."""
        names = {name: f.alias or name for name, f in cls.model_fields.items()}
        errors: dict[str, str] = {}
        for e in exc.errors(include_url=False):
            loc = e.get("loc") or ()
            at = str(loc[0]) if loc else str((e.get("ctx") or {}).get("field", "query"))
            errors.setdefault(names.get(at, at), e["msg"].removeprefix("Value error, "))
        return ReportInvalid(errors)

    def query(self) -> list[tuple[str, str]]:
        """The query string that reads back into this model (unset parts left out)."""
        return _pairs(self.model_dump(mode="json", by_alias=True, exclude_none=True))


# ---------------------------------------------------------------- the filters


class ReportFilters(QueryModel):
    """Cases created on the local dates [from, to] in `tz`, both inclusive, that match the rest.

    Without dates: the last 30 days, today included; a missing end is today (or the start, if
    that is later), a missing start 30 days before the end.
    """

    REPEATED: ClassVar[frozenset[str]] = frozenset({"cause"})

    date_from: Day = Field(alias="from", description="First local date (inclusive)")
    date_to: Day = Field(alias="to", description="Last local date (inclusive)")
    tz: ZoneName = Field(default="UTC", description="IANA time zone the dates are days of")
    program_id: Key | None = Field(default=None, alias="program")
    unit_id: Key | None = Field(default=None, alias="unit")
    channel: Channel | None = None
    owner_id: Key | None = Field(default=None, alias="owner", description="The current owner")
    root_causes: Annotated[tuple[Cause, ...], BeforeValidator(_causes)] = Field(
        default=(), alias="cause", max_length=MAX_CAUSES, description="Cases citing every one"
    )
    bucket: Literal["auto", "day", "week"] = Field(
        default="auto",
        description=f"Trend per day or week (auto: per day up to {AUTO_DAY_LIMIT} days)",
    )

    def __init__(self, *dates: date, **data: Any) -> None:
        """`ReportFilters(start, end, tz=...)`: the dates may come first, by position."""
        data.update(zip(("date_from", "date_to"), dates, strict=False))
        super().__init__(**data)

    @model_validator(mode="before")
    @classmethod
    def _default_dates(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        start_key = "date_from" if "date_from" in data else "from"
        end_key = "date_to" if "date_to" in data else "to"
        start, end = data.get(start_key), data.get(end_key)
        if start is not None and end is not None:
            return data
        today = _today(data.get("tz", "UTC"))
        data = dict(data)
        if end is None:
            end = data[end_key] = max(today, _peek(start) or today)
        if start is None:
            start = _peek(end) or today
            data[start_key] = start - timedelta(days=DEFAULT_RANGE_DAYS - 1)
        return data

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.date_to < self.date_from:
            raise PydanticCustomError(
                "date_order", "The end date is before the start date", {"field": "to"}
            )
        if (self.date_to - self.date_from).days >= MAX_RANGE_DAYS:
            raise PydanticCustomError(
                "date_range", "The range is limited to {days} days",
                {"field": "from", "days": MAX_RANGE_DAYS},
            )  # fmt: skip
        return self

    def query(self) -> list[tuple[str, str]]:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if self.bucket == "auto":
            del data["bucket"]  # the default: links stay short
        return _pairs(data)

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.tz)

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    @property
    def trend_bucket(self) -> Literal["day", "week"]:
        if self.bucket != "auto":
            return self.bucket
        return "day" if self.days <= AUTO_DAY_LIMIT else "week"

    def bucket_starts(self) -> list[date]:
        """The first day of every trend bucket that overlaps the range (weeks start on Monday)."""
        weekly = self.trend_bucket == "week"
        at = self.date_from - timedelta(days=self.date_from.weekday() if weekly else 0)
        out = []
        while at <= self.date_to:
            out.append(at)
            at += timedelta(days=7 if weekly else 1)
        return out

    def window(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: local midnight of `date_from` to local midnight after `date_to`."""
        tz = self.zone
        return local_midnight(self.date_from, tz), local_midnight(
            self.date_to + timedelta(days=1), tz
        )


# ---------------------------------------------------------------- the age of an open case


@dataclass(frozen=True)
class AgeBucket:
    """Open cases opened at least `min_days` and fewer than `max_days` (None: any) whole days
    ago, on the wall clock: how long the customer has been waiting, weekends included (the
    business calendar already decides when a case is overdue)."""

    label: str
    min_days: int
    max_days: int | None


AgeKey = Literal["under-1", "1-3", "3-5", "over-5"]
AGE_BUCKETS: dict[str, AgeBucket] = dict(
    zip(
        get_args(AgeKey),
        (
            AgeBucket("Under 1 day", 0, 1),
            AgeBucket("1 to 3 days", 1, 3),
            AgeBucket("3 to 5 days", 3, 5),
            AgeBucket("5 days or more", 5, None),
        ),
        strict=True,
    )
)


# ---------------------------------------------------------------- the segment of a figure


def _surveyed_or_status(value: Any) -> Any:
    if value == RemeasureStatus.NOT_APPLICABLE:
        raise PydanticCustomError("segment", "A case without a survey is not a survey segment")
    return value


class Segment(QueryModel):
    """The part of the report a figure counts: what a drill-down link adds to the filters."""

    # "open": every status in OPEN_STATUSES; "surveyed": answered, expired or pending.
    status: CaseStatus | Literal["open"] | None = None
    closing: ClosingStatus | None = None  # closed cases
    sla: Literal["met", "missed"] | None = None  # closed cases
    remeasure: Annotated[
        RemeasureStatus | Literal["surveyed"] | None, AfterValidator(_surveyed_or_status)
    ] = None
    recovery: Literal["recovered", "failed"] | None = None  # answered surveys
    overdue: bool | None = None  # went overdue
    escalated: bool | None = None
    reopened: bool | None = None
    acted: bool | None = None  # has a first action
    # SLA accounting (domain/sla.py): the verdict of a metric, and whose watch a breach was on.
    response: Literal["met", "breached"] | None = None
    resolution: Literal["met", "breached"] | None = None
    breached_by: Key | None = None
    # Open now and this old: replaces the report's dates (a backlog does not age out of them).
    age: AgeKey | None = None
