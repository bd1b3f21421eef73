"""Bulk actions on the inbox's selected cases: each case goes through the same owner action as
its case page (a Temporal Update, validated by the workflow), one by one, and each answers for
itself: done, or why not.

Idempotent: every case's update id is the bulk form's key plus the case id, so sending the same
form again (a double click, a retry after a timeout) reports the earlier outcome instead of
acting twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from core.threads import in_thread
from domain.case import Actor, Watcher
from domain.permissions import Viewer
from domain.vocabulary import Access, ClosingStatus
from models.case import Case
from services.access import access_to
from services.case_actions import ActionPending, ActionRejected, run_update, update_stage
from services.inbox.due import ENGLISH, Words
from services.outages import Unavailable
from workflows.case import CaseWorkflow
from workflows.messages import AddWatcher, CloseCase, Reassign

ACTIONS: dict[str, str] = {
    "reassign": "Reassign",
    "watch": "Add a watcher",
    "close": "Close as unresolved",
}
MAX_CASES = 100


@dataclass(frozen=True)
class BulkRequest:
    action: str
    case_ids: list[str]
    key: str  # the form's one-time id
    person: str = ""  # new owner or watcher (a user id)
    person_name: str = ""
    text: str = ""  # reason (reassign) or final note (close)
    root_cause: str = ""  # close: the program may require one


@dataclass(frozen=True)
class Outcome:
    case_id: str
    ok: bool
    message: str


def _command(req: BulkRequest, actor: Actor, tr: Words) -> tuple[Any, Any, str]:
    if req.action == "reassign":
        return (
            CaseWorkflow.reassign,
            Reassign(actor, req.person, req.text),
            tr.gettext("Reassigned to %(person)s.") % {"person": req.person_name or req.person},
        )
    if req.action == "watch":
        return (
            CaseWorkflow.add_watcher,
            AddWatcher(actor, Watcher(req.person, Access.FULL)),
            tr.gettext("%(person)s now watches it.") % {"person": req.person_name or req.person},
        )
    causes = [req.root_cause] if req.root_cause else []
    return (
        CaseWorkflow.close,
        CloseCase(actor, ClosingStatus.UNRESOLVED, causes, req.text),
        tr.gettext("Closed as unresolved."),
    )


def _precheck(
    engine: Engine, viewer: Viewer, case_id: str, req: BulkRequest, tr: Words
) -> str | None:
    """Why this case is not even tried (the page's own rules); None to send it on."""
    who = {"person": req.person_name or req.person}
    with Session(engine) as session:
        case = session.get(Case, case_id) if len(case_id) <= 20 else None
        access = access_to(session, viewer, case) if case is not None else None
        if case is None or access is None:
            return tr.gettext("No such case among those you can see.")
        if not case.is_open:
            return tr.gettext("It is closed already.")
        if not access.can_act:
            return tr.gettext("You have read-only access to it.")
        if req.action == "reassign" and case.owner_id == req.person:
            return tr.gettext("It already belongs to %(person)s.") % {
                "person": req.person_name or req.person
            }
        if req.action == "watch" and case.owner_id == req.person:
            return tr.gettext("%(person)s owns it.") % who
    return None


async def apply_bulk(
    client: Client,
    engine: Engine,
    viewer: Viewer,
    req: BulkRequest,
    wait_seconds: float,
    tr: Words = ENGLISH,
) -> list[Outcome]:
    """Each selected case's outcome, its words in `tr`'s language (a rejection from the
    workflow keeps the workflow's words)."""
    actor = Actor(viewer.user_id, viewer.role, viewer.name)
    update, cmd, done = _command(req, actor, tr)
    # One person's form (a hash: update ids are not encrypted, and name no one).
    form_key = hashlib.sha256(f"{viewer.user_id}\n{req.key}".encode()).hexdigest()[:32]
    outcomes: list[Outcome] = []
    for case_id in dict.fromkeys(req.case_ids):
        key = f"bulk:{form_key}:{case_id}"
        # Sent before with this key: the earlier outcome, not a second action.
        if await update_stage(client, case_id, f"{update.__name__}:{key}") == "completed":
            try:
                await run_update(client, case_id, update, cmd, idempotency_key=key)
                outcomes.append(Outcome(case_id, True, done))
            except ActionRejected as exc:
                outcomes.append(Outcome(case_id, False, exc.message))
            continue
        why = await in_thread(_precheck, engine, viewer, case_id, req, tr)
        if why is not None:
            outcomes.append(Outcome(case_id, False, why))
            continue
        try:
            await run_update(
                client, case_id, update, cmd, idempotency_key=key, wait_seconds=wait_seconds
            )
            outcomes.append(Outcome(case_id, True, done))
        except ActionRejected as exc:
            outcomes.append(Outcome(case_id, False, exc.message))
        except ActionPending:
            outcomes.append(Outcome(case_id, True, tr.gettext("Accepted; it applies in a moment.")))
        except Unavailable:
            unavailable = tr.gettext("The case service is unavailable; try again.")
            outcomes.append(Outcome(case_id, False, unavailable))
    return outcomes
