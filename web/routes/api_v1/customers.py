"""Customer profiles, with their cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from models.api import CustomerPublic
from services.case_queries import get_customer
from web.api_auth import require_scope
from web.deps import SessionDep, SettingsDep
from web.problems import Problem
from web.routes.api_v1.cases import PROBLEMS

router = APIRouter(prefix="/customers", tags=["customers"], responses=PROBLEMS)


@router.get(
    "/{customer_id}",
    response_model=CustomerPublic,
    dependencies=[require_scope("cases:read")],
)
def read_customer(
    customer_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    settings: SettingsDep,
) -> CustomerPublic:
    """A customer's contact details and every case they have had, newest first."""
    customer = get_customer(session, customer_id, settings)
    if customer is None:
        raise Problem(404, "Customer not found", f"No customer {customer_id}", field="customer_id")
    return customer
