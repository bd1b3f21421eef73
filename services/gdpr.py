"""GDPR: everything about one customer as JSON (export), and their erasure.

Export (`export_customer`): one JSON document — the customer record (and the records merged
into it), each case's row with its timeline (notes, contact attempts, replies, the close),
survey returns and the remeasurement answers, FYIs, every outgoing message (subject, body,
addresses), and the documents' metadata with their bytes as base64 (`content_base64`; null when
the file is missing). Format version in `format`.

Erasure (`erase_customer`), in this order, every step safe to repeat:

1. each open case is closed "erased on request" through the owner-action path (a Temporal
   update, by an admin actor; the update id is fixed per customer, so a retry is the same
   update); a case closed but still running (a pending survey) is terminated;
2. once each workflow has closed, its executions are deleted from Temporal;
3. the read model is anonymised (activities/erasure.py: what stays is domain/erasure.py's
   rule, statistics stay) and the uploads deleted, in one transaction with the record of the
   erasure (`customer_erasure`: ids, counts, who, when; no personal data).

A second erasure of the same record finds that record and answers it (`replayed`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
    DescribeWorkflowExecutionRequest,
    ListWorkflowExecutionsRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.erasure import (
    announce,
    anonymise_customer,
    customer_addresses,
    customer_case_ids,
    customer_inbound,
    customer_records,
)
from core.payload_crypto import KeyRing, key_ring
from core.settings import Settings
from core.threads import in_thread
from domain.case import Actor
from domain.vocabulary import ClosingStatus, ErasureReason, EventKind, Role
from models.case import (
    Case,
    CaseEvent,
    Customer,
    CustomerErasure,
    CustomerMerge,
    Document,
    Outbox,
)
from models.inbound import InboundMessage
from models.intake import Fyi, SurveyResponse
from models.types import utcnow
from services import documents
from services.case_actions import ActionPending, ActionRejected, run_update
from workflows.case import CaseWorkflow
from workflows.messages import CloseCase

log = logging.getLogger(__name__)

EXPORT_FORMAT = "caseloop-customer-export/1"
FINAL_NOTE = "Erased on the customer's request"
# How long a closed case's workflow may take to finish (its last deliveries) before it is
# terminated; and how long the whole close step may wait for an update.
FINISH_WAIT = timedelta(seconds=20)


class ErasureRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# ---------------------------------------------------------------- export


def _row(obj: Any) -> dict[str, Any]:
    data: dict[str, Any] = obj.model_dump(mode="json")
    return data


def _file(upload_dir: Path, document_id: str, ring: KeyRing) -> str | None:
    """The document in clear (uploads are encrypted at rest): the export is for the customer."""
    try:
        data = documents.load(upload_dir, document_id, ring)
    except ValueError:
        return None
    return base64.b64encode(data).decode("ascii") if data is not None else None


def export_customer(engine: Engine, settings: Settings, customer_id: int) -> dict[str, Any] | None:
    """Everything about one customer as JSON-ready data; None when there is no such record."""
    with Session(engine) as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            return None
        ring = key_ring(settings)
        records = customer_records(session, customer_id)
        case_ids = customer_case_ids(session, customer_id)
        cases = []
        for case in session.exec(select(Case).where(col(Case.id).in_(case_ids))):
            events = session.exec(
                select(CaseEvent)
                .where(col(CaseEvent.case_id) == case.id)
                .order_by(col(CaseEvent.seq))
            ).all()
            docs = session.exec(select(Document).where(col(Document.case_id) == case.id)).all()
            messages = session.exec(
                select(Outbox).where(col(Outbox.case_id) == case.id).order_by(col(Outbox.id))
            ).all()
            cases.append(
                {
                    **_row(case),
                    "timeline": [_row(e) for e in events],
                    "notes": [_row(e) for e in events if e.kind == EventKind.NOTE],
                    "replies": [_row(e) for e in events if e.kind == EventKind.REPLY],
                    "messages": [_row(m) for m in messages],
                    "documents": [
                        {**_row(d), "content_base64": _file(settings.upload_dir, d.id, ring)}
                        for d in docs
                    ],
                }
            )
        surveys = session.exec(
            select(SurveyResponse).where(
                or_(
                    col(SurveyResponse.customer_id).in_(records),
                    col(SurveyResponse.case_id).in_(case_ids),
                )
            )
        ).all()
        fyis = session.exec(select(Fyi).where(col(Fyi.customer_id).in_(records))).all()
        fyi_messages = session.exec(
            select(Outbox).where(col(Outbox.case_id).in_([f.ref for f in fyis]))
        ).all()
        merges = session.exec(
            select(CustomerMerge).where(
                or_(
                    col(CustomerMerge.customer_id).in_(records),
                    col(CustomerMerge.merged_id).in_(records),
                )
            )
        ).all()
        inbound = customer_inbound(
            session, customer_addresses(session, records, case_ids), case_ids
        )
        erasures = session.exec(
            select(CustomerErasure).where(col(CustomerErasure.customer_id).in_(records))
        ).all()
        return {
            "format": EXPORT_FORMAT,
            "exported_at": utcnow().isoformat(),
            "customer": _row(customer),
            "merged_records": [
                _row(c)
                for c in session.exec(select(Customer).where(col(Customer.id).in_(records[1:])))
            ],
            "cases": cases,
            "survey_responses": [_row(s) for s in surveys],
            "fyis": [_row(f) for f in fyis],
            "fyi_messages": [_row(m) for m in fyi_messages],
            "merges": [_row(m) for m in merges],
            "erasures": [_row(e) for e in erasures],
            "inbound_messages": [_inbound_row(session, m) for m in inbound],
        }


def _inbound_row(session: Session, m: InboundMessage) -> dict[str, Any]:
    """What the customer wrote to us by email (the attachments' bytes are in their cases)."""
    ids = list(m.document_ids or [])
    names = session.exec(select(Document.filename).where(col(Document.id).in_(ids))).all()
    return {
        "message_id": m.message_id,
        "case_id": m.case_id,
        "received_at": m.received_at.isoformat(),
        "from": m.from_addr,
        "subject": m.subject,
        "text": m.text,
        "attachments": list(names) if ids else [],
    }


# ---------------------------------------------------------------- erasure


@dataclass
class ErasureResult:
    id: int
    customer_id: int
    case_ids: list[str]
    counts: dict[str, int]
    erased_by: str
    erased_at: datetime
    replayed: bool = False
    workflows_deleted: int = field(default=0)


def _result(row: CustomerErasure, replayed: bool) -> ErasureResult:
    assert row.id is not None and row.customer_id is not None
    return ErasureResult(
        id=row.id,
        customer_id=row.customer_id,
        case_ids=list(row.case_ids or []),
        counts=dict(row.counts or {}),
        erased_by=row.erased_by,
        erased_at=row.erased_at,
        replayed=replayed,
        workflows_deleted=int((row.counts or {}).get("workflows_deleted", 0)),
    )


def _key(customer_id: int) -> str:
    return f"{ErasureReason.REQUEST.value}:{customer_id}"


def _recorded(session: Session, customer_id: int) -> CustomerErasure | None:
    return session.exec(
        select(CustomerErasure).where(col(CustomerErasure.key) == _key(customer_id))
    ).first()


def _plan(engine: Engine, customer_id: int) -> tuple[ErasureResult | None, list[tuple[str, bool]]]:
    """The recorded erasure if there is one, else the cases and whether each is open."""
    with Session(engine) as session:
        done = _recorded(session, customer_id)
        if done is not None:
            return _result(done, replayed=True), []
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise ErasureRefused(404, f"No customer {customer_id}")
        if customer.merged_into is not None:
            raise ErasureRefused(
                409, f"Customer {customer_id} was merged into #{customer.merged_into}: erase that"
            )
        ids = customer_case_ids(session, customer_id)
        open_ = {c.id: c.is_open for c in session.exec(select(Case).where(col(Case.id).in_(ids)))}
        return None, [(case_id, open_.get(case_id, False)) for case_id in ids]


def _anonymise(
    engine: Engine,
    upload_dir: Path,
    customer_id: int,
    case_ids: list[str],
    by: str,
    temporal: dict[str, int],
) -> ErasureResult:
    with Session(engine) as session:
        counts = {**anonymise_customer(session, upload_dir, customer_id, case_ids), **temporal}
        row = CustomerErasure(
            key=_key(customer_id),
            reason=ErasureReason.REQUEST,
            customer_id=customer_id,
            case_ids=case_ids,
            counts=counts,
            erased_by=by,
            erased_at=utcnow(),
        )
        session.add(row)
        try:
            session.flush()
            announce(session, case_ids)
            session.commit()
        except IntegrityError:  # the same erasure, finished by another request meanwhile
            session.rollback()
            found = _recorded(session, customer_id)
            assert found is not None
            return _result(found, replayed=True)
        session.refresh(row)
        return _result(row, replayed=False)


async def erase_customer(
    engine: Engine, client: Client, settings: Settings, customer_id: int, by: str
) -> ErasureResult:
    """Close, delete from Temporal, anonymise, record (see the module's docstring).

    `by` is who asked (a user id or "api:<client>"); ErasureRefused (404, 409) when the record
    is unknown or was merged into another one.
    """
    done, cases = await in_thread(_plan, engine, customer_id)
    if done is not None:
        return done
    actor = Actor(by[:64], Role.ADMIN, "Erasure on request")
    deleted = left = 0
    for case_id, is_open in cases:
        await _close(client, case_id, is_open, actor, customer_id)
        done_, left_ = await _delete_executions(client, case_id)
        deleted, left = deleted + done_, left + left_
    return await in_thread(
        _anonymise,
        engine,
        settings.upload_dir,
        customer_id,
        [case_id for case_id, _ in cases],
        by,
        {"workflows_deleted": deleted, "workflows_left": left},
    )


async def _status(client: Client, case_id: str) -> WorkflowExecutionStatus.ValueType | None:
    """The latest run's status; None when there is none (raw: no search attributes decoded)."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=case_id)
    )
    try:
        described = await client.workflow_service.describe_workflow_execution(request)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.workflow_execution_info.status


RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


async def _close(client: Client, case_id: str, is_open: bool, actor: Actor, customer: int) -> None:
    """Close the case's workflow as erased (if open), then wait for it to end (or end it)."""
    if await _status(client, case_id) != RUNNING:
        return
    if not is_open:
        # Closed, still running: waiting on its survey (or a delivery). Deleting a running
        # execution terminates it first (the server does both at once).
        return
    cmd = CloseCase(actor, ClosingStatus.ERASED, [], FINAL_NOTE)
    try:
        await run_update(
            client,
            case_id,
            CaseWorkflow.close,
            cmd,
            idempotency_key=f"erase-{customer}",
            wait_seconds=FINISH_WAIT.total_seconds(),
        )
    except (ActionRejected, ActionPending) as exc:
        # Closed meanwhile (409), or the workflow cannot take it now: it is ended below.
        log.info("erasure: close of %s not applied (%s)", case_id, type(exc).__name__)
    loop = asyncio.get_running_loop()
    until = loop.time() + FINISH_WAIT.total_seconds()
    while loop.time() < until:
        if await _status(client, case_id) != RUNNING:
            return
        await asyncio.sleep(0.2)
    # Still running: a delivery that cannot finish, or the close could not be applied.
    await _terminate(client, case_id)


async def _terminate(client: Client, case_id: str) -> None:
    try:
        await client.get_workflow_handle(case_id).terminate(reason="erased on request")
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise


async def _delete_executions(client: Client, case_id: str) -> tuple[int, int]:
    """Delete every run of the case's workflow (continued-as-new runs too): (deleted, left).

    Temporal deletes a closed execution asynchronously (on the dev server about half a minute
    later); `describe` answers NOT_FOUND once it is gone. A server that cannot delete (the
    time-skipping test server) leaves the history to the namespace's retention: counted as
    left, the run terminated if it still runs."""
    run_ids: list[str] = []
    # The raw call: decoding the runs' search attributes is not needed (and the time-skipping
    # server's answer does not decode).
    request_runs = ListWorkflowExecutionsRequest(
        namespace=client.namespace, query=f'WorkflowId = "{case_id}"'
    )
    try:
        while True:
            page = await client.workflow_service.list_workflow_executions(request_runs)
            run_ids += [e.execution.run_id for e in page.executions]
            if not page.next_page_token:
                break
            request_runs.next_page_token = page.next_page_token
    except RPCError:  # a server without visibility: the latest run is deleted below
        pass
    deleted = left = 0
    for run_id in run_ids or [""]:
        request = DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=case_id, run_id=run_id),
        )
        try:
            await client.workflow_service.delete_workflow_execution(request)
            deleted += 1
        except RPCError as err:
            if err.status == RPCStatusCode.UNIMPLEMENTED:
                if await _status(client, case_id) == RUNNING:
                    await _terminate(client, case_id)
                left += 1
            elif err.status != RPCStatusCode.NOT_FOUND:
                raise
    return deleted, left


def privacy_facts(engine: Engine, customer_id: int) -> dict[str, Any] | None:
    """The record, its number of cases (open ones too), and its erasure if it was erased."""
    with Session(engine) as session:
        record = session.get(Customer, customer_id)
        if record is None:
            return None
        ids = customer_case_ids(session, customer_id)
        open_ = len(
            session.exec(
                select(Case.id).where(col(Case.id).in_(ids), col(Case.is_open).is_(True))
            ).all()
        )
        erasure = session.exec(
            select(CustomerErasure).where(col(CustomerErasure.key) == _key(customer_id))
        ).first()
        return {"record": record, "cases": len(ids), "open": int(open_), "erasure": erasure}
