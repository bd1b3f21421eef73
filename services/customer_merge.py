"""An admin's explicit merge of two customer records: the only way records are joined.

The merged record's cases, survey returns and FYIs move to the surviving record, whose empty
fields are filled from the merged one; the merged record stays, pointing at the survivor, so a
later contact with its email, phone or reference finds the survivor. Each case keeps its own
contact. A `customer_merge` row records who merged what, when, and which cases moved.

Both records are locked (in id order, like intake) for the transaction, so crossed or repeated
merges run one after the other: a repeat answers the first merge, a crossed one is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from domain.customers import merge_fill
from models.case import Case, Customer, CustomerMerge
from models.intake import Fyi, SurveyResponse
from services.customers import KNOWN_COLUMNS, known
from services.writer import writer_for

log = logging.getLogger(__name__)


class MergeRefused(Exception):
    """A merge that cannot be done; `status` is the HTTP status to show, `field` the input."""

    def __init__(self, status: int, message: str, field: str) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


@dataclass
class MergeResult:
    id: int
    customer_id: int
    merged_id: int
    case_ids: list[str]
    filled: list[str]
    merged_by: str
    note: str
    merged_at: datetime
    # True when the merged record was merged into this one before: the first merge's record.
    replayed: bool = False


_C = Customer.__table__.c  # type: ignore[attr-defined]
_M = CustomerMerge.__table__.c  # type: ignore[attr-defined]
_LOCK = (
    select(*KNOWN_COLUMNS)
    .where(_C.id.in_(bindparam("ids", expanding=True)))
    .order_by(_C.id)
    .with_for_update()
)
_RECORD = select(CustomerMerge.__table__).where(_M.merged_id == bindparam("merged_id"))  # type: ignore[attr-defined]
# Every table that names a customer record.
_MOVED: tuple[Any, ...] = (Case.__table__, SurveyResponse.__table__, Fyi.__table__)  # type: ignore[attr-defined]


def _recorded(session: Session, merged_id: int) -> MergeResult | None:
    row = session.execute(_RECORD, {"merged_id": merged_id}).first()
    if row is None:
        return None
    return MergeResult(
        id=row.id,
        customer_id=row.customer_id,
        merged_id=row.merged_id,
        case_ids=list(row.case_ids or []),
        filled=list(row.filled or []),
        merged_by=row.merged_by,
        note=row.note,
        merged_at=row.merged_at,
        replayed=True,
    )


def _merge(
    session: Session, customer_id: int, merged_id: int, merged_by: str, note: str
) -> MergeResult:
    rows = {r.id: known(r) for r in session.execute(_LOCK, {"ids": [customer_id, merged_id]})}
    survivor, merged = rows.get(customer_id), rows.get(merged_id)
    if survivor is None:
        raise MergeRefused(404, f"No customer {customer_id}", "customer_id")
    if merged is None:
        raise MergeRefused(422, f"No customer {merged_id} to merge", "merged_id")
    if merged.merged_into == customer_id:
        done = _recorded(session, merged_id)
        if done is not None:
            return done
    if survivor.merged_into is not None:
        raise MergeRefused(
            409,
            f"Customer {customer_id} was merged into customer {survivor.merged_into}: "
            f"merge into that one",
            "customer_id",
        )
    if merged.merged_into is not None:
        raise MergeRefused(
            409,
            f"Customer {merged_id} was merged into customer {merged.merged_into} already",
            "merged_id",
        )
    # The merged record, and any merged into it before, now lead to the survivor.
    session.execute(
        update(Customer.__table__)  # type: ignore[attr-defined]
        .where((_C.id == merged_id) | (_C.merged_into == merged_id))
        .values(merged_into=customer_id)
    )
    fill = merge_fill(survivor, merged)
    if fill:
        session.execute(
            update(Customer.__table__).where(_C.id == customer_id).values(fill)  # type: ignore[attr-defined]
        )
    case_ids = sorted(
        session.execute(
            select(Case.__table__.c.id).where(Case.__table__.c.customer_id == merged_id)  # type: ignore[attr-defined]
        ).scalars()
    )
    for table in _MOVED:
        session.execute(
            update(table).where(table.c.customer_id == merged_id).values(customer_id=customer_id)
        )
    result = MergeResult(
        id=0,
        customer_id=customer_id,
        merged_id=merged_id,
        case_ids=case_ids,
        filled=list(fill),
        merged_by=merged_by,
        note=note,
        merged_at=datetime.now(UTC),
    )
    result.id = session.execute(
        insert(CustomerMerge.__table__).returning(_M.id),  # type: ignore[attr-defined]
        {k: v for k, v in result.__dict__.items() if k not in ("id", "replayed")},
    ).scalar_one()
    return result


def merge_customers(
    engine: Engine, customer_id: int, merged_id: int, *, merged_by: str, note: str = ""
) -> MergeResult:
    """Merge record `merged_id` into `customer_id` (blocking: call from a thread).

    Raises MergeRefused, having changed nothing. The same merge again answers the first one.
    """
    if customer_id == merged_id:
        raise MergeRefused(422, "A customer record cannot be merged into itself", "merged_id")
    try:
        result = writer_for(engine).run(
            lambda session: _merge(session, customer_id, merged_id, merged_by, note)
        )
    except IntegrityError:
        # The same record merged by another process at the same moment (unique merged_id).
        with Session(engine) as session:
            done = _recorded(session, merged_id)
        if done is None:
            raise
        if done.customer_id != customer_id:
            raise MergeRefused(
                409,
                f"Customer {merged_id} was merged into customer {done.customer_id} already",
                "merged_id",
            ) from None
        return done
    if not result.replayed:
        # Ids only: no personal data in logs.
        log.info(
            "customer %d merged into %d by %s: %d case(s) moved",
            merged_id,
            customer_id,
            merged_by,
            len(result.case_ids),
        )
    return result
