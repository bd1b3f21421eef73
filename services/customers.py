"""Customer profiles: found or created at intake so earlier cases show up on the case page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from models.case import Customer

if TYPE_CHECKING:
    from models.api import CustomerIn


@dataclass(frozen=True)
class CustomerRef:
    id: int
    name: str


_C = Customer.__table__.c  # type: ignore[attr-defined]
_FIELDS = ("name", "email", "phone", "external_ref")
# Constant Core statements with bound parameters: compiled once, cached by SQLAlchemy (this
# runs for every intake request).
_FIND = {
    column: select(_C.id, *(_C[f] for f in _FIELDS))
    .where(_C[column] == bindparam("value"))
    .order_by(_C.id)
    .limit(1)
    for column in ("external_ref", "email", "phone")
}
_FILL = (
    update(Customer.__table__)  # type: ignore[attr-defined]
    .where(_C.id == bindparam("customer_id"))
    .values({f: bindparam(f) for f in _FIELDS})
)
_INSERT = insert(Customer.__table__).returning(_C.id)  # type: ignore[attr-defined]


def find_or_create(
    session: Session,
    *,
    name: str = "",
    email: str | None = None,
    phone: str | None = None,
    external_ref: str | None = None,
) -> CustomerRef:
    """Match on external ref, then email, then phone; fill in what the match lacks."""
    email = email.strip().lower() if email else None
    phone = "".join(ch for ch in phone if ch.isdigit() or ch == "+") if phone else None
    given = {"name": name, "email": email, "phone": phone, "external_ref": external_ref}
    for column, value in (("external_ref", external_ref), ("email", email), ("phone", phone)):
        if value:
            found = session.execute(_FIND[column], {"value": value}).first()
            if found is not None:
                filled = {f: getattr(found, f) or given[f] for f in _FIELDS}
                if any(getattr(found, f) != v for f, v in filled.items()):
                    session.execute(_FILL, {"customer_id": found.id, **filled})
                return CustomerRef(found.id, found.name or name)
    number = session.execute(_INSERT, {**given, "created_at": datetime.now(UTC)}).scalar_one()
    return CustomerRef(number, name)


def customer_for(session: Session, customer: CustomerIn) -> CustomerRef:
    """`find_or_create` for an intake request's customer block (cases and survey returns)."""
    return find_or_create(
        session,
        name=customer.name,
        email=str(customer.email) if customer.email else None,
        phone=customer.phone,
        external_ref=customer.external_ref,
    )
