"""JSON API for cases: intake, reading, and every owner action (as Temporal Updates)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import AfterValidator, BaseModel, BeforeValidator
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from core.logging import bind
from core.settings import Settings
from core.threads import in_thread
from domain.case import Actor, Watcher
from domain.vocabulary import Access, ClosingStatus
from models.api import (
    ActionPendingPublic,
    CaseCreate,
    CaseDetailPublic,
    CaseListPublic,
    CasePublic,
    CloseIn,
    ContactAttemptIn,
    DocumentIn,
    NoteIn,
    PauseIn,
    ReassignIn,
    ReclassifyIn,
    RemeasurementIn,
    ReopenIn,
    ResumeIn,
    WatcherIn,
)
from models.case import Case, Document
from models.config import ApiClient, Program, User
from services import documents
from services.access import access_to, managed_units, token_viewer
from services.case_actions import (
    ActionPending,
    ActionRejected,
    claim_action_key,
    client_actor,
    run_update,
    send_remeasurement,
)
from services.case_changes import reclassify_command
from services.case_queries import (
    CaseFilters,
    get_case,
    list_cases,
    public_from_row,
    to_public,
    watchers_of,
)
from services.case_reopen import reopen_case
from services.intake import IntakeError, IntakeKey, open_case
from services.mentions import Mentions, resolve_mentions
from services.tokens import sees
from web.api_auth import AUTH_PROBLEMS, ApiClientDep, CasesRead, CasesWrite, require_scope
from web.deps import EngineDep, SessionDep, SettingsDep, TemporalDep
from web.problems import PROBLEM_JSON, Problem
from workflows.case import CaseWorkflow
from workflows.messages import (
    AddNote,
    AddWatcher,
    AttachDocument,
    CloseCase,
    LogContactAttempt,
    PauseCase,
    Reassign,
    Reclassify,
    RemeasureAnswer,
    RemoveWatcher,
    ResumeCase,
)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    **AUTH_PROBLEMS,
    **{
        code: {"description": desc, "content": {PROBLEM_JSON: {}}}
        for code, desc in {
            400: "The body is not JSON",
            403: "Not allowed (token scope, or the acting user on this case)",
            404: "No such case",
            409: "The case does not accept this now",
            413: "Request body too large",
            422: "Invalid request (also: an Idempotency-Key reused with another body)",
        }.items()
    },
}
# An owner action the workflow has not finished within UPDATE_WAIT_SECONDS.
PENDING: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Temporal holds the action; it applies later (see `stage`). The case "
        "is at Location; repeating with the same Idempotency-Key never applies it twice",
        "model": ActionPendingPublic,
        "headers": {"Location": {"schema": {"type": "string"}, "description": "The case"}},
    }
}
WRITE = [require_scope("cases:write")]
READ = [require_scope("cases:read")]

router = APIRouter(prefix="/cases", tags=["cases"], responses=PROBLEMS)

T = TypeVar("T")


def _iso_only(value: Any) -> Any:
    """A date-time parameter is an ISO 8601 string, not a number of seconds."""
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("expected an ISO 8601 date-time, e.g. 2026-11-20T09:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]


def _sf_string(value: str | None) -> str | None:
    """The key as the IETF draft writes it (a quoted structured-field string) or bare."""
    if value is not None and len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if value is not None and not value.strip():
        raise ValueError("an Idempotency-Key must not be empty")
    return value


IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200),
    AfterValidator(_sf_string),
]


def fingerprint(request: BaseModel | dict[str, Any]) -> str:
    """SHA-256 of the request's canonical JSON: the same request, however it was formatted."""
    data = request.model_dump(mode="json") if isinstance(request, BaseModel) else request
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def scoped_key(
    engine: Engine,
    client_id: int | None,
    case_id: str,
    operation: str,
    key: str | None,
    request: BaseModel | dict[str, Any],
) -> str | None:
    """A case action's Idempotency-Key as its update id, scoped to the API client; refused
    (ActionRejected, 422) when the client used it on this case for another request."""
    if key is None:
        return None
    client = f"api:{client_id}"
    digest = fingerprint({"operation": operation, "request": fingerprint(request)})
    await in_thread(claim_action_key, engine, client, case_id, key, digest)
    return f"{client}:{key}"


def _detail(session: Session, case_id: str, settings: Any) -> CaseDetailPublic:
    detail = get_case(session, case_id, settings)
    if detail is None:
        raise Problem(404, "Case not found", f"No case {case_id}")
    return detail


async def _read(engine: Engine, fn: Callable[..., T], *args: Any) -> T:
    """Run a read-model function in a thread with its own short session (async routes)."""

    def work() -> T:
        with Session(engine) as session:
            return fn(session, *args)

    return await in_thread(work)


@router.post(
    "",
    status_code=201,
    response_model=CasePublic,
    responses={
        200: {
            "description": "The same (channel, external_ref) was seen before: the existing case",
            "model": CasePublic,
        }
    },
)
async def create_case(
    body: CaseCreate,
    response: Response,
    client: CasesWrite,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> CasePublic:
    """Open a case, answered once its workflow runs.

    An `Idempotency-Key` (per API client) sent again with the same body replays the first
    answer (201, same body); with another body it is refused (422). The same
    (channel, external_ref) answers 200 with the existing case.
    """
    if not sees(client, body.program_id, body.unit_id):
        raise Problem(
            403,
            "Outside the token's programs and units",
            f"This token may not open cases in program {body.program_id!r}, unit {body.unit_id!r}",
            field="unit_id",
        )
    key = None
    if idempotency_key is not None:
        key = IntakeKey(idempotency_key, f"api:{client.id}", fingerprint(body))
    try:
        result = await open_case(engine, temporal, settings, body, idempotency_key=key)
    except IntakeError as exc:
        raise Problem(422, "Invalid request", str(exc), field=exc.field) from exc
    bind(case_id=result.case_id)
    response.headers["Location"] = f"/api/v1/cases/{result.case_id}"
    if result.row is not None:
        # Answer from what intake just wrote (its version-0 row): no read-back.
        row = dict(result.row)
        return public_from_row(row, row.pop("watchers"), settings)
    response.status_code = 200
    return await _read(engine, _public, result.case_id, settings)


def _public(session: Session, case_id: str, settings: Any) -> CasePublic:
    case = session.get(Case, case_id)
    if case is None:
        raise Problem(404, "Case not found", f"No case {case_id}")
    return to_public(case, watchers_of(session, [case_id])[case_id], settings)


@router.get("", response_model=CaseListPublic)
def read_cases(
    client: CasesRead,
    session: SessionDep,
    settings: SettingsDep,
    status: Annotated[str | None, Query(pattern="^(new|in_progress|overdue|closed)$")] = None,
    owner: Annotated[str | None, Query(max_length=64)] = None,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    channel: Annotated[str | None, Query(max_length=40)] = None,
    program: Annotated[str | None, Query(max_length=64)] = None,
    overdue: bool | None = None,
    created_from: IsoDateTime | None = None,
    created_to: IsoDateTime | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> CaseListPublic:
    """Newest first; `next_cursor` continues the list (keyset pagination).

    `q` finds a case id, a customer name (part of it), an email or a phone number; dates
    without a time zone are taken as UTC.
    """
    filters = CaseFilters(
        status,
        owner,
        unit,
        channel,
        program,
        overdue,
        _utc(created_from),
        _utc(created_to),
        q,
        programs_in=tuple(client.programs or ()),
        units_in=tuple(client.units or ()),
        viewer=token_viewer(session, client),
    )
    try:
        rows, next_cursor = list_cases(session, filters, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise Problem(422, "Invalid request", str(exc), field="cursor") from exc
    watchers = watchers_of(session, [c.id for c in rows])
    return CaseListPublic(
        items=[to_public(c, watchers[c.id], settings) for c in rows], next_cursor=next_cursor
    )


def _utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


@router.get("/{case_id}", response_model=CaseDetailPublic)
def read_case(
    case_id: str, client: CasesRead, session: SessionDep, settings: SettingsDep
) -> CaseDetailPublic:
    """A case with its timeline; 404 also for a case outside the token's programs/units."""
    _visible(session, client, case_id)
    detail = _detail(session, case_id, settings)
    earlier = [c for c in detail.earlier_cases if token_sees_case(session, client, c.id)]
    return detail.model_copy(update={"earlier_cases": earlier})


def token_sees_case(session: Session, client: ApiClient, case_id: str) -> bool:
    try:
        _visible(session, client, case_id)
    except Problem:
        return False
    return True


def _visible(session: Session, client: ApiClient, case_id: str) -> Case:
    """The case, if the client's programs/units include it and, for a personal token, its user
    may see it (else 404, as if it did not exist)."""
    case = session.get(Case, case_id)
    if case is None or not sees(client, case.program_id, case.unit_id):
        raise Problem(404, "Case not found", f"No case {case_id}")
    viewer = token_viewer(session, client)
    if viewer is not None and access_to(session, viewer, case) is None:
        raise Problem(404, "Case not found", f"No case {case_id}")
    return case


@dataclass
class CaseAction:
    """What every action endpoint works with: the case in the path and the app's services."""

    case_id: str
    engine: Engine
    temporal: Client
    settings: Settings
    # Who acts: its identity decides the acting user; its idempotency keys are its own.
    client: ApiClient

    @property
    def client_id(self) -> int | None:
        return self.client.id

    async def run(
        self,
        update: Any,
        build: Callable[[Actor], Any],
        acting_user: str | None,
        key: str | None,
        request: BaseModel | dict[str, Any],
    ) -> CaseDetailPublic:
        """Send the command `build` makes for `acting_user` as the Update `update`; the case
        as it is afterwards, or the workflow's refusal as a problem. `request` is what the
        client sent (an Idempotency-Key reused with another one is refused)."""
        case_id, engine = self.case_id, self.engine
        try:
            actor = await _read(engine, _actor_on_case, case_id, self.client, acting_user)
            scoped = await scoped_key(
                engine, self.client_id, case_id, update.__name__, key, request
            )
            await run_update(
                self.temporal,
                case_id,
                update,
                build(actor),
                idempotency_key=scoped,
                wait_seconds=self.settings.update_wait_seconds,
            )
        except ActionRejected as exc:
            field = exc.field or (
                {422: "acting_user"}.get(exc.status) if "user" in exc.message else None
            )
            extra = {"field": field} if field else {}
            raise Problem(exc.status, "Action rejected", exc.message, **extra) from exc
        return await _read(engine, _detail, case_id, self.settings)


async def case_action(
    case_id: str,
    client: ApiClientDep,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> CaseAction:
    return CaseAction(case_id, engine, temporal, settings, client)


CaseActionDep = Annotated[CaseAction, Depends(case_action)]


def _actor_on_case(
    session: Session, case_id: str, client: ApiClient, acting_user: str | None
) -> Actor:
    _visible(session, client, case_id)
    return client_actor(session, client, acting_user)


def _note_mentions(session: Session, case_id: str, text: str) -> Mentions:
    case = session.get(Case, case_id)
    return resolve_mentions(session, case, text, "") if case is not None else Mentions()


def _require_user(session: Session, user_id: str, field: str) -> None:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise Problem(422, "Invalid request", f"Unknown user {user_id!r}", field=field)


@router.post(
    "/{case_id}/notes",
    response_model=CaseDetailPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def add_note(
    body: NoteIn, action: CaseActionDep, idempotency_key: IdempotencyKey = None
) -> CaseDetailPublic:
    # The people it @mentions who work in the case's program read the case from now on.
    found = await _read(action.engine, _note_mentions, action.case_id, body.text)
    return await action.run(
        CaseWorkflow.add_note,
        lambda a: AddNote(a, body.text, found.allowed),
        body.acting_user,
        idempotency_key,
        body,
    )


@router.post(
    "/{case_id}/pause",
    response_model=CaseDetailPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def pause_case(
    body: PauseIn, action: CaseActionDep, idempotency_key: IdempotencyKey = None
) -> CaseDetailPublic:
    """Waiting on the customer: the program's pausing deadlines stop until the case resumes
    (by the owner, the customer's answer, or after the program's longest pause)."""
    return await action.run(
        CaseWorkflow.pause,
        lambda a: PauseCase(a, body.note),
        body.acting_user,
        idempotency_key,
        body,
    )


@router.post(
    "/{case_id}/resume",
    response_model=CaseDetailPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def resume_case(
    body: ResumeIn, action: CaseActionDep, idempotency_key: IdempotencyKey = None
) -> CaseDetailPublic:
    """Back from waiting on the customer: the paused deadlines move by the paused business
    time."""
    return await action.run(
        CaseWorkflow.resume,
        lambda a: ResumeCase(a, body.note),
        body.acting_user,
        idempotency_key,
        body,
    )


@router.post(
    "/{case_id}/contact-attempts",
    response_model=CaseDetailPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def log_contact_attempt(
    body: ContactAttemptIn, action: CaseActionDep, idempotency_key: IdempotencyKey = None
) -> CaseDetailPublic:
    return await action.run(
        CaseWorkflow.log_contact_attempt,
        lambda a: LogContactAttempt(a, body.method, body.outcome, body.note),
        body.acting_user,
        idempotency_key,
        body,
    )


@router.post(
    "/{case_id}/documents",
    response_model=CaseDetailPublic,
    responses={
        **PENDING,
        413: {
            "description": "The case's documents would exceed UPLOAD_CASE_QUOTA_BYTES",
            "content": {PROBLEM_JSON: {}},
        },
    },
    dependencies=WRITE,
)
async def attach_document(
    body: DocumentIn, action: CaseActionDep, idempotency_key: IdempotencyKey = None
) -> CaseDetailPublic:
    """Record a document's metadata (the bytes are uploaded through the web case page).

    The name is cleaned (last path component, no control characters, at most 255 characters);
    the content type must be an allowed kind that the name's extension agrees with.
    """
    try:
        filename, content_type = documents.check_metadata(body.filename, body.content_type)
    except documents.UploadRefused as exc:
        raise Problem(422, "Invalid document", exc.message, field=exc.field) from exc
    case_id = action.case_id
    doc_id = (
        uuid.uuid5(uuid.NAMESPACE_URL, f"{case_id}/{action.client_id}/{idempotency_key}").hex
        if (idempotency_key)
        else uuid.uuid4().hex
    )
    quota = action.settings.upload_case_quota_bytes

    def within_quota(session: Session) -> None:
        if session.get(Document, doc_id) is None:  # a replay is counted once
            documents.check_quota(session, case_id, body.size, quota)

    try:
        await _read(action.engine, within_quota)
    except documents.UploadRefused as exc:
        raise Problem(
            exc.status, "Case document quota exceeded", exc.message, field="size", limit=quota
        ) from exc
    doc = Document(
        id=doc_id,
        case_id=case_id,
        filename=filename,
        content_type=content_type,
        size=body.size,
        uploaded_by=body.acting_user or action.client.user_id or "",
    )
    try:
        detail = await action.run(
            CaseWorkflow.attach_document,
            lambda a: AttachDocument(a, doc_id, filename, content_type, body.size),
            body.acting_user,
            idempotency_key,
            body,
        )
    except ActionPending:  # Temporal has it: the document's row is there when it applies
        await _read(action.engine, _store_document, doc)
        raise
    await _read(action.engine, _store_document, doc)
    return detail


def _store_document(session: Session, doc: Document) -> None:
    if session.get(Document, doc.id) is None:
        session.add(doc)
        session.commit()


@router.post(
    "/{case_id}/reassign",
    response_model=CaseDetailPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def reassign(
    body: ReassignIn, action: CaseActionDep, idempotency_key: IdempotencyKey = None
) -> CaseDetailPublic:
    await _read(action.engine, _require_user, body.new_owner_id, "new_owner_id")
    return await action.run(
        CaseWorkflow.reassign,
        lambda a: Reassign(a, body.new_owner_id, body.reason),
        body.acting_user,
        idempotency_key,
        body,
    )


@router.post(
    "/{case_id}/watchers",
    response_model=CaseDetailPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def add_watcher(
    body: WatcherIn, action: CaseActionDep, idempotency_key: IdempotencyKey = None
) -> CaseDetailPublic:
    await _read(action.engine, _require_user, body.user_id, "user_id")
    return await action.run(
        CaseWorkflow.add_watcher,
        lambda a: AddWatcher(a, Watcher(body.user_id, Access(body.access))),
        body.acting_user,
        idempotency_key,
        body,
    )


@router.delete(
    "/{case_id}/watchers/{user_id}",
    response_model=CaseDetailPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def remove_watcher(
    case_id: str,  # declared here too, so that it stays the first parameter in the OpenAPI
    user_id: str,
    action: CaseActionDep,
    acting_user: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    idempotency_key: IdempotencyKey = None,
) -> CaseDetailPublic:
    return await action.run(
        CaseWorkflow.remove_watcher,
        lambda a: RemoveWatcher(a, user_id),
        acting_user,
        idempotency_key,
        {"user_id": user_id, "acting_user": acting_user},
    )


@router.post(
    "/{case_id}/close",
    response_model=CaseDetailPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def close_case(
    body: CloseIn, action: CaseActionDep, idempotency_key: IdempotencyKey = None
) -> CaseDetailPublic:
    return await action.run(
        CaseWorkflow.close,
        lambda a: CloseCase(
            a,
            ClosingStatus(body.closing_status),
            body.root_causes,
            body.final_note,
            body.resolution_methods,
        ),
        body.acting_user,
        idempotency_key,
        body,
    )


def _reclassification(
    session: Session, case_id: str, client: ApiClient, body: ReclassifyIn
) -> Callable[[Actor], Reclassify]:
    """The Reclassify update for the acting user, checked against the program's taxonomy."""
    case = _visible(session, client, case_id)
    category = case.category if body.category is None else body.category
    if body.subcategory is not None:
        subcategory = body.subcategory
    else:
        subcategory = case.subcategory if body.category is None else ""
    try:
        cmd = reclassify_command(
            session.get(Program, case.program_id),
            case,
            Actor(body.acting_user or client.user_id or ""),
            category=category,
            subcategory=subcategory,
            priority=body.priority or case.priority,
            reason=body.reason,
            refuse_unchanged=False,
        )
    except ActionRejected as exc:
        raise Problem(422, "Invalid request", exc.message, field=exc.field or "reason") from exc
    return lambda actor: dataclasses.replace(cmd, actor=actor)


@router.post(
    "/{case_id}/reclassify",
    response_model=CaseDetailPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def reclassify(
    body: ReclassifyIn, action: CaseActionDep, idempotency_key: IdempotencyKey = None
) -> CaseDetailPublic:
    """Change the category (one of the program's, with a sub-category of it) and/or the
    priority; a new priority re-evaluates the deadlines from when their clocks started."""
    build = await _read(action.engine, _reclassification, action.case_id, action.client, body)
    return await action.run(CaseWorkflow.reclassify, build, body.acting_user, idempotency_key, body)


def _reopener(
    session: Session, case_id: str, client: ApiClient, acting_user: str | None
) -> tuple[Actor, bool]:
    """Who reopens (the token's identity decides, as for every action) and whether they
    manage the case's unit."""
    case = _visible(session, client, case_id)
    actor = client_actor(session, client, acting_user)
    return actor, case.unit_id in managed_units(session, actor.user_id)


@router.post(
    "/{case_id}/reopen",
    response_model=CaseDetailPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def reopen(
    body: ReopenIn, action: CaseActionDep, idempotency_key: IdempotencyKey = None
) -> CaseDetailPublic:
    """Reopen a closed case with a reason: by its owner, a manager of its unit or an admin.
    The resolve deadline starts again; the owner and full watchers are told."""
    case_id, engine = action.case_id, action.engine
    try:
        actor, manages_unit = await _read(
            engine, _reopener, case_id, action.client, body.acting_user
        )
        scoped = await scoped_key(
            engine, action.client_id, case_id, "reopen", idempotency_key, body
        )
        await reopen_case(
            action.temporal,
            action.settings,
            case_id,
            actor,
            body.reason,
            idempotency_key=scoped,
            wait_seconds=action.settings.update_wait_seconds,
            engine=engine,
            manages_unit=manages_unit,
        )
    except ActionRejected as exc:
        field = exc.field or (
            "acting_user" if exc.status == 422 and "user" in exc.message else None
        )
        extra = {"field": field} if field else {}
        raise Problem(exc.status, "Action rejected", exc.message, **extra) from exc
    return await _read(engine, _detail, case_id, action.settings)


@router.post("/{case_id}/remeasurement", status_code=202)
async def remeasurement_answer(
    case_id: str,
    body: RemeasurementIn,
    client: CasesWrite,
    engine: EngineDep,
    temporal: TemporalDep,
) -> dict[str, str]:
    """A survey platform reports the customer's answer; recorded if a survey is pending."""
    case = await _read(engine, _visible, client, case_id)
    if case.remeasure_status != "pending":
        raise Problem(409, "No survey pending", f"Case {case_id} is not waiting for an answer")
    try:
        await send_remeasurement(
            temporal,
            case_id,
            RemeasureAnswer(body.satisfaction, body.resolved, body.comment, source="api"),
        )
    except ActionRejected as exc:
        raise Problem(exc.status, "Action rejected", exc.message) from exc
    return {"status": "accepted"}
