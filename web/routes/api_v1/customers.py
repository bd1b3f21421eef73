"""Customer profiles, with their cases; an admin's merge of two profiles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from core.threads import in_thread
from models.api import (
    CustomerErasurePublic,
    CustomerMergeIn,
    CustomerMergePublic,
    CustomerPublic,
)
from services.case_queries import get_customer
from services.customer_merge import MergeRefused, merge_customers
from services.gdpr import ErasureRefused, erase_customer, export_customer
from web.api_auth import Admin, CasesRead
from web.deps import EngineDep, SessionDep, SettingsDep, TemporalDep
from web.problems import PROBLEM_JSON, Problem
from web.routes.api_v1.cases import PROBLEMS, token_sees_case

router = APIRouter(prefix="/customers", tags=["customers"], responses=PROBLEMS)

CustomerId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MERGE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such customer", "content": {PROBLEM_JSON: {}}},
    409: {
        "description": "One of the records was merged into another one already",
        "content": {PROBLEM_JSON: {}},
    },
    422: {
        "description": "Invalid request, a record merged into itself, or no such merged_id",
        "content": {PROBLEM_JSON: {}},
    },
}


@router.get("/{customer_id}", response_model=CustomerPublic)
def read_customer(
    customer_id: CustomerId,
    client: CasesRead,
    session: SessionDep,
    settings: SettingsDep,
) -> CustomerPublic:
    """A customer's contact details and every case they have had, newest first.

    A record an admin merged into another has `merged_into` set and no cases left. A token
    limited to programs/units sees only their cases, and no customer without one.
    """
    customer = get_customer(session, customer_id, settings)
    if customer is not None and (client.programs or client.units or client.user_id):
        cases = [c for c in customer.cases if token_sees_case(session, client, c.id)]
        customer = customer.model_copy(update={"cases": cases}) if cases else None
    if customer is None:
        raise Problem(404, "Customer not found", f"No customer {customer_id}", field="customer_id")
    return customer


@router.post("/{customer_id}/merge", response_model=CustomerMergePublic, responses=MERGE_PROBLEMS)
async def merge_customer(
    customer_id: CustomerId, body: CustomerMergeIn, engine: EngineDep, client: Admin
) -> CustomerMergePublic:
    """Merge the record `merged_id` into this one (admin scope).

    Customer records are never merged by intake: two people may share a phone. When they
    really are one person, an admin merges them here. The merged record's cases, survey
    returns and FYIs move to this record, and this record's empty fields are filled from the
    merged one; each case keeps the contact it was opened with (its mail still goes there).
    The merged record stays, with `merged_into` set, so a later contact by its email, phone or
    reference finds this one. The merge is recorded (who, when, which cases, the note).

    The same merge again answers the first one (`replayed`); merging into or from a record
    that was merged elsewhere is a 409.
    """
    try:
        result = await in_thread(
            merge_customers,
            engine,
            customer_id,
            body.merged_id,
            merged_by=client.name,
            note=body.note,
        )
    except MergeRefused as exc:
        title = {404: "Customer not found", 409: "Merge conflict"}.get(exc.status, "Bad merge")
        raise Problem(exc.status, title, exc.message, field=exc.field) from exc
    return CustomerMergePublic(**result.__dict__)


GDPR_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such customer", "content": {PROBLEM_JSON: {}}},
    409: {"description": "The record was merged into another one", "content": {PROBLEM_JSON: {}}},
}


@router.get(
    "/{customer_id}/export",
    responses={
        200: {"description": "Everything about the customer", "content": {"application/json": {}}},
        404: GDPR_PROBLEMS[404],
    },
)
async def export(
    customer_id: CustomerId, engine: EngineDep, settings: SettingsDep, _client: Admin
) -> JSONResponse:
    """Everything Caseloop holds about one customer, as one JSON document (admin scope).

    The customer record and the records merged into it; each case with its timeline (notes,
    contact attempts, replies, the close), its outgoing messages and its documents (metadata,
    and the bytes as base64 in `content_base64`); survey returns and FYIs; merges and
    erasures. Served as a download (`Content-Disposition: attachment`).
    """
    data = await in_thread(export_customer, engine, settings, customer_id)
    if data is None:
        raise Problem(404, "Customer not found", f"No customer {customer_id}", field="customer_id")
    return JSONResponse(
        data,
        headers={
            "Content-Disposition": f'attachment; filename="customer-{customer_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/{customer_id}/erase", response_model=CustomerErasurePublic, responses=GDPR_PROBLEMS)
async def erase(
    customer_id: CustomerId,
    engine: EngineDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    client: Admin,
) -> CustomerErasurePublic:
    """Erase a customer's personal data (GDPR art. 17; admin scope). Safe to retry.

    Open cases are closed as `erased_on_request`; each case's workflow executions are deleted
    from Temporal once closed; the read model keeps anonymised rows (statistics add up as
    before) with names, contact details, texts, notes, replies, survey comments and message
    bodies replaced; uploads are deleted. The erasure is recorded without personal data. The
    same request again answers that record (`replayed`).
    """
    try:
        result = await erase_customer(
            engine, temporal, settings, customer_id, by=f"api:{client.name}"
        )
    except ErasureRefused as exc:
        title = {404: "Customer not found"}.get(exc.status, "Cannot erase")
        raise Problem(exc.status, title, exc.message, field="customer_id") from exc
    return CustomerErasurePublic(**result.__dict__)
