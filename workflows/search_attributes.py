"""The case search attributes: the one registry of keys (typed), set by CaseWorkflow and
registered on a namespace by `core.temporal.ensure_search_attributes`, and the values a case
gives them. CaseWorkflow imports this module passed through the sandbox (shared, not re-executed
for every case).

No customer personal data in any of these (DESIGN §9): ids, statuses and dates only.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from domain.case import CaseView
from domain.vocabulary import CaseStatus

SA_STATUS = SearchAttributeKey.for_keyword("CaseStatus")


SA_OWNER = SearchAttributeKey.for_keyword("CaseOwner")


SA_UNIT = SearchAttributeKey.for_keyword("CaseUnit")


SA_PROGRAM = SearchAttributeKey.for_keyword("CaseProgram")


SA_CHANNEL = SearchAttributeKey.for_keyword("CaseChannel")


SA_PRIORITY = SearchAttributeKey.for_keyword("CasePriority")


SA_OVERDUE = SearchAttributeKey.for_bool("CaseOverdue")


SA_ESCALATION = SearchAttributeKey.for_int("CaseEscalationLevel")


SA_RESOLVE_DUE = SearchAttributeKey.for_datetime("CaseResolveDue")


SEARCH_ATTRIBUTES = (
    SA_STATUS,
    SA_OWNER,
    SA_UNIT,
    SA_PROGRAM,
    SA_CHANNEL,
    SA_PRIORITY,
    SA_OVERDUE,
    SA_ESCALATION,
    SA_RESOLVE_DUE,
)


def case_search_attributes(view: CaseView) -> list[SearchAttributeUpdate[Any]]:
    """The case's search attributes as its view says now (a closed case has no resolve due)."""
    return [
        SA_STATUS.value_set(view.status.value),
        SA_OWNER.value_set(view.owner_id),
        SA_UNIT.value_set(view.unit_id),
        SA_PROGRAM.value_set(view.program_id),
        SA_CHANNEL.value_set(view.channel),
        SA_PRIORITY.value_set(view.priority.value),
        SA_OVERDUE.value_set(view.went_overdue),
        SA_ESCALATION.value_set(view.escalation_level),
        SA_RESOLVE_DUE.value_set(view.resolve_due_at)
        if view.resolve_due_at and view.status != CaseStatus.CLOSED
        else SA_RESOLVE_DUE.value_unset(),
    ]
