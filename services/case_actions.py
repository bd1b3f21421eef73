"""Owner actions go to the workflow as Updates; rejections become typed errors for any UI."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.case import Actor, CaseView
from domain.vocabulary import Role
from models.config import User
from models.intake import ActionKey
from models.types import utcnow
from services.writer import writer_for
from workflows.case import CONFLICT, FORBIDDEN, CaseWorkflow
from workflows.messages import RemeasureAnswer


class ActionRejected(Exception):
    """The workflow (or its absence) refused the action; `status` is the HTTP status to show."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


STATUS_FOR = {FORBIDDEN: 403, CONFLICT: 409}


def actor_for(session: Session, user_id: str) -> Actor:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise ActionRejected(422, f"Unknown or inactive user {user_id!r}")
    return Actor(user.id, Role(user.role), user.name)


async def run_update(
    client: Client, case_id: str, update: Any, cmd: Any, *, idempotency_key: str | None = None
) -> CaseView:
    """Execute an update; the same idempotency key is the same update id (deduplicated)."""
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_id)
    update_id = f"{update.__name__}:{idempotency_key}" if idempotency_key else None
    try:
        result: CaseView = await handle.execute_update(update, cmd, id=update_id)
        return result
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            raise ActionRejected(STATUS_FOR.get(cause.type or "", 422), cause.message) from err
        raise
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ActionRejected(409, f"Case {case_id} no longer accepts changes") from err
        raise


_K = ActionKey.__table__.c  # type: ignore[attr-defined]
_KEY_HASH = select(_K.request_hash).where(
    (_K.client_id == bindparam("client_id"))
    & (_K.case_id == bindparam("case_id"))
    & (_K.idempotency_key == bindparam("key"))
)
_INSERT_KEY = insert(ActionKey.__table__)  # type: ignore[attr-defined]


def claim_action_key(
    engine: Engine, client_id: str, case_id: str, key: str, request_hash: str
) -> None:
    """Record the client's key for this case with its request's hash; ActionRejected (422) if
    the key came before with another request (the IETF idempotency-key draft's rule)."""
    params = {"client_id": client_id, "case_id": case_id, "key": key}

    def write(session: Session) -> str | None:
        found: str | None = session.execute(_KEY_HASH, params).scalar()
        if found is None:
            session.execute(
                _INSERT_KEY,
                {
                    "client_id": client_id,
                    "case_id": case_id,
                    "idempotency_key": key,
                    "request_hash": request_hash,
                    "created_at": utcnow(),
                },
            )
        return found

    try:
        found = writer_for(engine).run(write)
    except IntegrityError:  # the same key, sent at the same moment through another process
        with Session(engine) as session:
            found = session.execute(_KEY_HASH, params).scalar()
    if found is not None and found != request_hash:
        raise ActionRejected(
            422,
            "This Idempotency-Key was used before with a different request",
            field="Idempotency-Key",
        )


async def send_remeasurement(client: Client, case_id: str, answer: RemeasureAnswer) -> None:
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_id)
    try:
        await handle.signal(CaseWorkflow.remeasure_answer, answer)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ActionRejected(409, f"Case {case_id} is not waiting for a survey answer") from err
        raise
