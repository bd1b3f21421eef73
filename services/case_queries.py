"""Reading cases from the read model (never from Temporal on a hot path)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, or_, select

from core.settings import Settings
from domain.vocabulary import OPEN_STATUSES, CaseStatus, values
from models.api import (
    CaseDetailPublic,
    CasePublic,
    CaseSummaryPublic,
    ContactPublic,
    CustomerPublic,
    TimelineEventPublic,
    WatcherPublic,
)
from models.case import Case, CaseEvent, CaseWatcher, Customer


@dataclass
class CaseFilters:
    status: str | None = None
    owner_id: str | None = None
    unit_id: str | None = None
    channel: str | None = None
    program_id: str | None = None
    overdue: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str | None = None


def links(case_id: str, settings: Settings) -> dict[str, str]:
    return {
        "self": f"/api/v1/cases/{case_id}",
        "web": f"{settings.public_base_url}/cases/{case_id}",
        "temporal": f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
        f"/workflows/{case_id}",
    }


def contact_of(row: dict[str, Any]) -> ContactPublic:
    return ContactPublic(
        name=row["customer_name"], email=row.get("contact_email"), phone=row.get("contact_phone")
    )


def public_from_row(
    row: dict[str, Any], watchers: list[tuple[str, str]], settings: Settings
) -> CasePublic:
    """A case answer from column values (intake's version-0 row), without an ORM object."""
    data = {k: v for k, v in row.items() if k in CasePublic.model_fields}
    data["contact"] = contact_of(row)
    data["transaction"] = {k: str(v) for k, v in (row.get("transaction") or {}).items()}
    data["watchers"] = [WatcherPublic(user_id=u, access=a) for u, a in watchers]  # type: ignore[arg-type]
    data["links"] = links(row["id"], settings)
    return CasePublic.model_validate(data)


def to_public(case: Case, watchers: list[CaseWatcher], settings: Settings) -> CasePublic:
    data = case.model_dump()
    data["contact"] = contact_of(data)
    data["transaction"] = {k: str(v) for k, v in (case.transaction or {}).items()}
    data["watchers"] = [WatcherPublic(user_id=w.user_id, access=w.access) for w in watchers]  # type: ignore[arg-type]
    data["links"] = links(case.id, settings)
    return CasePublic.model_validate(data)


def watchers_of(session: Session, case_ids: list[str]) -> dict[str, list[CaseWatcher]]:
    out: dict[str, list[CaseWatcher]] = {cid: [] for cid in case_ids}
    if case_ids:
        rows = session.exec(
            select(CaseWatcher)
            .where(col(CaseWatcher.case_id).in_(case_ids))
            .order_by(col(CaseWatcher.user_id))
        )
        for w in rows:
            out[w.case_id].append(w)
    return out


def get_case(session: Session, case_id: str, settings: Settings) -> CaseDetailPublic | None:
    case = session.get(Case, case_id)
    if case is None:
        return None
    public = to_public(case, watchers_of(session, [case_id])[case_id], settings)
    events = session.exec(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.seq))
    ).all()
    return CaseDetailPublic(
        **public.model_dump(),
        timeline=[TimelineEventPublic.model_validate(e.model_dump()) for e in events],
        earlier_cases=earlier_case_summaries(session, case, settings),
    )


def summary(case: Case, settings: Settings) -> CaseSummaryPublic:
    return CaseSummaryPublic(
        id=case.id,
        program_id=case.program_id,
        unit_id=case.unit_id,
        channel=case.channel,
        status=case.status,
        closing_status=case.closing_status,
        reason=case.reason,
        created_at=case.created_at,
        closed_at=case.closed_at,
        links=links(case.id, settings),
    )


def earlier_case_summaries(
    session: Session, case: Case, settings: Settings, limit: int = 50
) -> list[CaseSummaryPublic]:
    """The customer's cases opened before this one, newest first."""
    if case.customer_id is None:
        return []
    rows = session.exec(
        select(Case)
        .where(
            col(Case.customer_id) == case.customer_id,
            col(Case.id) != case.id,
            or_(
                col(Case.created_at) < case.created_at,
                (col(Case.created_at) == case.created_at) & (col(Case.id) < case.id),
            ),
        )
        .order_by(col(Case.created_at).desc(), col(Case.id).desc())
        .limit(limit)
    ).all()
    return [summary(c, settings) for c in rows]


def get_customer(
    session: Session, customer_id: int, settings: Settings, limit: int = 200
) -> CustomerPublic | None:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.id is None:
        return None
    rows = session.exec(
        select(Case)
        .where(col(Case.customer_id) == customer_id)
        .order_by(col(Case.created_at).desc(), col(Case.id).desc())
        .limit(limit)
    ).all()
    return CustomerPublic(
        id=customer.id,
        name=customer.name,
        email=customer.email,
        phone=customer.phone,
        external_ref=customer.external_ref,
        created_at=customer.created_at,
        merged_into=customer.merged_into,
        cases=[summary(c, settings) for c in rows],
    )


def encode_cursor(case: Case) -> str:
    raw = json.dumps([case.created_at.isoformat(), case.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError on anything that is not a cursor this API produced."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, case_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(created), str(case_id)
    except Exception as exc:
        raise ValueError("cursor is not valid") from exc


def list_cases(
    session: Session,
    filters: CaseFilters,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Case], str | None]:
    """Newest first, keyset-paginated on (created_at, id)."""
    stmt: Any = select(Case)
    f = filters
    for column, value in (
        (Case.status, f.status),
        (Case.owner_id, f.owner_id),
        (Case.unit_id, f.unit_id),
        (Case.channel, f.channel),
        (Case.program_id, f.program_id),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    if f.overdue is not None:
        stmt = stmt.where(col(Case.went_overdue) == f.overdue)
    if f.created_from is not None:
        stmt = stmt.where(col(Case.created_at) >= f.created_from)
    if f.created_to is not None:
        stmt = stmt.where(col(Case.created_at) < f.created_to)
    if f.q:
        term = f.q.strip()
        like = f"%{term.lower()}%"
        phone = "".join(c for c in term if c.isdigit() or c == "+")
        customer_ids = select(Customer.id).where(
            or_(col(Customer.email) == term.lower(), col(Customer.phone) == phone)
        )
        stmt = stmt.where(
            or_(
                col(Case.id) == term.upper(),
                col(Case.customer_name).ilike(like),
                # the case's own contact, and every case of the customer record
                col(Case.contact_email) == term.lower(),
                col(Case.contact_phone) == phone,
                col(Case.customer_id).in_(customer_ids),
            )
        )
    if cursor:
        created, case_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                col(Case.created_at) < created,
                (col(Case.created_at) == created) & (col(Case.id) < case_id),
            )
        )
    stmt = stmt.order_by(col(Case.created_at).desc(), col(Case.id).desc()).limit(limit + 1)
    rows = list(session.exec(stmt).all())
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


# ---------------------------------------------------------------- the web inbox
#
# Urgency order: open cases first, past due first then soonest due (next_due_at ascending,
# nulls last), then closed cases, most recently closed first. The two segments are paged
# separately (keyset on (next_due_at, id) and (closed_at, id)) so each one walks the
# (owner_id, is_open, next_due_at) index instead of sorting the whole scope.

INBOX_TABS = ("mine", "watching", "escalated", "units", "all")
# The status filter: any one status, or every open one, or all.
INBOX_STATUSES = ("open", *values(CaseStatus), "all")


@dataclass
class InboxQuery:
    tab: str = "mine"
    status: str = "open"
    q: str | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass
class InboxPage:
    rows: list[Case]
    next_cursor: str | None
    counts: dict[str, int]


def tab_clause(viewer: Any, tab: str) -> Any:
    """The cases of one inbox tab, always inside what the viewer may see (services.access)."""
    from sqlalchemy import and_, false

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


def search_clause(term: str) -> Any:
    """Case id ("C-000123", "c-123", "123"), contact name (substring), email or phone (exact:
    the case's contact or its customer record's)."""
    from models.case import Customer, case_id_for

    term = term.strip()
    clauses: list[Any] = [col(Case.customer_name).ilike(f"%{_like_escape(term)}%", escape="\\")]
    number = term.upper().removeprefix("C-").removeprefix("C")
    if number.isdigit() and len(number) <= 9:
        clauses.append(col(Case.id) == case_id_for(int(number)))
    else:
        clauses.append(col(Case.id) == term.upper())
    customer: list[Any] = []
    if "@" in term:
        customer.append(col(Customer.email) == term.lower())
        clauses.append(col(Case.contact_email) == term.lower())
    digits = "".join(c for c in term if c.isdigit())
    if len(digits) >= 5 and all(c.isdigit() or c in " +().-" for c in term):
        customer.append(col(Customer.phone).in_([digits, "+" + digits]))
        clauses.append(col(Case.contact_phone).in_([digits, "+" + digits]))
    if customer:
        clauses.append(col(Case.customer_id).in_(select(Customer.id).where(or_(*customer))))
    return or_(*clauses)


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _encode_inbox_cursor(segment: str, value: datetime | None, case_id: str) -> str:
    raw = json.dumps([segment, value.isoformat() if value else None, case_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_inbox_cursor(cursor: str) -> tuple[str, datetime | None, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        segment, value, case_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if segment not in ("open", "closed"):
            raise ValueError(segment)
        return segment, datetime.fromisoformat(value) if value else None, str(case_id)
    except Exception as exc:
        raise ValueError("cursor is not valid") from exc


def _after(column: Any, value: datetime | None, case_id: str, *, ascending: bool) -> Any:
    """Keyset condition "comes after (value, id)" for an order with nulls last."""
    from sqlalchemy import and_

    idc = col(Case.id)
    if value is None:
        return and_(column.is_(None), idc > case_id if ascending else idc < case_id)
    beyond = column > value if ascending else column < value
    tie = and_(column == value, idc > case_id if ascending else idc < case_id)
    return or_(beyond, tie, column.is_(None))


# What an inbox row shows: loading only these skips the JSON and long text columns.
INBOX_COLUMNS: tuple[Any, ...] = (
    Case.id,
    Case.version,
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
    Case.next_due_at,
    Case.escalation_level,
    Case.closed_at,
)


def segment_statement(
    where: list[Any], segment: str, after: tuple[datetime | None, str] | None, limit: int
) -> Any:
    """The rows of one inbox segment ("open" by urgency, "closed" newest first), keyset-paged."""
    from sqlalchemy import true
    from sqlalchemy.orm import load_only

    is_open = col(Case.is_open) == (true() if segment == "open" else ~true())
    stmt: Any = select(Case).options(load_only(*INBOX_COLUMNS)).where(is_open, *where)
    if segment == "open":
        key, ascending = col(Case.next_due_at), True
        order = [key.asc().nulls_last(), col(Case.id).asc()]
    else:
        key, ascending = col(Case.closed_at), False
        order = [key.desc().nulls_last(), col(Case.id).desc()]
    if after is not None:
        stmt = stmt.where(_after(key, after[0], after[1], ascending=ascending))
    return stmt.order_by(*order).limit(limit)


def counts_statement(where: list[Any]) -> Any:
    from sqlalchemy import func

    return select(col(Case.status), func.count()).where(*where).group_by(col(Case.status))


def signature_statement(scope: Any) -> Any:
    from sqlalchemy import func

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
    """One page of a viewer's inbox tab, with the per-status counts of the tab (and search)."""
    scope = tab_clause(viewer, query.tab)
    where: list[Any] = [] if scope is None else [scope]
    if query.q and query.q.strip():
        where.append(search_clause(query.q))
    counts = inbox_counts(session, where)
    if query.status in OPEN_STATUSES:
        where.append(col(Case.status) == query.status)
    segments = {
        "open": ["open"],
        "closed": ["closed"],
        "all": ["open", "closed"],
    }.get(query.status, ["open"])
    start: tuple[str, datetime | None, str] | None = (
        _decode_inbox_cursor(query.cursor) if query.cursor else None
    )
    if start is not None and start[0] not in segments:
        raise ValueError("cursor is not valid")
    rows: list[Case] = []
    for segment in segments:
        if start is not None and segments.index(segment) < segments.index(start[0]):
            continue
        after = (start[1], start[2]) if start is not None and start[0] == segment else None
        need = query.limit + 1 - len(rows)
        rows += list(session.exec(segment_statement(where, segment, after, need)).all())
        if len(rows) > query.limit:
            break
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        segment = "open" if last.is_open else "closed"
        value = last.next_due_at if segment == "open" else last.closed_at
        next_cursor = _encode_inbox_cursor(segment, value, last.id)
    return InboxPage(rows, next_cursor, counts)


def inbox_signature(session: Session, viewer: Any, tab: str) -> tuple[int, int, str]:
    """Changes whenever a case enters, leaves or changes in the tab: the live inbox polls it."""
    n, versions, updated = session.exec(signature_statement(tab_clause(viewer, tab))).one()
    return int(n), int(versions), str(updated)


def earlier_cases(session: Session, viewer: Any, case: Case, limit: int = 10) -> list[Case]:
    """The customer's cases opened before this one that this viewer may see, newest first."""
    from services.access import visible_clause

    if case.customer_id is None:
        return []
    stmt: Any = select(Case).where(
        col(Case.customer_id) == case.customer_id,
        col(Case.id) != case.id,
        or_(
            col(Case.created_at) < case.created_at,
            (col(Case.created_at) == case.created_at) & (col(Case.id) < case.id),
        ),
    )
    visible = visible_clause(viewer)
    if visible is not None:
        stmt = stmt.where(visible)
    stmt = stmt.order_by(col(Case.created_at).desc(), col(Case.id).desc()).limit(limit)
    return list(session.exec(stmt).all())


def other_cases(session: Session, viewer: Any, case: Case, limit: int = 20) -> list[Case]:
    """The customer's other cases (before and after this one) that this viewer may see, newest
    first; the ones they may not see are left out without a trace."""
    from services.access import visible_clause

    if case.customer_id is None:
        return []
    stmt: Any = select(Case).where(
        col(Case.customer_id) == case.customer_id, col(Case.id) != case.id
    )
    visible = visible_clause(viewer)
    if visible is not None:
        stmt = stmt.where(visible)
    stmt = stmt.order_by(col(Case.created_at).desc(), col(Case.id).desc()).limit(limit)
    return list(session.exec(stmt).all())
