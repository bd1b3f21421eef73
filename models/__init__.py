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
from models.inbound import InboundMessage
from models.intake import ActionKey, Fyi, RoutingCounter, SurveyResponse
from models.kb import CaseKbLink, CaseLink, KbArticle
from models.rollup import CASE_ROLLUP, OWNER_ROLLUP, ROLLUP_ZONES
from models.sessions import AccountLink, WebSession
from models.views import SavedView
from models.webhooks import WebhookDelivery, WebhookSubscription

__all__ = [
    "CASE_ROLLUP",
    "OWNER_ROLLUP",
    "ROLLUP_ZONES",
    "AccountLink",
    "ActionKey",
    "ApiClient",
    "AuditEntry",
    "Case",
    "CaseChange",
    "CaseEvent",
    "CaseFailure",
    "CaseIntake",
    "CaseKbLink",
    "CaseLink",
    "CaseTaskRow",
    "CaseWatcher",
    "Customer",
    "CustomerErasure",
    "CustomerMerge",
    "Document",
    "Fyi",
    "InboundMessage",
    "KbArticle",
    "Notice",
    "Outbox",
    "Program",
    "RoutingCounter",
    "SavedView",
    "SurveyResponse",
    "Unit",
    "User",
    "WebSession",
    "WebhookDelivery",
    "WebhookSubscription",
]
