"""Customer profiles: found or created at intake so earlier cases show up on the case page."""

from __future__ import annotations

from sqlmodel import Session, col, select

from models.case import Customer


def find_or_create(
    session: Session,
    *,
    name: str = "",
    email: str | None = None,
    phone: str | None = None,
    external_ref: str | None = None,
) -> Customer:
    """Match on external ref, then email, then phone; fill in what the match lacks."""
    email = email.strip().lower() if email else None
    phone = "".join(ch for ch in phone if ch.isdigit() or ch == "+") if phone else None
    for column, value in (
        (Customer.external_ref, external_ref),
        (Customer.email, email),
        (Customer.phone, phone),
    ):
        if value:
            found = session.exec(
                select(Customer).where(col(column) == value).order_by(col(Customer.id))
            ).first()
            if found:
                filled = {
                    "name": found.name or name,
                    "email": found.email or email,
                    "phone": found.phone or phone,
                    "external_ref": found.external_ref or external_ref,
                }
                if any(getattr(found, k) != v for k, v in filled.items()):
                    for k, v in filled.items():
                        setattr(found, k, v)
                    session.add(found)
                    session.flush()
                return found
    customer = Customer(name=name, email=email, phone=phone, external_ref=external_ref)
    session.add(customer)
    session.flush()
    return customer
