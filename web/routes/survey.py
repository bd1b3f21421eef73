"""The public resolution survey (the "double closed loop"): /survey/{token}, no sign-in.

The link in the customer's email carries a signed token naming the case and the survey round.
The page shows the two questions only while that survey is open: the token is genuine, younger
than the program's expiry, of the case's current round, and the case's survey is pending in the
read model. A forged, expired or used link gets a friendly page and nothing is recorded. The
answer goes to the workflow as a signal (nobody waits for it); the workflow accepts one answer
per survey, so a link that races itself still records once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlmodel import Session

from activities.remeasurement import expiry_seconds, read_survey_token
from core.settings import Settings
from core.threads import in_thread
from models.case import Case
from models.config import Program, Unit
from services.case_actions import ActionRejected, send_remeasurement
from web.auth import verify_csrf
from web.deps import EngineDep, SettingsDep, TemporalDep
from web.i18n import N_, format_number, gettext
from web.rate_limit import public_limit
from web.storable import form_problems
from web.templating import render
from workflows.messages import RemeasureAnswer

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

SCALE = {
    5: N_("Very satisfied"),
    4: N_("Satisfied"),
    3: N_("Neither satisfied nor dissatisfied"),
    2: N_("Dissatisfied"),
    1: N_("Very dissatisfied"),
}
COMMENT_MAX = 2000

# Why a link shows no questions: (HTTP status, title, message).
CLOSED: dict[str, tuple[int, str, str]] = {
    "invalid": (
        404,
        N_("This link does not work"),
        N_(
            "The survey link is incomplete or not valid. Please use the link from the email "
            "exactly as it was sent to you."
        ),
    ),
    "expired": (
        410,
        N_("This survey has closed"),
        N_("Thank you for opening it, but the time to answer this survey has passed."),
    ),
    "answered": (
        409,
        N_("You have already answered"),
        N_("We have your answer to this survey. Thank you for taking the time!"),
    ),
    "closed": (
        410,
        N_("This survey is no longer open"),
        N_("This survey has been replaced or is no longer open. Thank you all the same."),
    ),
}


@dataclass
class SurveyState:
    problem: str | None = None
    case_id: str = ""
    unit_name: str = ""
    program_name: str = ""
    customer_name: str = ""


@dataclass
class Answer:
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def survey_state(engine: Engine, settings: Settings, token: str) -> SurveyState:
    """Whether this link may answer now; the reason when it may not."""
    tok = read_survey_token(settings, token)
    if tok is None:
        return SurveyState("invalid")
    with Session(engine) as session:
        case = session.get(Case, tok.case_id)
        if case is None:
            return SurveyState("invalid")
        program = session.get(Program, case.program_id)
        unit = session.get(Unit, case.unit_id)
    expire_after = str(((program.remeasure if program else None) or {}).get("expire_after", "P7D"))
    try:
        max_age = expiry_seconds(expire_after)
    except (ValueError, ArithmeticError):
        max_age = 7 * 86400
    state = SurveyState(
        case_id=case.id,
        unit_name=unit.name if unit else "",
        program_name=program.name if program else "",
        customer_name=case.customer_name,
    )
    if tok.round != case.reopened_count:
        state.problem = "closed"
    elif case.remeasure_status == "answered":
        state.problem = "answered"
    elif (
        case.remeasure_status == "expired"
        or (datetime.now(UTC) - tok.issued_at).total_seconds() > max_age
    ):
        state.problem = "expired"
    elif case.remeasure_status != "pending":
        state.problem = "closed"
    return state


def _closed_page(request: Request, state: SurveyState) -> Response:
    status, title, message = CLOSED[state.problem or "invalid"]
    ctx = {"title": title, "message": message, "state": state, "kind": state.problem}
    return render(request, "survey_message.html", ctx, status=status)


def _form_page(
    request: Request, token: str, state: SurveyState, answer: Answer, status: int = 200
) -> Response:
    ctx: dict[str, Any] = {
        "title": N_("How did we do?"),
        "token": token,
        "state": state,
        "scale": SCALE,
        "answer": answer,
        "comment_max": COMMENT_MAX,
    }
    return render(request, "survey.html", ctx, status=status)


@router.get("/survey/{token}", dependencies=[Depends(public_limit)])
async def survey_page(
    token: str, request: Request, engine: EngineDep, settings: SettingsDep
) -> Response:
    state = await in_thread(survey_state, engine, settings, token)
    if state.problem:
        return _closed_page(request, state)
    return _form_page(request, token, state, Answer())


def _read_answer(form: Any) -> tuple[Answer, RemeasureAnswer | None]:
    def value(name: str, limit: int = 10) -> str:
        raw = form.get(name)
        return raw.strip()[:limit] if isinstance(raw, str) else ""

    satisfaction, resolved = value("satisfaction"), value("resolved")
    raw_comment = form.get("comment")
    comment = raw_comment.strip() if isinstance(raw_comment, str) else ""
    answer = Answer(values={"satisfaction": satisfaction, "resolved": resolved, "comment": comment})
    if satisfaction not in {str(k) for k in SCALE}:
        answer.errors["satisfaction"] = gettext("Choose how satisfied you are, from 1 to 5.")
    if resolved not in ("yes", "no"):
        answer.errors["resolved"] = gettext("Tell us whether your issue was resolved.")
    if len(comment) > COMMENT_MAX:
        answer.errors["comment"] = gettext(
            "The comment is limited to %(n)s characters.", n=format_number(COMMENT_MAX)
        )
    if answer.errors:
        return answer, None
    return answer, RemeasureAnswer(int(satisfaction), resolved == "yes", comment, "survey_page")


@router.post("/survey/{token}", dependencies=[Depends(public_limit)])
async def survey_answer(
    token: str,
    request: Request,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> Response:
    form = await request.form()
    state = await in_thread(survey_state, engine, settings, token)
    if state.problem:
        return _closed_page(request, state)
    answer, signal = _read_answer(form)
    if unstorable := form_problems(form):
        answer.errors, signal = unstorable, None
        answer.values = {k: v for k, v in answer.values.items() if k not in unstorable}
    if signal is None:
        return _form_page(request, token, state, answer, status=422)
    try:
        await send_remeasurement(temporal, state.case_id, signal)
    except ActionRejected:
        state.problem = "closed"
        return _closed_page(request, state)
    ctx = {
        "title": N_("Thank you"),
        "message": N_("Your answer has been recorded. Thank you for telling us how we did."),
        "state": state,
        "kind": "thanks",
    }
    return render(request, "survey_message.html", ctx)
