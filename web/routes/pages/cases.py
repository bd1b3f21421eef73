"""The case workspace: read the case, act on it (Temporal Updates), upload and download documents.

Every route first resolves the case through `services.access`: no relation → 404 (the case's
existence is not revealed); a relation without the right to act → the case, read-only, and 403.
Actions are Temporal Updates; the page re-renders from the read model that the update's
projection has already written, so the user sees the authoritative state — or, when the workflow
refuses (the case was escalated away a second ago), the reason next to the current state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select
from starlette.datastructures import FormData, UploadFile
from temporalio.client import Client

from core.payload_crypto import DecryptionFailed, UnknownKeyId, key_ring
from core.settings import Settings
from core.threads import in_thread
from domain.case import Actor, Watcher
from domain.mail.render import RenderedMessage
from domain.permissions import CaseAccess, Viewer, may_reopen
from domain.vocabulary import (
    OWNER_CLOSING_STATUSES,
    Access,
    ClosingStatus,
    ContactMethod,
    ContactOutcome,
    values,
)
from models.case import Case, CaseEvent, CaseWatcher, Document
from models.config import Program, Unit, User
from services import documents, late_replies
from services.access import access_to
from services.case_actions import ActionPending, ActionRejected, run_update
from services.case_changes import classification, reclassify_command
from services.case_queries import links, other_cases
from services.case_reopen import reopen_case
from services.failures import failures_of
from services.inbox.due import deadlines_late
from services.mentions import Mentions, resolve_mentions
from services.tasks import assignable, tasks_of
from services.templates import ReplyRejected, check_reply, reply_choices, reply_preview
from web import i18n
from web.auth import CurrentUser, PageError, not_found
from web.deps import EngineDep, SettingsDep, TemporalDep
from web.errors import PENDING_PAGE
from web.i18n import N_, gettext, ngettext
from web.live import live_since
from web.routes.pages.case_links import case_links_context, kb_insert, kb_search
from web.storable import form_problems
from web.templating import FLASH, is_htmx, render
from workflows.case import CaseWorkflow
from workflows.messages import (
    AddNote,
    AddWatcher,
    AttachDocument,
    CloseCase,
    LogContactAttempt,
    PauseCase,
    Reassign,
    RemoveWatcher,
    ResumeCase,
    SendReply,
)

log = logging.getLogger(__name__)
router = APIRouter()

# services.templates.check_reply's fixed messages (shown in the reader's language).
REPLY_WORDS = (
    N_("This case's contact gave no email address."),
    N_("Give the reply a subject."),
    N_("The subject is one line of at most 200 characters."),
    N_("Write the reply before sending it."),
    N_("A reply is limited to 20,000 characters."),
)
CONTACT_METHODS = {
    ContactMethod.PHONE: "Phone",
    ContactMethod.EMAIL: "Email",
    ContactMethod.SMS: "Text message",
    ContactMethod.IN_PERSON: "In person",
    ContactMethod.OTHER: "Other",
}
CONTACT_OUTCOMES = {
    ContactOutcome.REACHED: "Reached the customer",
    ContactOutcome.NO_ANSWER: "No answer",
    ContactOutcome.LEFT_MESSAGE: "Left a message",
    ContactOutcome.WRONG_NUMBER: "Wrong number",
    ContactOutcome.OTHER: "Other",
}


@dataclass
class FormState:
    """What the user sent to one form, its field errors, and the outcome to announce."""

    name: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    rejected: str = ""
    flash: str = ""


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class CloseRules:
    causes_required: bool = True
    methods_required: bool = False
    tasks_required: bool = False  # a resolved close waits for every task to be done


def close_rules(program: Program | None) -> CloseRules:
    """What closing asks for under the program's taxonomy (the workflow checks it too)."""
    taxonomy = (program.taxonomy if program is not None else None) or {}
    return CloseRules(
        causes_required=bool(taxonomy.get("root_causes_required", True)),
        methods_required=bool(taxonomy.get("resolution_methods_required", False)),
        tasks_required=bool(taxonomy.get("require_tasks_done_to_resolve", False)),
    )


def _case_and_access(session: Session, viewer: Viewer, case_id: str) -> tuple[Case, CaseAccess]:
    case = session.get(Case, case_id) if len(case_id) <= 20 else None
    access = access_to(session, viewer, case) if case is not None else None
    if case is None or access is None:
        raise not_found("This case")
    return case, access


def case_context(
    session: Session, viewer: Viewer, case_id: str, settings: Settings
) -> dict[str, Any]:
    since = live_since(session)  # before the case: a change in between is told, not lost
    case, access = _case_and_access(session, viewer, case_id)
    watchers = list(
        session.exec(
            select(CaseWatcher)
            .where(col(CaseWatcher.case_id) == case_id)
            .order_by(col(CaseWatcher.user_id))
        ).all()
    )
    events = list(
        session.exec(
            select(CaseEvent)
            .where(col(CaseEvent.case_id) == case_id)
            .order_by(col(CaseEvent.seq).desc())
        ).all()
    )
    docs = {
        d.id: d
        for d in session.exec(select(Document).where(col(Document.case_id) == case_id)).all()
    }
    can_act = access.can_act and case.is_open
    can_reopen = not case.is_open and may_reopen(viewer, case.owner_id, case.unit_id)
    others = other_cases(session, viewer, case)
    tasks = tasks_of(session, case_id)  # issue 18: the tasks panel (_case_tasks.html)
    # Names for display: owner, watchers, timeline actors (plain columns, no ORM objects).
    shown = {case.owner_id, *(w.user_id for w in watchers), *(e.actor for e in events)}
    shown |= {o.owner_id for o in others} | set(_people_in(events))
    shown |= {t.assignee_id for t in tasks} | {t.done_by for t in tasks if t.done_by}
    people: dict[str, str] = dict(
        session.exec(select(User.id, User.name).where(col(User.id).in_(shown))).all()
    )
    # Who the case can go to (reassign, add a watcher): every active user, by name.
    candidates: list[tuple[str, str]] = (
        list(
            session.exec(
                select(User.id, User.name)
                .where(col(User.active) == True)  # noqa: E712
                .order_by(col(User.name), col(User.id))
            ).all()
        )
        if can_act
        else []
    )
    replies = reply_choices(session, case, viewer.name) if can_act else []
    program = session.get(Program, case.program_id)
    return {
        "case": case,
        "access": access,
        "can_act": can_act,
        "can_reopen": can_reopen,
        "classification": classification(program) if can_act else None,
        "watchers": watchers,
        "watcher_ids": {w.user_id for w in watchers},
        "events": events,
        "documents": docs,
        "people": people,
        "candidates": candidates,
        "candidate_ids": {uid for uid, _ in candidates},
        "unit": session.get(Unit, case.unit_id),
        "program": program,
        "others": others,
        "late_replies": late_replies.not_on_timeline(session, case.id, events, docs),
        "temporal_url": links(case.id, settings)["temporal"] if viewer.is_admin else None,
        "failures": failures_of(session, case.id) if viewer.is_admin else [],
        "replies": replies,
        "close_rules": close_rules(program),
        "late": deadlines_late(session, case, datetime.now(UTC), i18n.translations(i18n.current())),
        "contact_methods": CONTACT_METHODS,
        "contact_outcomes": CONTACT_OUTCOMES,
        "accept": documents.ACCEPT,
        "max_upload_bytes": settings.upload_max_bytes,
        "max_upload": documents.human_size(settings.upload_max_bytes),
        "title": f"{case.id} · {case.customer_name or 'Case'}",
        "live_since": since,
        # Related and merged cases, knowledge-base articles (web/routes/pages/case_links.py).
        **case_links_context(session, viewer, case),
        "tasks": tasks,
        "assignable": assignable(session, case) if can_act else [],
    }


def _people_in(events: list[CaseEvent]) -> list[str]:
    """The user ids an event's data names (from, to, by, watcher), for their names."""
    found = []
    for e in events:
        for key in ("from", "to", "by", "user_id"):
            value = (e.data or {}).get(key)
            if isinstance(value, str):
                found.append(value)
    return found


def _load(engine: Engine, viewer: Viewer, case_id: str, settings: Settings) -> dict[str, Any]:
    with Session(engine) as session:
        return case_context(session, viewer, case_id, settings)


def _render_case(
    request: Request, ctx: dict[str, Any], form: FormState, status: int = 200
) -> Response:
    ctx = {**ctx, "form": form}
    return render(request, "case.html", ctx, block="case", status=status)


@router.get("/cases/{case_id}")
def case_page(
    case_id: str,
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
    reply: Annotated[str | None, Query(max_length=64)] = None,
    kbq: Annotated[str | None, Query(max_length=200)] = None,
    kb: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """The case; `?reply=KEY` opens the reply form filled with that scripted reply, `?kb=ID`
    with that knowledge-base article's text; `?kbq=words` searches the knowledge base."""
    ctx = _load(engine, viewer, case_id, settings)
    flash = request.session.pop(FLASH, None)
    state = FormState(flash=flash if isinstance(flash, str) else "")
    chosen = next((r for r in ctx["replies"] if r.key == reply), None)
    if chosen is not None:
        state.name = "reply"
        state.values = {"template_key": chosen.key, "subject": chosen.subject, "text": chosen.body}
    if kbq or (kb and ctx["can_act"]):
        with Session(engine) as session:
            if kbq:
                ctx |= {"kbq": kbq, "kb_results": kb_search(session, viewer, ctx["case"], kbq)}
            if kb and ctx["can_act"] and (filled := kb_insert(session, viewer, ctx["case"], kb)):
                state.name, state.values = "reply", filled
    return _render_case(request, ctx, state)


# ---------------------------------------------------------------- acting


def _field(form: FormData, name: str, limit: int = 20_000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


Build = Callable[[dict[str, Any], FormData, Actor, FormState], tuple[Any, Any] | None]


@dataclass
class ActionContext:
    """What every action on a case works with: the request, who acts, and the app's services."""

    case_id: str
    request: Request
    viewer: Viewer
    engine: Engine
    temporal: Client
    settings: Settings

    @property
    def actor(self) -> Actor:
        return Actor(self.viewer.user_id, self.viewer.role, self.viewer.name)

    async def load(self) -> dict[str, Any]:
        return await in_thread(_load, self.engine, self.viewer, self.case_id, self.settings)

    def respond(self, ctx: dict[str, Any], state: FormState, status: int) -> Response:
        return _render_case(self.request, ctx, state, status)

    async def begin(self, name: str) -> tuple[FormData, dict[str, Any], FormState, Response | None]:
        """The form, the case and a fresh form state; and the refusal (403, or 409 once the
        case is closed) when the viewer may not act on the case."""
        form_data = await self.request.form()
        ctx = await self.load()
        state = FormState(name=name)
        if not ctx["can_act"]:
            state.rejected = _read_only_reason(ctx)
            status = 403 if ctx["case"].is_open else 409
            return form_data, ctx, state, self.respond(ctx, state, status)
        if unstorable := form_problems(form_data):  # before any field is read: nothing written
            state.errors = unstorable
            state.rejected = " ".join(unstorable.values())
            return form_data, ctx, state, self.respond(ctx, state, 422)
        return form_data, ctx, state, None

    async def rejected(self, state: FormState, exc: ActionRejected) -> Response:
        """The workflow refused the update: its reason, next to the case as it is now."""
        state.rejected = exc.message
        return self.respond(await self.load(), state, exc.status)

    async def perform(self, name: str, build: Build, success: str) -> Response:
        """Shared path of every form action: authorise, validate, update, re-render."""
        form_data, ctx, state, refused = await self.begin(name)
        if refused is not None:
            return refused
        built = build(ctx, form_data, self.actor, state)
        if built is None or state.errors:
            state.rejected = state.rejected or gettext("Please correct the marked fields.")
            return self.respond(ctx, state, 422)
        update, cmd = built
        key = _field(form_data, "action_id", 100) or None
        try:
            await self.update(update, cmd, key)
        except ActionRejected as exc:
            return await self.rejected(state, exc)
        except ActionPending as exc:
            return await self.pending(exc)
        return await self.after_success(success)

    async def update(self, update: Any, cmd: Any, key: str | None) -> None:
        await run_update(
            self.temporal,
            self.case_id,
            update,
            cmd,
            idempotency_key=key,
            wait_seconds=self.settings.update_wait_seconds,
        )

    async def pending(self, exc: ActionPending) -> Response:
        """Temporal holds the action (no worker, or the database is down): the case as it is,
        with the news that it applies later (202), instead of a hanging page."""
        news = gettext(PENDING_PAGE.get(exc.stage, PENDING_PAGE["admitted"]))
        if not is_htmx(self.request):
            self.request.session[FLASH] = news
            return _redirect(self.request, f"/cases/{self.case_id}")
        return self.respond(await self.load(), FormState(flash=news), 202)

    async def after_success(self, success: str) -> Response:
        """The case as it is now; or, when the action took it out of the viewer's reach
        (reassigned to someone else), back to the inbox with the news."""
        request = self.request
        try:
            ctx = await self.load()
        except PageError as exc:
            if exc.status != 404:
                raise
            request.session[FLASH] = gettext(
                "%(case)s: %(done)s It is no longer in your inbox.",
                case=self.case_id,
                done=gettext(success),
            )
            return _redirect(request, "/inbox")
        if not is_htmx(request):
            request.session[FLASH] = gettext(success)
            return _redirect(request, f"/cases/{self.case_id}")
        return _render_case(request, ctx, FormState(flash=gettext(success)))


async def action_context(
    case_id: str,
    request: Request,
    viewer: CurrentUser,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> ActionContext:
    return ActionContext(case_id, request, viewer, engine, temporal, settings)


ActionDep = Annotated[ActionContext, Depends(action_context)]


def _action(path: str, name: str, success: str) -> Callable[[Build], Build]:
    """Register `build` (read and check the form `name`, choose the update) as the route
    POST /cases/{case_id}`path`; `success` is announced once the workflow has applied it."""

    def register(build: Build) -> Build:
        async def route(action: ActionDep) -> Response:
            return await action.perform(name, build, success)

        route.__name__ = route.__qualname__ = getattr(build, "__name__", name)
        router.add_api_route(
            f"/cases/{{case_id}}{path}", route, methods=["POST"], name=route.__name__
        )
        return build

    return register


def _redirect(request: Request, url: str) -> Response:
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _read_only_reason(ctx: dict[str, Any]) -> str:
    case: Case = ctx["case"]
    if not case.is_open:
        return gettext("%(case)s is closed; it no longer accepts changes.", case=case.id)
    owner = ctx["people"].get(case.owner_id, case.owner_id)
    return gettext(
        "You have read-only access to %(case)s; it is owned by %(owner)s.",
        case=case.id,
        owner=owner,
    )


def _note(mentioned: list[str]) -> Build:
    """The note form's check; `mentioned`: the people it @mentions who may be let in."""

    def add_note(ctx: dict[str, Any], f: FormData, actor: Actor, st: FormState) -> Any:
        text = _field(f, "text", 20_001)
        st.values = {"text": text}
        if not text:
            st.errors["text"] = gettext("Write the note before adding it.")
        elif len(text) > 20_000:
            st.errors["text"] = gettext("A note is limited to 20,000 characters.")
        return CaseWorkflow.add_note, AddNote(actor, text, mentioned)

    return add_note


def _mentions(engine: Engine, case_id: str, author_id: str, text: str) -> Mentions:
    with Session(engine) as session:
        case = session.get(Case, case_id) if len(case_id) <= 20 else None
        return resolve_mentions(session, case, text, author_id) if case else Mentions()


@router.post("/cases/{case_id}/notes")
async def add_note(action: ActionDep) -> Response:
    """A note; the people it @mentions who work in the case's program read the case from now
    on and are told (services/mentions.py); the author hears of anyone who cannot."""
    form = await action.request.form()
    text = _field(form, "text", 20_001)
    found = await in_thread(_mentions, action.engine, action.case_id, action.viewer.user_id, text)
    success = N_("Note added.")
    if found.refused:
        success = gettext(
            "Note added. %(people)s cannot see this program: the mention stays plain text.",
            people=", ".join(found.refused),
        )
    return await action.perform("note", _note(found.allowed), success)


@_action("/pause", "pause", N_("The case is waiting on the customer; its clock is paused."))
def pause_case(ctx: dict[str, Any], f: FormData, actor: Actor, st: FormState) -> Any:
    note = _field(f, "note", 2001)
    st.values = {"note": note}
    if not note:
        st.errors["note"] = gettext("Say what the case is waiting for.")
    elif len(note) > 2000:
        st.errors["note"] = gettext("The note is limited to 2,000 characters.")
    return CaseWorkflow.pause, PauseCase(actor, note)


@_action("/resume", "resume", N_("The case is no longer waiting; its deadlines moved on."))
def resume_case(ctx: dict[str, Any], f: FormData, actor: Actor, st: FormState) -> Any:
    note = _field(f, "note", 2001)
    st.values = {"note": note}
    if len(note) > 2000:
        st.errors["note"] = gettext("The note is limited to 2,000 characters.")
    return CaseWorkflow.resume, ResumeCase(actor, note)


@_action("/contact-attempts", "contact", N_("Contact attempt logged."))
def log_contact(ctx: dict[str, Any], f: FormData, actor: Actor, st: FormState) -> Any:
    method, outcome, note = _field(f, "method"), _field(f, "outcome"), _field(f, "note", 5001)
    st.values = {"method": method, "outcome": outcome, "note": note}
    if method not in CONTACT_METHODS:
        st.errors["method"] = gettext("Choose how you contacted the customer.")
    if outcome not in CONTACT_OUTCOMES:
        st.errors["outcome"] = gettext("Choose the outcome of the attempt.")
    if len(note) > 5000:
        st.errors["note"] = gettext("The note is limited to 5,000 characters.")
    return CaseWorkflow.log_contact_attempt, LogContactAttempt(actor, method, outcome, note)


@_action("/reassign", "reassign", N_("Case reassigned."))
def reassign(ctx: dict[str, Any], f: FormData, actor: Actor, st: FormState) -> Any:
    owner, reason = _field(f, "new_owner_id", 64), _field(f, "reason", 2001)
    st.values = {"new_owner_id": owner, "reason": reason}
    if owner not in ctx["candidate_ids"]:
        st.errors["new_owner_id"] = gettext("Choose the person who should own the case.")
    elif owner == ctx["case"].owner_id:
        st.errors["new_owner_id"] = gettext("The case already belongs to that person.")
    if not reason:
        st.errors["reason"] = gettext("Say why the case changes hands.")
    elif len(reason) > 2000:
        st.errors["reason"] = gettext("The reason is limited to 2,000 characters.")
    return CaseWorkflow.reassign, Reassign(actor, owner, reason)


@_action("/watchers", "watchers", N_("Watcher added."))
def add_watcher(ctx: dict[str, Any], f: FormData, actor: Actor, st: FormState) -> Any:
    user_id, access = _field(f, "user_id", 64), _field(f, "access", 10) or "full"
    st.values = {"user_id": user_id, "access": access}
    if user_id not in ctx["candidate_ids"]:
        st.errors["user_id"] = gettext("Choose who should watch the case.")
    elif user_id == ctx["case"].owner_id:
        st.errors["user_id"] = gettext("The owner already follows the case.")
    if access not in values(Access):
        st.errors["access"] = gettext("Choose full or read-only access.")
        access = Access.FULL
    return CaseWorkflow.add_watcher, AddWatcher(actor, Watcher(user_id, Access(access)))


@_action("/watchers/remove", "watchers", N_("Watcher removed."))
def remove_watcher(ctx: dict[str, Any], f: FormData, actor: Actor, st: FormState) -> Any:
    user_id = _field(f, "user_id", 64)
    if user_id not in ctx["watcher_ids"]:
        st.rejected = f"{user_id or 'That person'} is not watching this case."
        st.errors["user_id"] = st.rejected
    return CaseWorkflow.remove_watcher, RemoveWatcher(actor, user_id)


@_action("/close", "close", N_("Case closed."))
def close_case(ctx: dict[str, Any], f: FormData, actor: Actor, st: FormState) -> Any:
    program: Program | None = ctx["program"]
    allowed_causes = set(program.root_causes if program else [])
    allowed_methods = set(program.resolution_methods if program else [])
    status = _field(f, "closing_status", 20)
    causes = [v for v in f.getlist("root_causes") if isinstance(v, str)]
    methods = [v for v in f.getlist("resolution_methods") if isinstance(v, str)]
    note = _field(f, "final_note", 20_001)
    st.values = {
        "closing_status": status,
        "root_causes": causes,
        "resolution_methods": methods,
        "final_note": note,
    }
    if status not in OWNER_CLOSING_STATUSES:
        st.errors["closing_status"] = gettext("Choose whether the problem was resolved.")
    rules: CloseRules = ctx["close_rules"]
    if not causes and rules.causes_required:
        st.errors["root_causes"] = gettext("Choose at least one root cause.")
    elif any(c not in allowed_causes for c in causes):
        st.errors["root_causes"] = gettext("Choose root causes from the program's list.")
    if any(m not in allowed_methods for m in methods):
        st.errors["resolution_methods"] = gettext("Choose resolution methods from the list.")
    elif not methods and rules.methods_required:
        st.errors["resolution_methods"] = gettext("Choose at least one resolution method.")
    open_tasks = [t for t in ctx["tasks"] if t.is_open]
    if status == ClosingStatus.RESOLVED and rules.tasks_required and open_tasks:
        st.errors["closing_status"] = ngettext(
            "Finish the open task before closing the case as resolved.",
            "Finish the %(num)s open tasks before closing the case as resolved.",
            len(open_tasks),
        )
    if not note:
        st.errors["final_note"] = gettext("Write a final note: what was done and agreed.")
    elif len(note) > 20_000:
        st.errors["final_note"] = gettext("The final note is limited to 20,000 characters.")
    closing = ClosingStatus(status) if status in OWNER_CLOSING_STATUSES else None
    if closing is None:
        return None
    return CaseWorkflow.close, CloseCase(actor, closing, causes, note, methods)


@_action("/reclassify", "reclassify", N_("Case reclassified."))
def reclassify(ctx: dict[str, Any], f: FormData, actor: Actor, st: FormState) -> Any:
    category, subcategory = _field(f, "category", 201), _field(f, "subcategory", 201)
    priority, reason = _field(f, "priority", 20), _field(f, "reason", 2001)
    st.values = {
        "category": category,
        "subcategory": subcategory,
        "priority": priority,
        "reason": reason,
    }
    try:
        cmd = reclassify_command(
            ctx["program"],
            ctx["case"],
            actor,
            category=category,
            subcategory=subcategory,
            priority=priority,
            reason=reason,
        )
    except ActionRejected as exc:
        st.errors[exc.field or "reason"] = exc.message
        return None
    return CaseWorkflow.reclassify, cmd


@router.post("/cases/{case_id}/reopen")
async def reopen(action: ActionDep) -> Response:
    """Reopen a closed case (its owner, a manager of its unit, an admin), with the reason."""
    form_data = await action.request.form()
    ctx = await action.load()
    state = FormState(name="reopen")
    case: Case = ctx["case"]
    if not ctx["can_reopen"]:
        state.rejected = (
            gettext("%(case)s is open: there is nothing to reopen.", case=case.id)
            if case.is_open
            else gettext(
                "Only the owner of %(case)s, a manager of its unit or an admin may reopen it.",
                case=case.id,
            )
        )
        return action.respond(ctx, state, 409 if case.is_open else 403)
    if primary := ctx["links"].merged_into:  # a merged duplicate comes back by its unmerge
        state.rejected = gettext(
            "%(case)s is merged into %(primary)s: unmerge it instead.",
            case=case.id,
            primary=primary,
        )
        return action.respond(ctx, state, 409)
    if unstorable := form_problems(form_data):
        state.errors, state.rejected = unstorable, " ".join(unstorable.values())
        return action.respond(ctx, state, 422)
    reason = _field(form_data, "reason", 2001)
    state.values = {"reason": reason}
    if not reason:
        state.errors["reason"] = gettext("Say why the case is reopened.")
    elif len(reason) > 2000:
        state.errors["reason"] = gettext("The reason is limited to 2,000 characters.")
    if state.errors:
        state.rejected = gettext("Please correct the marked fields.")
        return action.respond(ctx, state, 422)
    try:
        await reopen_case(
            action.temporal,
            action.settings,
            action.case_id,
            action.actor,
            reason,
            idempotency_key=_field(form_data, "action_id", 100) or None,
            wait_seconds=action.settings.update_wait_seconds,
            engine=action.engine,
            manages_unit=case.unit_id in action.viewer.managed_units,
        )
    except ActionRejected as exc:
        return await action.rejected(state, exc)
    except ActionPending as exc:
        return await action.pending(exc)
    return await action.after_success(N_("Case reopened."))


def _reply_fields(f: FormData, st: FormState) -> tuple[str, str, str]:
    key, subject, text = _field(f, "template_key", 64), _field(f, "subject", 201), _field(f, "text")
    st.values = {"template_key": key, "subject": subject, "text": text}
    return key, subject, text


def _check_reply(ctx: dict[str, Any], subject: str, text: str, st: FormState) -> None:
    """What the workflow would refuse (a placeholder left, no address), said at the field."""
    try:
        check_reply(ctx["case"], subject, text)
    except ReplyRejected as exc:
        if exc.field in ("subject", "text"):
            st.errors[exc.field] = gettext(str(exc))
        else:
            st.rejected = gettext(str(exc))


@_action("/replies", "reply", N_("Reply sent to the customer."))
def send_reply(ctx: dict[str, Any], f: FormData, actor: Actor, st: FormState) -> Any:
    key, subject, text = _reply_fields(f, st)
    _check_reply(ctx, subject, text, st)
    if st.rejected:
        return None
    return CaseWorkflow.send_reply, SendReply(actor, key or "custom", subject, text)


@router.post("/cases/{case_id}/replies/preview")
async def preview_reply(action: ActionDep) -> Response:
    """The reply as the customer will see it, below the form; nothing is sent."""
    form_data, ctx, state, refused = await action.begin("reply")
    if refused is not None:
        return refused
    _key, subject, text = _reply_fields(form_data, state)
    _check_reply(ctx, subject, text, state)
    if state.errors or state.rejected:
        state.rejected = state.rejected or gettext("Please correct the marked fields.")
        return action.respond(ctx, state, 422)

    def render_preview() -> RenderedMessage:
        with Session(action.engine) as session:
            case = session.get(Case, action.case_id)
            assert case is not None  # loaded above, under the viewer's access
            base = action.settings.public_base_url
            return reply_preview(session, case, subject, text, action.viewer.user_id, base)

    ctx["reply_preview"] = await in_thread(render_preview)
    return action.respond(ctx, state, 200)


# ---------------------------------------------------------------- documents


@router.post("/cases/{case_id}/documents")
async def upload_document(action: ActionDep) -> Response:
    form_data, ctx, state, refused = await action.begin("document")
    if refused is not None:
        return refused
    engine, settings, case_id = action.engine, action.settings, action.case_id
    upload = form_data.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        state.errors["file"] = gettext("Choose a file to upload.")
        state.rejected = gettext("Please correct the marked fields.")
        return action.respond(ctx, state, 422)
    data = await upload.read(settings.upload_max_bytes + 1)
    try:
        checked = documents.check_upload(upload.filename, data, settings.upload_max_bytes)
    except documents.UploadRefused as exc:
        state.errors["file"] = exc.message
        state.rejected = exc.message
        return action.respond(ctx, state, exc.status)
    doc_id = documents.new_document_id()
    doc = Document(
        id=doc_id,
        case_id=case_id,
        filename=checked.filename,
        content_type=checked.content_type,
        size=checked.size,
        uploaded_by=action.viewer.user_id,
    )
    # The bytes and the row first, so the timeline's download link works the moment it shows.
    try:
        await in_thread(_save_document, engine, settings, doc, data)
    except documents.UploadRefused as exc:  # the case's quota
        state.errors["file"] = exc.message
        state.rejected = exc.message
        return action.respond(ctx, state, exc.status)
    cmd = AttachDocument(action.actor, doc_id, checked.filename, checked.content_type, checked.size)
    try:
        await action.update(CaseWorkflow.attach_document, cmd, doc_id)
    except ActionRejected as exc:
        await in_thread(_forget_document, engine, settings, doc_id)
        return await action.rejected(state, exc)
    except ActionPending as exc:  # Temporal has it: the file stays for when it applies
        return await action.pending(exc)
    except BaseException:
        await in_thread(_forget_document, engine, settings, doc_id)
        raise
    return await action.after_success(gettext("%(file)s uploaded.", file=checked.filename))


def _save_document(engine: Engine, settings: Settings, doc: Document, data: bytes) -> None:
    with Session(engine) as session:
        documents.check_quota(session, doc.case_id, doc.size, settings.upload_case_quota_bytes)
        documents.store(settings.upload_dir, doc.id, data, key_ring(settings))
        session.add(doc)
        session.commit()


def _forget_document(engine: Engine, settings: Settings, doc_id: str) -> None:
    with Session(engine) as session:
        session.execute(delete(Document).where(col(Document.id) == doc_id))
        session.commit()
    documents.stored_path(settings.upload_dir, doc_id).unlink(missing_ok=True)


@router.get("/cases/{case_id}/documents/{document_id}")
def download_document(
    case_id: str,
    document_id: str,
    viewer: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
) -> Response:
    with Session(engine) as session:
        _case_and_access(session, viewer, case_id)
        doc = session.get(Document, document_id) if len(document_id) <= 40 else None
    if doc is None or doc.case_id != case_id:
        raise not_found(N_("This document"))
    try:
        data = documents.load(settings.upload_dir, doc.id, key_ring(settings))
    except (UnknownKeyId, DecryptionFailed) as exc:  # a key missing from PAYLOAD_KEYS
        log.error("document %s of case %s does not decrypt: %s", doc.id, case_id, exc)
        raise not_found(N_("This document")) from exc
    except ValueError as exc:  # not a document id
        raise not_found(N_("This document")) from exc
    if data is None:
        raise not_found(N_("This document"))
    # rows from before names were cleaned
    filename = documents.clean_filename(doc.filename)
    return Response(
        data,
        media_type=documents.download_type(doc.content_type),
        headers={
            "Content-Disposition": _attachment(filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


def _attachment(filename: str) -> str:
    """Content-Disposition as Starlette's FileResponse writes it (RFC 6266 for non-ASCII)."""
    quoted = quote(filename)
    if quoted != filename:
        return f"attachment; filename*=utf-8''{quoted}"
    return f'attachment; filename="{filename}"'
