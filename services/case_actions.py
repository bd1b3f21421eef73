"""Owner actions go to the workflow as Updates; rejections become typed errors for any UI."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage as UpdateStage
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.case import Actor
from domain.vocabulary import Role, Scope
from models.config import ApiClient, Program, Unit, User
from models.intake import ActionKey
from models.types import utcnow
from services.outages import Unavailable, within
from services.writer import writer_for
from workflows.case import CONFLICT, FINISHED, FORBIDDEN, CaseWorkflow
from workflows.messages import ActionAck, CustomerReplied, RemeasureAnswer


class ActionRejected(Exception):
    """The workflow (or its absence) refused the action; `status` is the HTTP status to show."""

    def __init__(
        self, status: int, message: str, field: str | None = None, kind: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        # The workflow's error type (FORBIDDEN, CONFLICT, FINISHED, ...), when it refused.
        self.kind = kind


STATUS_FOR = {FORBIDDEN: 403, CONFLICT: 409, FINISHED: 409}


def actor_for(session: Session, user_id: str) -> Actor:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise ActionRejected(422, f"Unknown or inactive user {user_id!r}")
    return Actor(user.id, Role(user.role), user.name)


def acting_user(client: ApiClient, asked: str | None) -> str:
    """Whom an API client acts as: a personal token its own user only (`asked` absent or the
    same); a service client the user it names, and only with the delegate scope (admin implies
    it). ActionRejected 403 (or 422 when a service client names nobody) otherwise."""
    if client.user_id is not None:
        if asked is not None and asked != client.user_id:
            raise ActionRejected(
                403,
                f"This personal token acts as {client.user_id} only, not as {asked!r}",
                field="acting_user",
            )
        return client.user_id
    if asked is None:
        raise ActionRejected(
            422, "A service client names the user it acts for (acting_user)", field="acting_user"
        )
    scopes = list(client.scopes or [])
    if Scope.DELEGATE not in scopes and Scope.ADMIN not in scopes:
        raise ActionRejected(
            403,
            f"Acting on behalf of {asked!r} needs the {Scope.DELEGATE.value!r} scope",
            field="acting_user",
        )
    return asked


def people_of(session: Session, client: ApiClient) -> set[str] | None:
    """The users a service client may act for: the people of its units and programs (their
    owners, managers, central team, routing targets); None: anyone (it has no such limit)."""
    if not client.units and not client.programs:
        return None
    people: set[str] = set()
    for unit_id in client.units or []:
        unit = session.get(Unit, unit_id)
        if unit is not None:
            people |= {unit.frontline_owner_id, unit.manager_id, unit.field_manager_id} - {None}  # type: ignore[arg-type]
    for program_id in client.programs or []:
        program = session.get(Program, program_id)
        if program is None:
            continue
        people |= set(program.central_team or [])
        people |= {r["user"] for r in program.routing_rules or [] if r.get("user")}
        if program.default_owner_id:
            people.add(program.default_owner_id)
    return people


def client_actor(session: Session, client: ApiClient, asked: str | None) -> Actor:
    """The Actor of an API client's action (`acting_user`'s rule), naming the client as "via"
    when a service client acts for someone."""
    user_id = acting_user(client, asked)
    actor = actor_for(session, user_id)
    if client.user_id is not None:
        return actor
    people = people_of(session, client)
    if people is not None and user_id not in people:
        raise ActionRejected(
            403,
            f"{client.name} may act only for users of its programs and units, not {user_id!r}",
            field="acting_user",
        )
    return Actor(actor.user_id, actor.role, actor.name, via=client.name)


class ActionPending(Exception):
    """The workflow has not finished the action within the wait; Temporal holds it.

    `stage` is how far it got: "accepted" (the workflow checked it and it is in the case's
    history: it will finish, e.g. once the database is back) or "admitted" (the server holds it
    but the workflow has not confirmed it: no worker runs, or the workflow task that took it is
    still waiting on the database; durable only once accepted). Sending the same update id again
    is the same action, never a second one.
    """

    def __init__(self, case_id: str, action_id: str, stage: str) -> None:
        super().__init__(f"{action_id} on {case_id}: {stage}")
        self.case_id, self.action_id, self.stage = case_id, action_id, stage


STAGES = {
    UpdateStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED: "admitted",
    UpdateStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED: "accepted",
    UpdateStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED: "completed",
}


async def run_update(
    client: Client,
    case_id: str,
    update: Any,
    cmd: Any,
    *,
    idempotency_key: str | None = None,
    wait_seconds: float = 4.0,
) -> ActionAck:
    """Execute an update and return its acknowledgement (the case's new version, projected to
    the read model before the workflow answers: callers read the case from there); the same
    idempotency key is the same update id (deduplicated by Temporal).

    Bounded: after `wait_seconds` ActionPending if Temporal holds the update (no worker, or the
    workflow waits for the database), Unavailable if it does not (Temporal unreachable)."""
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_id)
    update_id = f"{update.__name__}:{idempotency_key or uuid.uuid4().hex}"

    async def apply() -> ActionAck:
        started = await handle.start_update(
            update, cmd, id=update_id, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        result: ActionAck = await started.result()
        return result

    try:
        finished, view = await within(apply(), wait_seconds)
        if finished:
            assert view is not None
            return view
        stage = await update_stage(client, case_id, update_id)
        if stage is None:
            raise Unavailable("temporal", f"Temporal did not take the action on {case_id}")
        if stage == "completed":
            done: ActionAck = await handle.get_update_handle_for(update, update_id).result()
            return done
        raise ActionPending(case_id, update_id, stage)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            status = STATUS_FOR.get(cause.type or "", 422)
            raise ActionRejected(status, cause.message, kind=cause.type) from err
        raise
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ActionRejected(
                409, f"Case {case_id} no longer accepts changes", kind=FINISHED
            ) from err
        raise


async def update_stage(client: Client, case_id: str, update_id: str) -> str | None:
    """How far Temporal has the update ("admitted", "accepted", "completed"); None if it does
    not have it, or cannot be asked."""
    request = PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=UpdateRef(
            workflow_execution=WorkflowExecution(workflow_id=case_id), update_id=update_id
        ),
        identity=client.identity,
        # Answered at once with the stage it has reached (admitted is the first).
        wait_policy=WaitPolicy(
            lifecycle_stage=UpdateStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
        ),
    )
    try:
        response = await client.workflow_service.poll_workflow_execution_update(
            request, retry=False, timeout=timedelta(seconds=5)
        )
    except (RPCError, RuntimeError):  # not found, or Temporal unreachable
        return None
    return STAGES.get(response.stage)


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


async def customer_replied(client: Client, case_id: str, source: str = "email") -> None:
    """The customer answered (inbound mail, another platform): a case waiting on them resumes;
    any other case ignores it."""
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_id)
    try:
        await handle.signal(CaseWorkflow.customer_replied, CustomerReplied(source))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ActionRejected(409, f"Case {case_id} is not waiting on the customer") from err
        raise
