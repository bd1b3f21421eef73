"""One page of an inbox: the tab's cases (or, when searching, every case the viewer may see),
narrowed by the filters, in the chosen order, keyset-paged.

Orders: "due" (urgency: open cases first, past due first then soonest due, nulls last; then
closed cases, most recently closed first), "priority" (urgent first, then by due), "newest" and
"oldest" (by opening). Every order keeps the two segments (open, then closed) and ends on the
case id, so a cursor names one exact place: (segment, sort, the row's key values).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, false, func, or_, true
from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from domain.vocabulary import OPEN_STATUSES, CaseStatus, Priority, values
from models.case import Case, Customer, case_id_for

INBOX_TABS = ("mine", "watching", "escalated", "units", "all")
# The status filter: any one status, or every open one, or all.
INBOX_STATUSES = ("open", *values(CaseStatus), "all")
# The orders a list can take (the first is the default).
SORTS: dict[str, str] = {
    "due": "Most urgent first",
    "priority": "Highest priority first",
    "newest": "Newest first",
    "oldest": "Oldest first",
}
# The deadline filter: due before the end of today (and not yet late), or past due.
DUE_FILTERS: dict[str, str] = {"today": "Due today", "past": "Past due"}
# Priority rank for sorting: Priority is declared in rising order of urgency.
PRIORITY_RANK: dict[str, int] = {p.value: i for i, p in enumerate(Priority)}


@dataclass
class InboxQuery:
    tab: str = "mine"
    status: str = "open"
    q: str | None = None
    cursor: str | None = None
    limit: int = 50
    sort: str = "due"
    due: str | None = None  # "today" | "past"
    owner: str | None = None  # one owner's cases within the tab
    escalated: bool = False  # escalated cases only
    # "now" and the end of the viewer's day (for `due`); fixed per request so counts and rows
    # agree.
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    day_ends: datetime | None = None

    @property
    def searching(self) -> bool:
        return bool(self.q and self.q.strip())


@dataclass
class InboxPage:
    rows: list[Case]
    next_cursor: str | None
    counts: dict[str, int]


# ---------------------------------------------------------------- scope and filters


def tab_clause(viewer: Any, tab: str) -> Any:
    """The cases of one inbox tab, always inside what the viewer may see (services.access)."""
    from services.access import visible_clause, watched_case_ids

    if tab == "mine":
        return col(Case.owner_id) == viewer.user_id
    if tab == "escalated":
        return and_(col(Case.owner_id) == viewer.user_id, col(Case.escalation_level) > 0)
    if tab == "watching":
        return watched_case_ids(viewer.user_id)
    if tab == "units":
        return col(Case.unit_id).in_(viewer.managed_units) if viewer.managed_units else false()
    if tab == "all":
        return visible_clause(viewer)
    raise ValueError(f"unknown inbox tab {tab!r}")


def scope_clause(viewer: Any, query: InboxQuery) -> Any:
    """A search looks at every case the viewer may see, whatever the tab; else the tab."""
    from services.access import visible_clause

    return visible_clause(viewer) if query.searching else tab_clause(viewer, query.tab)


def past_due_clause(now: datetime) -> Any:
    """Open and late: marked overdue by the workflow, or its next deadline has passed."""
    return and_(
        col(Case.is_open) == true(),
        or_(col(Case.status) == CaseStatus.OVERDUE, col(Case.next_due_at) <= now),
    )


def due_today_clause(now: datetime, day_ends: datetime) -> Any:
    """Open, on time, and due before the end of the day."""
    return and_(
        col(Case.is_open) == true(),
        col(Case.status) != CaseStatus.OVERDUE,
        col(Case.next_due_at) > now,
        col(Case.next_due_at) < day_ends,
    )


def end_of_day(now: datetime, timezone: str) -> datetime:
    from zoneinfo import ZoneInfo

    try:
        zone = ZoneInfo(timezone)
    except Exception:
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
    return midnight.astimezone(UTC)


def filter_clauses(query: InboxQuery) -> list[Any]:
    """The narrowing filters (not the status: its counts are shown per status)."""
    where: list[Any] = []
    if query.owner:
        where.append(col(Case.owner_id) == query.owner)
    if query.escalated:
        where.append(col(Case.escalation_level) > 0)
    if query.due == "past":
        where.append(past_due_clause(query.now))
    elif query.due == "today":
        day_ends = query.day_ends or end_of_day(query.now, "UTC")
        where.append(due_today_clause(query.now, day_ends))
    return where


def search_clause(term: str) -> Any:
    """Case id ("C-000123", "c-123", "123"), contact name (substring), email (exact), external
    reference (exact, any case), phone (the whole number, or four or more of its digits in a
    row): the case's own contact, or its customer record's."""
    term = term.strip()
    clauses: list[Any] = [col(Case.customer_name).ilike(f"%{_like_escape(term)}%", escape="\\")]
    number = term.upper().removeprefix("C-").removeprefix("C")
    if number.isdigit() and len(number) <= 9:
        clauses.append(col(Case.id) == case_id_for(int(number)))
    else:
        clauses.append(col(Case.id) == term.upper())
    clauses.append(func.lower(col(Case.external_ref)) == term.lower())
    customer: list[Any] = [func.lower(col(Customer.external_ref)) == term.lower()]
    if "@" in term:
        customer.append(col(Customer.email) == term.lower())
        clauses.append(col(Case.contact_email) == term.lower())
    digits = "".join(c for c in term if c.isdigit())
    if len(digits) >= 4 and all(c.isdigit() or c in " +().-" for c in term):
        # Phones are stored as digits with a leading plus: a run of digits is a substring.
        part = f"%{digits}%"
        customer.append(col(Customer.phone).like(part))
        clauses.append(col(Case.contact_phone).like(part))
    clauses.append(col(Case.customer_id).in_(select(Customer.id).where(or_(*customer))))
    return or_(*clauses)


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---------------------------------------------------------------- orders and cursors


def _rank() -> Any:
    return case(
        *((col(Case.priority) == p, r) for p, r in PRIORITY_RANK.items()),
        else_=PRIORITY_RANK[Priority.NORMAL],
    )


def sort_keys(sort: str, segment: str) -> list[tuple[Any, bool, str]]:
    """(expression, ascending, name of the row value) per key, the case id last."""
    due = (
        (col(Case.next_due_at), True, "next_due_at")
        if segment == "open"
        else (col(Case.closed_at), False, "closed_at")
    )
    if sort == "priority":
        return [(_rank(), False, "rank"), due, (col(Case.id), True, "id")]
    if sort == "newest":
        return [(col(Case.created_at), False, "created_at"), (col(Case.id), False, "id")]
    if sort == "oldest":
        return [(col(Case.created_at), True, "created_at"), (col(Case.id), True, "id")]
    return [due, (col(Case.id), due[1], "id")]


def _row_value(row: Case, name: str) -> Any:
    if name == "rank":
        return PRIORITY_RANK.get(row.priority, PRIORITY_RANK[Priority.NORMAL])
    return getattr(row, name)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        return datetime.fromisoformat(str(value["t"]))
    if value is None or isinstance(value, int | str):
        return value
    raise ValueError(value)


def encode_cursor(segment: str, sort: str, row: Case) -> str:
    keys = [_encode(_row_value(row, name)) for _, _, name in sort_keys(sort, segment)]
    raw = json.dumps([segment, sort, keys]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[str, list[Any]]:
    """(segment, key values); ValueError for anything this inbox did not write for `sort`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        segment, cursor_sort, keys = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if segment not in ("open", "closed") or cursor_sort != sort:
            raise ValueError(segment)
        decoded = [_decode(v) for v in keys]
        if len(decoded) != len(sort_keys(sort, segment)) or not isinstance(decoded[-1], str):
            raise ValueError(keys)
        return segment, decoded
    except Exception as exc:
        raise ValueError("cursor is not valid") from exc


def _after(keys: list[tuple[Any, bool, str]], values: list[Any]) -> Any:
    """Keyset condition "comes after these values" for an order with nulls last."""
    alternatives: list[Any] = []
    equal: list[Any] = []
    for (expr, ascending, _), value in zip(keys, values, strict=True):
        if value is None:
            beyond: Any = false()  # nulls come last: nothing but another null follows
            same: Any = expr.is_(None)
        else:
            beyond = or_(expr > value if ascending else expr < value, expr.is_(None))
            same = expr == value
        alternatives.append(and_(*equal, beyond))
        equal.append(same)
    return or_(*alternatives)


# What an inbox row shows: loading only these skips the JSON and long text columns.
INBOX_COLUMNS: tuple[Any, ...] = (
    Case.id,
    Case.version,
    Case.program_id,
    Case.unit_id,
    Case.channel,
    Case.customer_name,
    Case.owner_id,
    Case.status,
    Case.is_open,
    Case.closing_status,
    Case.priority,
    Case.reason,
    Case.created_at,
    Case.open_due_at,
    Case.resolve_due_at,
    Case.next_due_at,
    Case.open_breached,
    Case.resolve_breached,
    Case.escalation_level,
    Case.closed_at,
)


def segment_statement(
    where: list[Any],
    segment: str,
    after: list[Any] | None,
    limit: int,
    sort: str = "due",
) -> Any:
    """The rows of one inbox segment ("open" or "closed") in the chosen order, keyset-paged."""
    is_open = col(Case.is_open) == (true() if segment == "open" else ~true())
    stmt: Any = select(Case).options(load_only(*INBOX_COLUMNS)).where(is_open, *where)
    keys = sort_keys(sort, segment)
    if after is not None:
        stmt = stmt.where(_after(keys, after))
    order = [e.asc().nulls_last() if a else e.desc().nulls_last() for e, a, _ in keys]
    return stmt.order_by(*order).limit(limit)


def counts_statement(where: list[Any]) -> Any:
    return select(col(Case.status), func.count()).where(*where).group_by(col(Case.status))


def signature_statement(scope: Any) -> Any:
    stmt: Any = select(
        func.count(),
        func.coalesce(func.sum(col(Case.version)), 0),
        func.max(col(Case.updated_at)),
    )
    return stmt if scope is None else stmt.where(scope)


def inbox_counts(session: Session, where: list[Any]) -> dict[str, int]:
    stmt = counts_statement(where)
    counts: dict[str, int] = {s: 0 for s in CaseStatus}
    for status, n in session.exec(stmt).all():
        counts[status] = counts.get(status, 0) + int(n)
    counts["open"] = sum(counts[s] for s in OPEN_STATUSES)
    counts["all"] = counts["open"] + counts["closed"]
    return counts


def inbox_page(session: Session, viewer: Any, query: InboxQuery) -> InboxPage:
    """One page of a viewer's inbox, with the per-status counts of the scope and filters."""
    scope = scope_clause(viewer, query)
    where: list[Any] = [] if scope is None else [scope]
    if query.searching:
        where.append(search_clause(query.q or ""))
    where += filter_clauses(query)
    counts = inbox_counts(session, where)
    if query.status in OPEN_STATUSES:
        where.append(col(Case.status) == query.status)
    segments = {
        "open": ["open"],
        "closed": ["closed"],
        "all": ["open", "closed"],
    }.get(query.status, ["open"])
    sort = query.sort if query.sort in SORTS else "due"
    start = decode_cursor(query.cursor, sort) if query.cursor else None
    if start is not None and start[0] not in segments:
        raise ValueError("cursor is not valid")
    rows: list[Case] = []
    for segment in segments:
        if start is not None and segments.index(segment) < segments.index(start[0]):
            continue
        after = start[1] if start is not None and start[0] == segment else None
        need = query.limit + 1 - len(rows)
        rows += list(session.exec(segment_statement(where, segment, after, need, sort)).all())
        if len(rows) > query.limit:
            break
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        next_cursor = encode_cursor("open" if last.is_open else "closed", sort, last)
    return InboxPage(rows, next_cursor, counts)


def inbox_signature(session: Session, viewer: Any, tab: str) -> tuple[int, int, str]:
    """Changes whenever a case enters, leaves or changes in the tab: the live inbox polls it."""
    n, versions, updated = session.exec(signature_statement(tab_clause(viewer, tab))).one()
    return int(n), int(versions), str(updated)
