"""JSON API for messaging: message templates (admin) and scripted replies to customers.

- `GET /templates/{program_id}`: each kind's subject / text / HTML source, custom or default;
- `PUT /templates/{program_id}/{kind}`: save an override — checked in the sandbox against the
  demo case first, so a broken or unsafe template is refused (422 naming the part and line)
  and nothing changes; `DELETE` goes back to the default;
- `POST /templates/preview`: render a template (saved or not) with the demo case or a real one;
- `GET /cases/{case_id}/reply-templates`: the program's scripted replies, placeholders filled;
- `POST /cases/{case_id}/replies`: send one (a workflow Update: on the timeline, counts as the
  owner's activity, delivered to the customer from the outbox).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlmodel import Session

from activities.mail_context import message_context
from core.threads import in_thread
from domain.fields import StorableStr
from domain.mail.preview import preview
from domain.mail.sandbox import KINDS, TemplateRejected
from domain.mail.schema import PLACEHOLDERS, TemplateIn
from domain.vocabulary import MessageKind
from models.api import CaseDetailPublic
from models.case import Case
from models.config import ApiClient, Program, User
from services.case_actions import ActionRejected, client_actor, run_update
from services.case_queries import get_case
from services.templates import (
    ReplyRejected,
    check_reply,
    effective_templates,
    reply_choices,
    save_template,
)
from services.tokens import sees
from web.api_auth import ApiClientDep, require_scope
from web.deps import EngineDep, SettingsDep, TemporalDep
from web.problems import Problem
from web.routes.api_v1.cases import PENDING, PROBLEMS, IdempotencyKey, scoped_key
from workflows.case import CaseWorkflow
from workflows.messages import SendReply

router = APIRouter(tags=["notifications"], responses=PROBLEMS)

ADMIN = [require_scope("admin")]
READ = [require_scope("cases:read")]
WRITE = [require_scope("cases:write")]
ProgramId = Annotated[str, Path(min_length=1, max_length=64)]
CaseId = Annotated[str, Path(min_length=1, max_length=20)]


class TemplatePart(BaseModel):
    source: str
    custom: bool


class KindTemplates(BaseModel):
    kind: str
    purpose: str
    subject: TemplatePart
    text: TemplatePart
    html: TemplatePart


class ProgramTemplates(BaseModel):
    program_id: str
    kinds: list[KindTemplates]
    placeholders: dict[str, str] = Field(
        description="Scripted-reply placeholders, [[NAME]] -> what fills it"
    )


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: MessageKind
    subject: StorableStr | None = Field(default=None, max_length=1000)
    text: StorableStr | None = Field(default=None, max_length=50_000)
    html: StorableStr | None = Field(default=None, max_length=100_000)
    program_id: StorableStr | None = Field(
        default=None, max_length=64, description="Start from this program's saved templates"
    )
    case_id: StorableStr | None = Field(
        default=None, max_length=20, description="Render with this case instead of the demo"
    )


class RenderedOut(BaseModel):
    subject: str
    text: str
    html: str


class ReplyChoiceOut(BaseModel):
    key: str
    name: str
    subject: str
    body: str


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    acting_user: StorableStr | None = Field(default=None, min_length=1, max_length=64)
    template_key: StorableStr = Field(default="", max_length=64)
    subject: StorableStr = Field(min_length=1, max_length=200)
    text: StorableStr = Field(min_length=1, max_length=20_000)


def _rejected(exc: TemplateRejected) -> Problem:
    field = f"{exc.part}"
    return Problem(422, "Template rejected", str(exc), field=field, line=exc.line)


def _program_templates(engine: Engine, program_id: str) -> ProgramTemplates:
    with Session(engine) as session:
        program = session.get(Program, program_id)
        if program is None:
            raise Problem(404, "Program not found", f"No program {program_id!r}", field="id")
        kinds = effective_templates(program)
    return ProgramTemplates(
        program_id=program_id,
        kinds=[KindTemplates.model_validate(k) for k in kinds],
        placeholders=dict(PLACEHOLDERS),
    )


@router.get("/templates/{program_id}", response_model=ProgramTemplates, dependencies=ADMIN)
async def read_templates(program_id: ProgramId, engine: EngineDep) -> ProgramTemplates:
    """Every message kind's templates for the program: its overrides, else the defaults."""
    return await in_thread(_program_templates, engine, program_id)


def _save(engine: Engine, program_id: str, kind: str, body: TemplateIn | None) -> None:
    with Session(engine) as session:
        try:
            save_template(session, program_id, kind, body)
        except KeyError as exc:
            raise Problem(404, "Program not found", f"No program {program_id!r}") from exc
        except TemplateRejected as exc:
            raise _rejected(exc) from exc


@router.put("/templates/{program_id}/{kind}", response_model=ProgramTemplates, dependencies=ADMIN)
async def write_template(
    program_id: ProgramId, kind: MessageKind, body: TemplateIn, engine: EngineDep
) -> ProgramTemplates:
    """Override one kind's subject / text / HTML (a part left out keeps the default).

    The template is checked in the sandbox and rendered with the demo case before it is
    stored; a syntax error, an unknown name, anything reaching Python internals, or a failure
    on the demo case is a 422 and nothing changes.
    """
    await in_thread(_save, engine, program_id, kind, body)
    return await in_thread(_program_templates, engine, program_id)


@router.delete(
    "/templates/{program_id}/{kind}", response_model=ProgramTemplates, dependencies=ADMIN
)
async def reset_template(
    program_id: ProgramId, kind: MessageKind, engine: EngineDep
) -> ProgramTemplates:
    """Go back to the shipped default for one kind."""
    await in_thread(_save, engine, program_id, kind, None)
    return await in_thread(_program_templates, engine, program_id)


def _preview(engine: Engine, body: PreviewIn, base_url: str) -> RenderedOut:
    source: dict[str, Any] = {}
    ctx = None
    with Session(engine) as session:
        if body.program_id is not None:
            program = session.get(Program, body.program_id)
            if program is None:
                raise Problem(404, "Program not found", f"No program {body.program_id!r}")
            item = next(k for k in effective_templates(program) if k["kind"] == body.kind)
            source = {
                p: item[p]["source"] for p in ("subject", "text", "html") if item[p]["custom"]
            }
        if body.case_id is not None:
            case = session.get(Case, body.case_id)
            if case is None:
                raise Problem(404, "Case not found", f"No case {body.case_id}", field="case_id")
            ctx = message_context(session, case, kind=body.kind, base_url=base_url)
    for part in ("subject", "text", "html"):
        value = getattr(body, part)
        if value is not None:
            source[part] = value
    try:
        rendered = preview(body.kind, source, ctx)
    except TemplateRejected as exc:
        raise _rejected(exc) from exc
    return RenderedOut(subject=rendered.subject, text=rendered.text, html=rendered.html)


@router.post("/templates/preview", response_model=RenderedOut, dependencies=ADMIN)
async def preview_template(
    body: PreviewIn, engine: EngineDep, settings: SettingsDep
) -> RenderedOut:
    """Render a message as it would go out: the given parts, else the program's, else default."""
    return await in_thread(_preview, engine, body, settings.public_base_url)


def _choices(
    engine: Engine, case_id: str, acting_user: str | None, client: ApiClient
) -> list[ReplyChoiceOut]:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        if case is None or not sees(client, case.program_id, case.unit_id):
            raise Problem(404, "Case not found", f"No case {case_id}")
        sender = session.get(User, acting_user) if acting_user else None
        name = sender.name if sender is not None else ""
        return [ReplyChoiceOut(**c.__dict__) for c in reply_choices(session, case, name)]


@router.get(
    "/cases/{case_id}/reply-templates", response_model=list[ReplyChoiceOut], dependencies=READ
)
async def read_reply_templates(
    case_id: CaseId,
    engine: EngineDep,
    client: ApiClientDep,
    acting_user: Annotated[str | None, Query(max_length=64)] = None,
) -> list[ReplyChoiceOut]:
    """The program's scripted replies for this case, [[PLACEHOLDERS]] filled in from it."""
    return await in_thread(_choices, engine, case_id, acting_user or client.user_id, client)


def _prepare_reply(engine: Engine, case_id: str, body: ReplyIn, client: ApiClient) -> Any:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        if case is None or not sees(client, case.program_id, case.unit_id):
            raise Problem(404, "Case not found", f"No case {case_id}")
        try:
            actor = client_actor(session, client, body.acting_user)
            check_reply(case, body.subject, body.text)
        except ActionRejected as exc:
            raise Problem(exc.status, "Action rejected", exc.message, field="acting_user") from exc
        except ReplyRejected as exc:
            status = 409 if exc.field == "case" else 422
            raise Problem(status, "Reply rejected", str(exc), field=exc.field) from exc
        return actor


@router.post(
    "/cases/{case_id}/replies",
    response_model=CaseDetailPublic,
    responses=PENDING,
    dependencies=WRITE,
)
async def send_reply(
    case_id: CaseId,
    body: ReplyIn,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    client: ApiClientDep,
    idempotency_key: IdempotencyKey = None,
) -> CaseDetailPublic:
    """Send a (scripted, edited) reply to the customer from the platform.

    It is on the case's timeline, counts as the owner's activity, and goes out from the outbox
    (over SMTP when configured). Placeholders must be filled in before sending.
    """
    actor = await in_thread(_prepare_reply, engine, case_id, body, client)
    cmd = SendReply(actor, body.template_key, body.subject, body.text)
    try:
        key = await scoped_key(engine, client.id, case_id, "send_reply", idempotency_key, body)
        await run_update(
            temporal,
            case_id,
            CaseWorkflow.send_reply,
            cmd,
            idempotency_key=key,
            wait_seconds=settings.update_wait_seconds,
        )
    except ActionRejected as exc:
        extra = {"field": exc.field} if exc.field else {}
        raise Problem(exc.status, "Action rejected", exc.message, **extra) from exc

    def detail() -> CaseDetailPublic:
        with Session(engine) as session:
            found = get_case(session, case_id, settings)
            if found is None:
                raise Problem(404, "Case not found", f"No case {case_id}")
            return found

    return await in_thread(detail)


__all__ = ["KINDS", "router"]
