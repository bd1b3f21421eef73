"""The admin's merge of two customer records, as a page: pick both, review them, merge.

The same service as `POST /api/v1/customers/{id}/merge`; refusals are shown at their field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session, col, func, select

from core.threads import in_thread
from domain.fields import unstorable
from domain.permissions import Viewer
from models.case import Case, Customer
from services.customer_merge import MergeRefused, merge_customers
from services.gdpr import ErasureRefused, erase_customer, export_customer, privacy_facts
from web.auth import CurrentUser, not_allowed, not_found
from web.deps import EngineDep, SettingsDep, TemporalDep
from web.i18n import N_, gettext
from web.templating import render

router = APIRouter()
PATH = "/admin/customers/merge"
FIELDS = {"customer_id": "into", "merged_id": "merged"}


def _admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise not_allowed(N_("Only administrators can merge customer records."))


def _number(raw: str | None) -> int | None:
    raw = (raw or "").strip().lstrip("#")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**63 else None


def _records(engine: Any, ids: dict[str, int | None]) -> dict[str, Any]:
    """Each chosen record with its number of cases, and what is wrong with the choice."""
    found: dict[str, Any] = {}
    errors: dict[str, str] = {}
    with Session(engine) as session:
        for name, number in ids.items():
            record = session.get(Customer, number) if number is not None else None
            if record is None:
                errors[name] = gettext("Give the number of an existing customer record.")
                continue
            cases = session.exec(
                select(func.count()).select_from(Case).where(col(Case.customer_id) == number)
            ).one()
            found[name] = {"record": record, "cases": int(cases)}
            if record.merged_into is not None:
                errors[name] = gettext(
                    "This record was merged into #%(into)s already.", into=record.merged_into
                )
    if not errors and ids["into"] == ids["merged"]:
        errors["merged"] = gettext("Choose two different records.")
    return {"found": found, "errors": errors}


def _page(request: Request, values: dict[str, str], status: int = 200, **ctx: Any) -> Response:
    base = {"title": N_("Merge customer records"), "values": values, "errors": {}, "found": {}}
    return render(request, "customer_merge.html", {**base, **ctx}, status=status)


@router.get(PATH)
async def merge_page(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    into: str | None = None,
    merged: str | None = None,
) -> Response:
    """Both records side by side once both are chosen, with the button that merges them."""
    _admin(viewer)
    values = {"into": into or "", "merged": merged or "", "note": ""}
    if not (into and merged):
        return _page(request, values)
    ids = {"into": _number(into), "merged": _number(merged)}
    checked = await in_thread(_records, engine, ids)
    return _page(request, values, 422 if checked["errors"] else 200, **checked)


@router.post(PATH)
async def merge(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    into: Annotated[str, Form(max_length=40)] = "",
    merged: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    _admin(viewer)
    values = {"into": into, "merged": merged, "note": note}
    ids = {"into": _number(into), "merged": _number(merged)}
    bad_note = len(note) > 500 or unstorable(note)
    if bad_note or ids["into"] is None or ids["merged"] is None:
        checked = await in_thread(_records, engine, ids)
        if bad_note:
            checked["errors"]["note"] = gettext("Keep the note to 500 characters of ordinary text.")
        return _page(request, values, 422, **checked)
    assert ids["into"] is not None and ids["merged"] is not None
    try:
        result = await in_thread(
            merge_customers,
            engine,
            ids["into"],
            ids["merged"],
            merged_by=viewer.user_id,
            note=note.strip(),
        )
    except MergeRefused as exc:
        checked = await in_thread(_records, engine, ids)
        errors = {FIELDS[exc.field]: exc.message}
        return _page(request, values, exc.status, found=checked["found"], errors=errors)
    return _page(request, values, merged_result=result)


# ---------------------------------------------------------------- data protection (GDPR)

PRIVACY = "/admin/customers/{customer_id}/privacy"


def _privacy_page(
    request: Request, facts: dict[str, Any], status: int = 200, **ctx: Any
) -> Response:
    record = facts["record"]
    base = {
        "title": gettext("Customer #%(id)s: data protection", id=record.id),
        "errors": {},
        **facts,
    }
    return render(request, "customer_privacy.html", {**base, **ctx}, block="privacy", status=status)


async def _facts_or_404(engine: Any, customer_id: int) -> dict[str, Any]:
    facts = await in_thread(privacy_facts, engine, customer_id)
    if facts is None:
        raise not_found(N_("This customer record"))
    return facts


@router.get(PRIVACY)
async def privacy_page(
    request: Request, viewer: CurrentUser, engine: EngineDep, customer_id: int
) -> Response:
    """What Caseloop holds about a customer: download it all, or erase it (admins only)."""
    _privacy_admin(viewer)
    return _privacy_page(request, await _facts_or_404(engine, customer_id))


@router.get("/admin/customers/{customer_id}/export")
async def export_download(
    viewer: CurrentUser, engine: EngineDep, settings: SettingsDep, customer_id: int
) -> Response:
    """The same JSON document as `GET /api/v1/customers/{id}/export`, as a download."""
    _privacy_admin(viewer)
    data = await in_thread(export_customer, engine, settings, customer_id)
    if data is None:
        raise not_found(N_("This customer record"))
    return JSONResponse(
        data,
        headers={
            "Content-Disposition": f'attachment; filename="customer-{customer_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/admin/customers/{customer_id}/erase")
async def erase(
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
    temporal: TemporalDep,
    customer_id: int,
    confirm: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Erase after the admin typed the record's number (the confirmation)."""
    _privacy_admin(viewer)
    facts = await _facts_or_404(engine, customer_id)
    if _number(confirm) != customer_id:
        errors = {
            "confirm": gettext(
                "Type %(id)s, the record's number, to confirm the erasure.", id=customer_id
            )
        }
        return _privacy_page(request, facts, 422, errors=errors, confirm=confirm)
    try:
        result = await erase_customer(engine, temporal, settings, customer_id, by=viewer.user_id)
    except ErasureRefused as exc:
        return _privacy_page(request, facts, exc.status, errors={"confirm": exc.message})
    facts = await _facts_or_404(engine, customer_id)
    return _privacy_page(request, facts, erased=result)


def _privacy_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise not_allowed(N_("Only administrators can export or erase a customer's data."))
