"""The daily (and monthly) rollups of the dashboard: what one case row adds to them.

Pure: the projection subtracts a row's old contribution and adds its new one in the case row's
transaction (activities/rollup.py); the backfill sums them; the reports read the sums
(services/reports/rollup.py). A case counts on the local day (and month) of its creation in
each rollup zone, exactly as the report's `created_at` window counts it.

Two grids of keys, each at two grains (`d`: the day, `m`: the month's first day):

- `cause`: (program, channel, cause, cause2): every figure of the summary, durations and their
  histograms included. cause = cause2 = "" is every case; (a, "") the cases citing a; (a, b) the
  cases citing both (the root-cause table under a root-cause filter).
- `owner`: (program, unit, owner, cause): the owner and unit tables' figures; cause "" is every
  case, a the cases citing a.

Durations are kept as exact sums (microseconds, business minutes) and as a histogram of fixed
buckets (`BUCKETS`, four per doubling: a bucket is 19 % wide), from which a median is an
approximation within its bucket.
"""

from __future__ import annotations

import bisect
import functools
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from itertools import permutations
from typing import Any
from zoneinfo import ZoneInfo

from domain.vocabulary import CaseStatus, ClosingStatus, RemeasureStatus

# Bucket i holds durations in [EDGES[i-1], EDGES[i]) seconds; bucket 0 is under a minute, the
# last one everything from EDGES[-1] (about 129 days) on.
PER_DOUBLING = 4
EDGES: tuple[float, ...] = tuple(60.0 * 2 ** (i / PER_DOUBLING) for i in range(71))
BUCKETS = len(EDGES) + 1
METRICS = ("close", "first", "biz_close", "biz_first")

STATUS_COUNTERS = tuple(s.value for s in CaseStatus)
# The figures of a group of cases (services/reports/figures.Tally reads them by these names).
BASE_COUNTERS = (
    "n",
    *STATUS_COUNTERS,
    "resolved",
    "unresolved",
    "went_overdue",
    "sla_met",
    "answered",
    "expired",
    "pending",
    "score_sum",
    "recovered",
    "failed",
)
DURATION_COUNTERS = (
    "escalated",
    "reopened",
    "close_n",
    "close_us",  # microseconds, summed exactly
    "first_n",
    "first_us",
    "biz_close_n",
    "biz_close_sum",  # business minutes
    "biz_first_n",
    "biz_first_sum",
)
HIST_COUNTERS = tuple(f"h_{m}_{i}" for m in METRICS for i in range(BUCKETS))
CAUSE_COUNTERS = BASE_COUNTERS + DURATION_COUNTERS + HIST_COUNTERS
OWNER_COUNTERS = BASE_COUNTERS

CAUSE_KEY = ("program_id", "channel", "cause", "cause2")
OWNER_KEY = ("program_id", "unit_id", "owner_id", "cause")
GRAINS = ("d", "m")

# (grid, tz, grain, period, *key) -> the counters it adds
Key = tuple[Any, ...]


def bucket_of(seconds: float) -> int:
    return bisect.bisect_right(EDGES, seconds)


def bucket_bounds(i: int) -> tuple[float, float]:
    """[low, high) seconds of bucket i (the first starts at 0, the last ends at twice its low)."""
    low = 0.0 if i == 0 else EDGES[i - 1]
    high = EDGES[i] if i < len(EDGES) else EDGES[-1] * 2
    return low, high


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _us(start: datetime, end: datetime) -> int:
    delta = _utc(end) - _utc(start)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def figures(row: Mapping[str, Any]) -> Counter[str]:
    """The counters one case adds to every group it belongs to (the exact query's predicates,
    services/reports/where.py, in Python)."""
    out: Counter[str] = Counter(n=1)
    status, closing = row["status"], row["closing_status"]
    closed = status == CaseStatus.CLOSED
    out[str(status)] += 1
    remeasure = row["remeasure_status"]
    answered = remeasure == RemeasureStatus.ANSWERED
    flags = {
        "resolved": closed and closing == ClosingStatus.RESOLVED,
        "unresolved": closed and closing == ClosingStatus.UNRESOLVED,
        "went_overdue": row["went_overdue"] is True,
        "sla_met": closed and row["went_overdue"] is False,
        "answered": answered,
        "expired": remeasure == RemeasureStatus.EXPIRED,
        "pending": remeasure == RemeasureStatus.PENDING,
        "recovered": answered and row["recovery_failed"] is False,
        "failed": answered and row["recovery_failed"] is True,
        "escalated": (row["escalation_level"] or 0) > 0,
        "reopened": (row["reopened_count"] or 0) > 0,
    }
    out.update({name: 1 for name, on in flags.items() if on})
    if answered and row["remeasure_score"] is not None:
        out["score_sum"] += row["remeasure_score"]
    created, closed_at, first_at = row["created_at"], row["closed_at"], row["first_action_at"]
    timed = closed and closed_at is not None
    if timed:
        _duration(out, "close", _us(created, closed_at) / 1e6, "close_us", _us(created, closed_at))
        if row["business_minutes_to_close"] is not None:
            minutes = row["business_minutes_to_close"]
            _duration(out, "biz_close", minutes * 60.0, "biz_close_sum", minutes)
    if first_at is not None:
        _duration(out, "first", _us(created, first_at) / 1e6, "first_us", _us(created, first_at))
    if row["business_minutes_to_first_action"] is not None:
        minutes = row["business_minutes_to_first_action"]
        _duration(out, "biz_first", minutes * 60.0, "biz_first_sum", minutes)
    return +out


def _duration(out: Counter[str], metric: str, seconds: float, sum_name: str, total: int) -> None:
    out[f"{metric}_n"] += 1
    out[sum_name] += total
    out[f"h_{metric}_{bucket_of(seconds)}"] += 1


def counts(row: Mapping[str, Any] | None, zones: Iterable[str]) -> dict[Key, Counter[str]]:
    """Everything one case row adds to the rollups of `zones` (nothing for no row, or a merged
    duplicate: the reports never count one)."""
    if row is None or row["closing_status"] == ClosingStatus.MERGED:
        return {}
    every = figures(row)
    base = Counter({k: v for k, v in every.items() if k in OWNER_COUNTERS})
    causes = list(dict.fromkeys(row["root_causes"] or []))
    program, channel = row["program_id"], row["channel"]
    unit, owner = row["unit_id"], row["owner_id"] or ""
    cause_keys = [("", ""), *[(a, "") for a in causes], *permutations(causes, 2)]
    out: dict[Key, Counter[str]] = {}
    for tz in zones:
        day = _utc(row["created_at"]).astimezone(_zone(tz)).date()
        for grain, period in (("d", day), ("m", day.replace(day=1))):
            for a, b in cause_keys:
                out[("cause", tz, grain, period, program, channel, a, b)] = every
            for a in ["", *causes]:
                out[("owner", tz, grain, period, program, unit, owner, a)] = base
    return out


def delta(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, zones: Iterable[str]
) -> dict[Key, dict[str, int]]:
    """What moves when a case row changes from `old` to `new`: new minus old, by key (keys and
    counters that do not move left out), in key order (writers lock rows in one order)."""
    zones = list(zones)
    before, after = counts(old, zones), counts(new, zones)
    out: dict[Key, dict[str, int]] = {}
    for key in sorted(set(before) | set(after), key=_sortable):
        moved = Counter(after.get(key, Counter()))
        moved.subtract(before.get(key, Counter()))
        changed = {k: v for k, v in moved.items() if v}
        if changed:
            out[key] = changed
    return out


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _sortable(key: Key) -> tuple[str, ...]:
    return tuple(v.isoformat() if isinstance(v, date) else str(v) for v in key)


def median(hist: Mapping[int, int]) -> float | None:
    """The median of a histogram (bucket -> count): the middle value (the mean of the two
    middle ones) placed within its bucket by its rank, so never further from the exact median
    than a bucket's width at its size (19 %; a minute below a minute)."""
    n = sum(hist.values())
    if not n:
        return None
    ranks = (n // 2 + 1,) if n % 2 else (n // 2, n // 2 + 1)
    return sum(_at_rank(hist, k) for k in ranks) / len(ranks)


def _at_rank(hist: Mapping[int, int], k: int) -> float:
    seen = 0
    for i in sorted(hist):
        count = hist[i]
        if count and seen + count >= k:
            low, high = bucket_bounds(i)
            return low + (high - low) * (k - seen - 0.5) / count
        seen += count
    raise ValueError(f"rank {k} beyond the histogram")
