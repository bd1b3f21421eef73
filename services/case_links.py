"""Links between cases: related cases (both pages list them), and a duplicate merged into its
primary case, recorded and reversible until the primary closes.

A merge closes the duplicate through its workflow (`merge_into`: closing status "merged"), then
tells the primary (`merged_from`), then writes the link row that the pages read. An unmerge
reopens the duplicate (services/case_reopen.py: an update, or a new run once the closed run has
completed), tells the primary, and drops the row. Only someone who may act on both cases may
merge; only someone who may also reopen the duplicate may unmerge it. Reports leave merged
duplicates out (services/reports/where.py): a merged pair counts once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, delete, select
from temporalio.client import Client

from core.settings import Settings
from core.threads import in_thread
from domain.case import Actor
from domain.permissions import Viewer, may_reopen
from domain.vocabulary import CaseLinkKind, EventKind
from models.case import Case, CaseEvent, Document
from models.kb import CaseLink
from services.access import access_to
from services.case_actions import ActionRejected, run_update
from services.case_reopen import reopen_case
from workflows.case import CaseWorkflow
from workflows.messages import MergedFrom, MergeInto

# What a merged duplicate shows on its primary's page.
CARRIED_KINDS = (EventKind.NOTE, EventKind.DOCUMENT)


@dataclass
class MergedCase:
    """A duplicate merged into this case: its notes and documents, and its contact."""

    case: Case
    events: list[CaseEvent] = field(default_factory=list)
    documents: dict[str, Document] = field(default_factory=dict)
    other_contact: bool = False


@dataclass
class CaseLinks:
    related: list[Case] = field(default_factory=list)
    merged: list[MergedCase] = field(default_factory=list)
    merged_into: str | None = None
    # The primary is open: the merge can still be undone.
    reversible: bool = False


def _case(session: Session, viewer: Viewer, case_id: str, *, act: bool) -> Case:
    """The case if the viewer may see it (and act on it, with `act`); 404 / 403 otherwise."""
    case_id = case_id.strip().upper()
    case = session.get(Case, case_id) if 0 < len(case_id) <= 20 else None
    access = access_to(session, viewer, case) if case is not None else None
    if case is None or access is None:
        raise ActionRejected(404, f"No case {case_id} that you can see", field="other_id")
    if act and not access.can_act:
        raise ActionRejected(403, f"You may not change {case_id}", field="other_id")
    return case


def links_of(session: Session, viewer: Viewer, case: Case) -> CaseLinks:
    """The related cases the viewer may see, the duplicates merged into this case (with their
    notes, documents and contact), and the primary this case was merged into."""
    rows = session.exec(
        select(CaseLink).where(
            or_(col(CaseLink.case_id) == case.id, col(CaseLink.other_id) == case.id)
        )
    ).all()
    out = CaseLinks()
    for row in rows:
        if row.kind == CaseLinkKind.MERGED and row.case_id == case.id:
            primary = session.get(Case, row.other_id)
            out.merged_into = row.other_id
            out.reversible = primary is not None and primary.is_open
            continue
        other_id = row.other_id if row.case_id == case.id else row.case_id
        other = session.get(Case, other_id)
        if other is None or access_to(session, viewer, other) is None:
            continue
        if row.kind == CaseLinkKind.RELATED:
            out.related.append(other)
        else:
            out.merged.append(_merged(session, case, other))
    out.related.sort(key=lambda c: c.id)
    out.merged.sort(key=lambda m: m.case.id)
    return out


def _merged(session: Session, primary: Case, dup: Case) -> MergedCase:
    events = session.exec(
        select(CaseEvent)
        .where(col(CaseEvent.case_id) == dup.id, col(CaseEvent.kind).in_(CARRIED_KINDS))
        .order_by(col(CaseEvent.seq).desc())
    ).all()
    docs = session.exec(select(Document).where(col(Document.case_id) == dup.id)).all()
    differs = (dup.contact_email or "", dup.contact_phone or "", dup.customer_name) != (
        primary.contact_email or "",
        primary.contact_phone or "",
        primary.customer_name,
    )
    return MergedCase(dup, list(events), {d.id: d for d in docs}, differs)


# ---------------------------------------------------------------- related


def relate(session: Session, viewer: Viewer, case: Case, other_id: str) -> Case:
    """Link two cases as related (both must be the viewer's to change); idempotent."""
    other = _case(session, viewer, other_id, act=True)
    if other.id == case.id:
        raise ActionRejected(422, "A case cannot be related to itself", field="other_id")
    first, second = sorted((case.id, other.id))
    exists = session.exec(
        select(CaseLink).where(
            col(CaseLink.kind) == CaseLinkKind.RELATED,
            col(CaseLink.case_id) == first,
            col(CaseLink.other_id) == second,
        )
    ).first()
    if exists is None:
        session.add(
            CaseLink(
                kind=CaseLinkKind.RELATED, case_id=first, other_id=second, created_by=viewer.user_id
            )
        )
        session.commit()
    return other


def unrelate(session: Session, case: Case, other_id: str) -> None:
    first, second = sorted((case.id, other_id.strip().upper()[:20]))
    session.execute(
        delete(CaseLink).where(
            col(CaseLink.kind) == CaseLinkKind.RELATED,
            col(CaseLink.case_id) == first,
            col(CaseLink.other_id) == second,
        )
    )
    session.commit()


# ---------------------------------------------------------------- merge and unmerge


def _merge_row(session: Session, dup_id: str) -> CaseLink | None:
    return session.exec(
        select(CaseLink).where(
            col(CaseLink.kind) == CaseLinkKind.MERGED, col(CaseLink.case_id) == dup_id
        )
    ).first()


def _check_merge(engine: Engine, viewer: Viewer, dup_id: str, primary_id: str) -> str:
    """The primary's id, once both cases are open and the viewer's to change."""
    with Session(engine) as session:
        dup = _case(session, viewer, dup_id, act=True)
        primary = _case(session, viewer, primary_id, act=True)
        if dup.id == primary.id:
            raise ActionRejected(422, "A case cannot be merged into itself", field="other_id")
        if not dup.is_open:
            raise ActionRejected(409, f"{dup.id} is closed: only an open case can be merged")
        if not primary.is_open:
            raise ActionRejected(409, f"{primary.id} is closed: merge into an open case")
        if _merge_row(session, primary.id) is not None:
            raise ActionRejected(409, f"{primary.id} was itself merged into another case")
        return primary.id


async def merge(
    client: Client,
    engine: Engine,
    settings: Settings,
    viewer: Viewer,
    actor: Actor,
    dup_id: str,
    primary_id: str,
) -> str:
    """Merge the open case `dup_id` into the open case `primary_id`; the primary's id."""
    primary_id = await in_thread(_check_merge, engine, viewer, dup_id, primary_id)
    wait = settings.update_wait_seconds
    await run_update(
        client, dup_id, CaseWorkflow.merge_into, MergeInto(actor, primary_id), wait_seconds=wait
    )
    await in_thread(_write_merge, engine, dup_id, primary_id, viewer.user_id)
    await run_update(
        client, primary_id, CaseWorkflow.merged_from, MergedFrom(actor, dup_id), wait_seconds=wait
    )
    return primary_id


def _write_merge(engine: Engine, dup_id: str, primary_id: str, by: str) -> None:
    with Session(engine) as session:
        if _merge_row(session, dup_id) is None:
            kind = CaseLinkKind.MERGED
            session.add(CaseLink(kind=kind, case_id=dup_id, other_id=primary_id, created_by=by))
            session.commit()


def _check_unmerge(engine: Engine, viewer: Viewer, dup_id: str) -> tuple[str, bool]:
    """The primary's id and whether the viewer manages the duplicate's unit."""
    with Session(engine) as session:
        dup = _case(session, viewer, dup_id, act=False)
        row = _merge_row(session, dup.id)
        if row is None:
            raise ActionRejected(409, f"{dup.id} is not merged into another case")
        primary = _case(session, viewer, row.other_id, act=True)
        if not primary.is_open:
            raise ActionRejected(409, f"{primary.id} is closed: the merge can no longer be undone")
        if not may_reopen(viewer, dup.owner_id, dup.unit_id):
            raise ActionRejected(
                403, f"Only the owner of {dup.id}, a manager of its unit or an admin may unmerge it"
            )
        return primary.id, dup.unit_id in viewer.managed_units


async def unmerge(
    client: Client,
    engine: Engine,
    settings: Settings,
    viewer: Viewer,
    actor: Actor,
    dup_id: str,
) -> str:
    """Undo a merge while the primary is open: the duplicate reopens, the link goes."""
    primary_id, manages = await in_thread(_check_unmerge, engine, viewer, dup_id)
    wait = settings.update_wait_seconds
    await reopen_case(
        client,
        settings,
        dup_id,
        actor,
        f"Unmerged from {primary_id}",
        wait_seconds=wait,
        engine=engine,
        manages_unit=manages,
    )
    await in_thread(_drop_merge, engine, dup_id)
    cmd = MergedFrom(actor, dup_id, undone=True)
    await run_update(client, primary_id, CaseWorkflow.merged_from, cmd, wait_seconds=wait)
    return primary_id


def _drop_merge(engine: Engine, dup_id: str) -> None:
    with Session(engine) as session:
        session.execute(
            delete(CaseLink).where(
                col(CaseLink.kind) == CaseLinkKind.MERGED, col(CaseLink.case_id) == dup_id
            )
        )
        session.commit()
