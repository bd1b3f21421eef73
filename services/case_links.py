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

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, delete, select
from temporalio.client import Client

from core.settings import Settings
from core.threads import in_thread
from domain.case import Actor
from domain.permissions import Viewer, may_reopen
from domain.vocabulary import CaseLinkKind, CaseLinkState, EventKind
from models.case import Case, CaseEvent, Document
from models.config import User
from models.kb import CaseLink
from services.access import access_to, viewer_for
from services.case_actions import ActionRejected, run_update
from services.case_reopen import reopen_case
from workflows.case import CaseWorkflow
from workflows.messages import MergedFrom, MergeInto

log = logging.getLogger(__name__)

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
    # The merge (or its undoing) into `merged_into` is still under way (finish_pending).
    pending: bool = False


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


def may_change(session: Session, viewer: Viewer, case: Case) -> bool:
    """The viewer may act on the case (relate or unrelate it)."""
    access = access_to(session, viewer, case)
    return access is not None and access.can_act


def merged_into(session: Session, dup_id: str) -> str | None:
    """The primary the case is merged into, if any."""
    row = _merge_row(session, dup_id)
    return row.other_id if row is not None else None


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
            out.pending = row.state != CaseLinkState.DONE
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
        row = _merge_row(session, dup.id)
        if row is not None and row.other_id == primary.id:
            return primary.id  # asked again (a retry, or one cut short): finished, not refused
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
    """Merge the open case `dup_id` into the open case `primary_id`; the primary's id.

    The link row is written first (`merging`), then both updates run with update ids derived
    from it, then the row is `done`: a merge cut short anywhere is finished by `finish_pending`
    (the worker's reconciler, or the next page load), and a retried step is deduplicated."""
    primary_id = await in_thread(_check_merge, engine, viewer, dup_id, primary_id)
    link = await in_thread(_begin_merge, engine, dup_id, primary_id, viewer.user_id)
    await _finish(client, engine, settings, link, actor)
    return primary_id


def _begin_merge(engine: Engine, dup_id: str, primary_id: str, by: str) -> CaseLink:
    with Session(engine) as session:
        row = _merge_row(session, dup_id)
        if row is not None and (row.other_id != primary_id or row.state == CaseLinkState.UNMERGING):
            raise ActionRejected(409, f"{dup_id} is already merged into {row.other_id}")
        if row is None:
            row = CaseLink(
                kind=CaseLinkKind.MERGED,
                case_id=dup_id,
                other_id=primary_id,
                created_by=by,
                state=CaseLinkState.MERGING,
                acted_by=by,
            )
            session.add(row)
            session.commit()
            session.refresh(row)
        return row


def _key(link: CaseLink, step: str) -> str:
    # The row's id and creation instant: a merge made again after an unmerge gets new ids.
    return f"{step}-{link.id}-{int(link.created_at.timestamp() * 1_000_000)}"


async def _finish(
    client: Client, engine: Engine, settings: Settings, link: CaseLink, actor: Actor
) -> None:
    """The workflow updates of a merge or unmerge under way, each skipped if already made, then
    the row marked done (or dropped, for an unmerge)."""
    if link.state == CaseLinkState.DONE:
        return
    wait = settings.update_wait_seconds
    dup = await in_thread(_case_row, engine, link.case_id)
    if link.state == CaseLinkState.MERGING:
        key = _key(link, "merge")
        if dup.is_open:
            into = MergeInto(actor, link.other_id)
            update = CaseWorkflow.merge_into
            await run_update(client, dup.id, update, into, idempotency_key=key, wait_seconds=wait)
        await run_update(
            client,
            link.other_id,
            CaseWorkflow.merged_from,
            MergedFrom(actor, dup.id),
            idempotency_key=key,
            wait_seconds=wait,
        )
        await in_thread(_settle, engine, link.id, drop=False)
        return
    key = _key(link, "unmerge")
    if not dup.is_open:
        manages = await in_thread(_manages, engine, actor.user_id, dup.unit_id)
        reason = f"Unmerged from {link.other_id}"
        await reopen_case(
            client,
            settings,
            dup.id,
            actor,
            reason,
            idempotency_key=key,
            wait_seconds=wait,
            engine=engine,
            manages_unit=manages,
        )
    undone = MergedFrom(actor, dup.id, undone=True)
    await run_update(
        client,
        link.other_id,
        CaseWorkflow.merged_from,
        undone,
        idempotency_key=key,
        wait_seconds=wait,
    )
    await in_thread(_settle, engine, link.id, drop=True)


def _case_row(engine: Engine, case_id: str) -> Case:
    with Session(engine) as session:
        case = session.get(Case, case_id)
        if case is None:
            raise ActionRejected(404, f"No case {case_id}")
        return case


def _manages(engine: Engine, user_id: str, unit_id: str) -> bool:
    with Session(engine) as session:
        user = session.get(User, user_id)
        return user is not None and unit_id in viewer_for(session, user).managed_units


def _settle(engine: Engine, link_id: int | None, *, drop: bool) -> None:
    with Session(engine) as session:
        row = session.get(CaseLink, link_id)
        if row is None:
            return
        if drop:
            session.delete(row)
        else:
            row.state = CaseLinkState.DONE
            row.acted_by = None
            session.add(row)
        session.commit()


def _check_unmerge(engine: Engine, viewer: Viewer, dup_id: str) -> int:
    """The merge row's id, marked `unmerging`, once the viewer may undo it."""
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
        if row.state == CaseLinkState.MERGING:
            raise ActionRejected(409, f"The merge of {dup.id} is still under way")
        row.state, row.acted_by = CaseLinkState.UNMERGING, viewer.user_id
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


async def unmerge(
    client: Client,
    engine: Engine,
    settings: Settings,
    viewer: Viewer,
    actor: Actor,
    dup_id: str,
) -> str:
    """Undo a merge while the primary is open: the duplicate reopens, the primary is told, the
    link goes; recorded as `unmerging` first, so an interrupted one is finished later."""
    link_id = await in_thread(_check_unmerge, engine, viewer, dup_id)
    link = await in_thread(_link, engine, link_id)
    assert link is not None
    await _finish(client, engine, settings, link, actor)
    return link.other_id


def _link(engine: Engine, link_id: int) -> CaseLink | None:
    with Session(engine) as session:
        return session.get(CaseLink, link_id)


def _pending(engine: Engine, case_id: str | None) -> list[CaseLink]:
    with Session(engine) as session:
        query = select(CaseLink).where(
            col(CaseLink.kind) == CaseLinkKind.MERGED, col(CaseLink.state) != CaseLinkState.DONE
        )
        if case_id is not None:
            query = query.where(
                or_(col(CaseLink.case_id) == case_id, col(CaseLink.other_id) == case_id)
            )
        return list(session.exec(query.order_by(col(CaseLink.id))).all())


async def finish_pending(
    client: Client, engine: Engine, settings: Settings, case_id: str | None = None
) -> list[str]:
    """Finish the merges and unmerges cut short (of one case, or all): the duplicates' ids
    finished. One that fails again stays pending for the next round."""
    done: list[str] = []
    for link in await in_thread(_pending, engine, case_id):
        actor = Actor(link.acted_by or link.created_by)
        try:
            await _finish(client, engine, settings, link, actor)
        except Exception:  # an outage or a refusal: tried again next round
            log.warning("merge link %s not finished yet", link.id, exc_info=True)
            continue
        done.append(link.case_id)
    return done
