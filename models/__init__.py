"""SQL read model and reference data. Importing this registers every table on the metadata."""

from models.case import (
    Case,
    CaseEvent,
    CaseFailure,
    CaseIntake,
    CaseWatcher,
    Customer,
    Document,
    Notice,
    Outbox,
)
from models.config import ApiClient, Program, Unit, User
from models.intake import Fyi, RoutingCounter, SurveyResponse

__all__ = [
    "ApiClient",
    "Case",
    "CaseEvent",
    "CaseFailure",
    "CaseIntake",
    "CaseWatcher",
    "Customer",
    "Document",
    "Fyi",
    "Notice",
    "Outbox",
    "Program",
    "RoutingCounter",
    "SurveyResponse",
    "Unit",
    "User",
]
