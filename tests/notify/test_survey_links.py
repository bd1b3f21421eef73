"""When a survey link may answer: genuine, young enough, this round's, and the survey pending.

The read-model rows are set directly here; the browser and HTTP tests (test_web.py) go through
the real workflow.
"""

from __future__ import annotations

import time

from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine
from sqlmodel import Session

from activities.remeasurement import (
    SURVEY_SALT,
    expiry_seconds,
    make_survey_token,
    read_survey_token,
)
from core.settings import Settings
from models.api import CaseCreate
from models.case import Case
from tests.factories import seed, version0_case
from web.routes.survey import survey_state


def a_case(engine: Engine, **row: object) -> str:
    body = CaseCreate.model_validate(
        {
            "program_id": "recovery",
            "unit_id": "4723",
            "channel": "web_form",
            "customer": {"name": "Kari Nordmann", "email": "kari@example.com"},
            "reason": "Late delivery",
        }
    )
    inp = version0_case(engine, body)
    with Session(engine) as session:
        case = session.get(Case, inp.case_id)
        assert case is not None
        for key, value in row.items():
            setattr(case, key, value)
        session.add(case)
        session.commit()
    return inp.case_id


def signed_ago(settings: Settings, payload: dict[str, object], seconds: int) -> str:
    class Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - seconds

    secret = settings.secret_key.get_secret_value()
    return URLSafeTimedSerializer(secret, salt=SURVEY_SALT, signer=Earlier).dumps(payload)


def test_tokens_name_case_and_round_and_reject_forgeries(settings: Settings) -> None:
    token = make_survey_token(settings, "C-000042", 2)
    read = read_survey_token(settings, token)
    assert read is not None and (read.case_id, read.round) == ("C-000042", 2)
    other = Settings(secret_key="another-key")  # type: ignore[arg-type]
    assert read_survey_token(other, token) is None
    assert read_survey_token(settings, token[:-2] + "xx") is None
    assert read_survey_token(settings, "") is None and read_survey_token(settings, "a.b") is None
    assert expiry_seconds("P7D") == 7 * 86400 and expiry_seconds("PT12H") == 12 * 3600


def test_only_a_pending_survey_of_this_round_within_the_expiry_may_answer(
    engine: Engine, settings: Settings
) -> None:
    seed(engine)  # the program's surveys expire after P5D
    pending = a_case(engine, remeasure_status="pending", status="closed", is_open=False)
    token = make_survey_token(settings, pending)
    assert survey_state(engine, settings, token).problem is None
    assert survey_state(engine, settings, token).customer_name == "Kari Nordmann"

    young = signed_ago(settings, {"case": pending, "round": 0}, 4 * 86400)
    old = signed_ago(settings, {"case": pending, "round": 0}, 5 * 86400 + 60)
    assert survey_state(engine, settings, young).problem is None
    assert survey_state(engine, settings, old).problem == "expired"

    # A reopened case asks again: the first round's link is dead, the new one works.
    reopened = a_case(engine, remeasure_status="pending", reopened_count=1)
    assert survey_state(engine, settings, make_survey_token(settings, reopened, 0)).problem == (
        "closed"
    )
    assert survey_state(engine, settings, make_survey_token(settings, reopened, 1)).problem is None

    for status, problem in (
        ("answered", "answered"),
        ("expired", "expired"),
        ("not_applicable", "closed"),
    ):
        case_id = a_case(engine, remeasure_status=status)
        assert survey_state(engine, settings, make_survey_token(settings, case_id)).problem == (
            problem
        )
    unknown = make_survey_token(settings, "C-999999")
    assert survey_state(engine, settings, unknown).problem == "invalid"
    assert survey_state(engine, settings, "not-a-token").problem == "invalid"
