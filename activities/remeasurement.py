"""Remeasurement: the "double closed loop" survey sent to the customer after a resolved close.

The survey link carries a signed, timestamped token naming the case and the survey round (a
reopened case is asked again; links of an earlier round die). The public page (web/routes/
survey.py) accepts it only while the case's survey is pending and the token is younger than the
program's expiry; the workflow accepts one answer per round, so a link works once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from activities.notifications import Notification, NotificationActivities
from core.settings import Settings
from domain.calendar import BusinessCalendar
from domain.mail.format import local_time
from domain.policy import CalendarSpec, RemeasurePolicy
from models.case import Case
from models.config import Unit


@dataclass
class RemeasureSchedule:
    reminder_at: datetime
    expire_at: datetime
    # The survey's outbox row when it must be delivered over SMTP (see `Notification`).
    outbox_id: int | None = None


@dataclass
class RemeasureRequest:
    case_id: str
    sent_at: datetime
    policy: RemeasurePolicy
    calendar: CalendarSpec
    reminder: bool = False
    # Which survey of the case (a reopened case is asked again): links of an earlier round die.
    round: int = 0


SURVEY_SALT = "caseloop-remeasure"


def survey_serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key.get_secret_value(), salt=SURVEY_SALT)


def make_survey_token(settings: Settings, case_id: str, round_: int = 0) -> str:
    """Signed and timestamped; single use is enforced by the case accepting one answer."""
    return survey_serializer(settings).dumps({"case": case_id, "round": round_})


def expiry_seconds(expire_after: str) -> int:
    """The program's survey expiry ("P7D", "PT12H", ...) in seconds, on a 24x7 clock."""
    cal = BusinessCalendar(CalendarSpec(always_open=True))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return int((cal.add(start, expire_after) - start).total_seconds())


@dataclass
class SurveyToken:
    case_id: str
    round: int
    issued_at: datetime


def read_survey_token(settings: Settings, token: str) -> SurveyToken | None:
    """What a genuine token says (None when forged or malformed); the caller checks its age."""
    if not token or len(token) > 500:
        return None
    try:
        data, issued = survey_serializer(settings).loads(token, return_timestamp=True)
    except BadData:  # forged, altered or malformed
        return None
    if not isinstance(data, dict) or not isinstance(data.get("case"), str):
        return None
    round_ = data.get("round", 0)
    if not isinstance(round_, int) or isinstance(round_, bool):
        return None
    return SurveyToken(data["case"], round_, issued.astimezone(UTC))


def schedule_for(req: RemeasureRequest) -> RemeasureSchedule:
    cal = BusinessCalendar(CalendarSpec(timezone=req.calendar.timezone, always_open=True))
    sent = req.sent_at
    return RemeasureSchedule(
        reminder_at=cal.add(sent, req.policy.reminder_after),
        expire_at=cal.add(sent, req.policy.expire_after),
    )


class RemeasurementActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.notifications = NotificationActivities(engine, settings)

    @activity.defn(name="send_remeasurement")
    def send_remeasurement(self, req: RemeasureRequest) -> RemeasureSchedule:
        """Queue the survey (or its reminder) for the customer; returns when to remind / expire.

        The answer carries the outbox row when it must still be delivered over SMTP.
        """
        schedule = schedule_for(req)
        token = make_survey_token(self.settings, req.case_id, req.round)
        kind = "remeasure_reminder" if req.reminder else "remeasure"
        with Session(self.engine) as session:
            case = session.get(Case, req.case_id)
            unit = session.get(Unit, case.unit_id) if case else None
        # A reminder's link expires with the original survey (sent `reminder_after` earlier).
        expires = schedule.expire_at
        if req.reminder:
            first_sent = req.sent_at - (schedule.reminder_at - req.sent_at)
            expires = schedule_for(
                RemeasureRequest(req.case_id, first_sent, req.policy, req.calendar)
            ).expire_at
        schedule.outbox_id = self.notifications.enqueue(
            Notification(
                case_id=req.case_id,
                event_key=f"{kind}:{req.sent_at.isoformat()}",
                kind=kind,
                to_user_ids=[],
                to_customer=True,
            ),
            survey={
                "link": f"{self.settings.public_base_url}/survey/{token}",
                "expires": local_time(expires, unit.timezone if unit else "UTC"),
            },
        )
        return schedule
