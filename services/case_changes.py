"""Reclassifying a case: the category against the program's taxonomy, the priority against the
vocabulary, before the workflow is asked (it checks the reason and that something changes)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.case import Actor
from domain.taxonomy import CategoryIn, CategoryRejected, file_under
from domain.vocabulary import Priority, values
from models.case import Case
from models.config import Program
from services.case_actions import ActionRejected
from services.configuration import program_config
from workflows.messages import Reclassify


@dataclass(frozen=True)
class Classification:
    """What the case page offers: the program's categories (empty: free text), the priorities."""

    categories: list[CategoryIn]
    priorities: tuple[str, ...]


def classification(program: Program | None) -> Classification:
    categories = program_config(program).categories if program is not None else []
    return Classification(categories, values(Priority))


def reclassify_command(
    program: Program | None,
    case: Case,
    actor: Actor,
    *,
    category: str,
    subcategory: str,
    priority: str,
    reason: str,
    refuse_unchanged: bool = True,
) -> Reclassify:
    """The update for the changed fields (unchanged ones stay None); ActionRejected(422, field)
    for a category, sub-category or priority the program or the vocabulary does not have, and
    for no change at all unless `refuse_unchanged` is off (an API retry with its key is the
    same update: the workflow answers it; a new one it refuses)."""
    if priority not in values(Priority):
        raise ActionRejected(422, "Choose one of the priorities", field="priority")
    if not reason.strip():
        raise ActionRejected(422, "Say why the case is reclassified", field="reason")
    if len(reason) > 2000:
        raise ActionRejected(422, "The reason is limited to 2,000 characters", field="reason")
    if not category.strip():
        raise ActionRejected(422, "Choose a category", field="category")
    try:
        name, sub = file_under(classification(program).categories, category, subcategory)
    except CategoryRejected as exc:
        message = str(exc)
        raise ActionRejected(422, message[:1].upper() + message[1:], field=exc.field) from exc
    same_category = (name, sub) == (case.category, case.subcategory or "")
    if refuse_unchanged and same_category and priority == case.priority:
        raise ActionRejected(422, "Change the category or the priority first", field="category")
    return Reclassify(
        actor,
        reason.strip(),
        category=None if same_category else name,
        subcategory=None if same_category else sub,
        priority=None if priority == case.priority else Priority(priority),
    )
