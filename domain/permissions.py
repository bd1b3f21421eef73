"""Who may see a case and who may act on it: the rules, as pure functions.

A user sees a case as its owner, a watcher (full or limited), a designee in its escalation chain,
a manager of its unit (unit manager or field manager), or an admin. The escalation chain needs no
rule of its own: the designee becomes the owner and the workflow keeps each late owner as a
limited watcher, so everyone who held the case keeps seeing it.

Only the owner, a full-access watcher or an admin may act. The web layer asks `relation_to`
(with the watcher row it loaded) and the workflow's update validators ask `refusal` (with the
case as the workflow holds it): one rule, so a stale page can never write where the page would not.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.case import Actor, CaseView
from domain.vocabulary import Access, CaseStatus, Relation, Role

# The relations that may change a case.
ACTING = frozenset({Relation.ADMIN, Relation.OWNER, Relation.FULL_WATCHER})


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, with what the access rules need (loaded once per request)."""

    user_id: str
    name: str
    role: Role
    managed_units: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_manager(self) -> bool:
        """Has the "My units" tab: manages at least one unit (or is an admin)."""
        return bool(self.managed_units) or self.is_admin


@dataclass(frozen=True)
class CaseAccess:
    relation: Relation

    @property
    def can_act(self) -> bool:
        return self.relation in ACTING


def relation_to(
    viewer: Viewer, owner_id: str, unit_id: str, watcher_access: str | None
) -> Relation | None:
    """How the viewer relates to a case (`watcher_access`: theirs, if they watch it); None
    means it must look to them as if it did not exist."""
    if viewer.is_admin:
        return Relation.ADMIN
    if owner_id == viewer.user_id:
        return Relation.OWNER
    if watcher_access is not None:
        full = watcher_access == Access.FULL
        return Relation.FULL_WATCHER if full else Relation.LIMITED_WATCHER
    if unit_id in viewer.managed_units:
        return Relation.UNIT_MANAGER
    return None


@dataclass(frozen=True)
class Refusal:
    """Why an action is refused: `conflict` (the case no longer takes it) or not allowed."""

    message: str
    conflict: bool = False


def refusal(actor: Actor, case: CaseView) -> Refusal | None:
    """Why `actor` may not act on `case` now; None when they may."""
    if case.status == CaseStatus.CLOSED:
        return Refusal(f"Case {case.case_id} is closed", conflict=True)
    if actor.role == Role.ADMIN or actor.user_id == case.owner_id:
        return None
    watcher = next((w for w in case.watchers if w.user_id == actor.user_id), None)
    if watcher is None:
        return Refusal(
            f"{actor.user_id} is neither the owner nor a watcher of {case.case_id} "
            f"(owner now: {case.owner_id})"
        )
    if watcher.access != Access.FULL:
        return Refusal(f"{actor.user_id} has read-only (limited) access to {case.case_id}")
    return None


def may_reopen(viewer: Viewer, owner_id: str, unit_id: str) -> bool:
    """A closed case may be reopened by its owner, a manager of its unit or an admin."""
    return viewer.is_admin or viewer.user_id == owner_id or unit_id in viewer.managed_units


def reopen_refusal(actor: Actor, case: CaseView, manages_unit: bool = False) -> Refusal | None:
    """Why `actor` may not reopen `case` now; None when they may (`may_reopen`'s rule: the
    workflow does not know the units people manage, so the caller says it checked)."""
    if case.status != CaseStatus.CLOSED:
        return Refusal(f"Case {case.case_id} is not closed", conflict=True)
    if actor.role == Role.ADMIN or actor.user_id == case.owner_id or manages_unit:
        return None
    return Refusal(f"Only the owner, a manager or an admin may reopen {case.case_id}")
