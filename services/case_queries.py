"""Reading cases from the read model (never from Temporal on a hot path)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, or_, select

from core.settings import Settings
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
    # An API token's limits (empty: none): only cases of these programs / units, and for a
    # personal token only what its user may see.
    programs_in: tuple[str, ...] = ()
    units_in: tuple[str, ...] = ()
    viewer: Any = None  # domain.permissions.Viewer


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
    if f.viewer is not None:
        from services.access import visible_clause

        visible = visible_clause(f.viewer)
        if visible is not None:
            stmt = stmt.where(visible)
    if f.programs_in:
        stmt = stmt.where(col(Case.program_id).in_(f.programs_in))
    if f.units_in:
        stmt = stmt.where(col(Case.unit_id).in_(f.units_in))
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
