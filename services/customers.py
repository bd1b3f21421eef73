"""Customer records at intake: the record a contact belongs to, found or created.

domain/customers.py decides; this reads the records that share the contact's reference, email
or phone, and writes what it decided. The rows it read stay locked until intake commits (on
PostgreSQL; SQLite has one writer), so an admin's merge of one of them waits for the case to be
written and then moves it too, or goes first and is followed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, union, update
from sqlmodel import Session

from domain.customers import Contact, Known, identify
from models.case import Customer

if TYPE_CHECKING:
    from models.api import CustomerIn


@dataclass(frozen=True)
class CustomerRef:
    """The customer record of a contact, and the case's contact (what its mail goes to)."""

    id: int
    contact: Contact


_C = Customer.__table__.c  # type: ignore[attr-defined]
KNOWN_COLUMNS = (
    _C.id,
    _C.name,
    _C.email,
    _C.phone,
    _C.external_ref,
    _C.external_source,
    _C.merged_into,
)
# How many records of one email or phone are weighed (a number shared by a whole office).
_PER_KEY = 50


def _ids_with(column: str) -> Any:
    sub = (
        select(_C.id)
        .where(_C[column] == bindparam(column))
        .order_by(_C.id)
        .limit(_PER_KEY)
        .subquery()
    )
    return select(sub.c.id)


# Constant statements with bound parameters: compiled once, cached by SQLAlchemy (this runs
# for every intake request).
_CANDIDATES = select(_C.id, _C.merged_into).where(
    _C.id.in_(union(*(_ids_with(c) for c in ("external_ref", "email", "phone"))))
)
# In id order, in one statement: concurrent intakes and merges lock rows in the same order.
_LOCKED = (
    select(*KNOWN_COLUMNS)
    .where(_C.id.in_(bindparam("ids", expanding=True)))
    .order_by(_C.id)
    .with_for_update(key_share=True)
)
_INSERT = insert(Customer.__table__).returning(_C.id)  # type: ignore[attr-defined]


def known(row: Any) -> Known:
    return Known(**{c.name: getattr(row, c.name) for c in KNOWN_COLUMNS})


def _records(session: Session, given: Contact) -> list[Known]:
    """The records sharing a key with `given`, and the records those were merged into."""
    keys = {"external_ref": given.external_ref, "email": given.email, "phone": given.phone}
    if not any(keys.values()):
        return []
    wanted: set[int] = set()
    for row in session.execute(_CANDIDATES, keys):
        wanted |= {row.id, row.merged_into} - {None}
    records: dict[int, Known] = {}
    asked: set[int] = set()
    while missing := wanted - asked:
        asked |= missing
        for row in session.execute(_LOCKED, {"ids": sorted(missing)}):
            records[row.id] = known(row)
            # A merge committed after the first read may name a record not read yet.
            if row.merged_into is not None:
                wanted.add(row.merged_into)
    return list(records.values())


def find_or_create(session: Session, given: Contact) -> CustomerRef:
    """The record of `given` (created if none), its empty fields filled as the rules allow."""
    found = identify(given, _records(session, given))
    if found.customer_id is None:
        number = session.execute(
            _INSERT,
            {
                "name": given.name,
                "email": given.email,
                "phone": given.phone,
                "external_ref": given.external_ref,
                "external_source": given.source if given.external_ref else None,
                "merged_into": None,
                "created_at": datetime.now(UTC),
            },
        ).scalar_one()
        return CustomerRef(number, found.contact)
    if found.fill:
        session.execute(
            update(Customer.__table__)  # type: ignore[attr-defined]
            .where(_C.id == found.customer_id)
            .values(dict(found.fill))
        )
    return CustomerRef(found.customer_id, found.contact)


def customer_for(session: Session, customer: CustomerIn, source: str) -> CustomerRef:
    """`find_or_create` for an intake request's customer block (cases and survey returns);
    `source` is the request's channel (an external reference is the channel's own)."""
    return find_or_create(
        session,
        Contact.given(
            name=customer.name,
            email=str(customer.email) if customer.email else None,
            phone=customer.phone,
            external_ref=customer.external_ref,
            source=source,
        ),
    )
