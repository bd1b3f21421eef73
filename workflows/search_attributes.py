"""The case search attributes: the one registry of keys (typed), set by CaseWorkflow and
registered on a namespace by `core.temporal.ensure_search_attributes`.

No customer personal data in any of these (DESIGN §9): ids, statuses and dates only.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

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
