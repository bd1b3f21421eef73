"""SQL read model and reference data. Importing this registers every table on the metadata."""

from models.audit import AuditEntry
from models.case import (
    Case,
    CaseEvent,
    CaseFailure,
    CaseIntake,
    CaseTaskRow,
    CaseWatcher,
    Customer,
    CustomerErasure,
    CustomerMerge,
    Document,
    Notice,
    Outbox,
)
from models.changes import CaseChange
from models.config import ApiClient, Program, Unit, User
from models.intake import ActionKey, Fyi, RoutingCounter, SurveyResponse
from models.sessions import WebSession
from models.views import SavedView

__all__ = [
    "ActionKey",
    "ApiClient",
    "AuditEntry",
    "Case",
    "CaseChange",
    "CaseEvent",
    "CaseFailure",
    "CaseIntake",
    "CaseTaskRow",
    "CaseWatcher",
    "Customer",
    "CustomerErasure",
    "CustomerMerge",
    "Document",
    "Fyi",
    "Notice",
    "Outbox",
    "Program",
    "RoutingCounter",
    "SavedView",
    "SurveyResponse",
    "Unit",
    "User",
    "WebSession",
]
