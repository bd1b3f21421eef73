"""Test data built through the same configuration path the product uses."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.case import CaseDetails, Watcher
from domain.program import ConfigDoc
from domain.vocabulary import Priority
from models.api import CaseCreate
from models.case import Case
from models.config import Program, Unit
from services.case_start import start_case_workflow
from services.configuration import apply_config, policy_for
from services.intake import _plan
from services.writer import writer_for
from tests.live import eventually
from worker import build_worker
from workflows.case import CaseWorkflow
from workflows.messages import CaseInput

# A ladder: owner -> manager -> director (the designee chain of the escalation tests).
USERS = [
    {"id": "dora", "name": "Dora Director", "email": "dora@example.com", "role": "manager"},
    {
        "id": "mia",
        "name": "Mia Manager",
        "email": "mia@example.com",
        "role": "manager",
        "manager": "dora",
    },
    {"id": "ole", "name": "Ole Owner", "email": "ole@example.com", "manager": "mia"},
    {"id": "fred", "name": "Fred Field", "email": "fred@example.com", "role": "manager"},
    {"id": "alex", "name": "Alex Agent", "email": "alex@example.com", "manager": "mia"},
    {"id": "root", "name": "Ada Admin", "email": "admin@example.com", "role": "admin"},
]

# Survey questions and the FYI rules on them (a compliment for a high score, any suggestion).
LTR_QUESTION = {
    "id": "ltr",
    "text": "How likely are you to recommend us?",
    "type": "score",
    "max": 10,
}
SUGGESTION_QUESTION = {"id": "suggestion", "text": "Anything we could do better?", "type": "text"}
FYI_RULES: list[dict[str, Any]] = [
    {
        "id": "praise",
        "kind": "fyi",
        "fyi_type": "compliment",
        "score_question": "ltr",
        "min_score": 9,
    },
    {"id": "idea", "kind": "fyi", "fyi_type": "suggestion", "question": "suggestion"},
]

# Unit 4723: owner ole, manager mia, field manager fred.
OSLO_HARBOUR: dict[str, Any] = {
    "id": "4723",
    "name": "Oslo Harbour",
    "timezone": "Europe/Oslo",
    "frontline_owner": "ole",
    "manager": "mia",
    "field_manager": "fred",
}


def config(**program: Any) -> ConfigDoc:
    base: dict[str, Any] = {
        "id": "recovery",
        "name": "Guest Recovery",
        "calendar": {"always_open": True},
        "sla": {"open_within": "PT4H", "resolve_within": "P1D", "warn_before": "PT1H"},
        "escalation": {"max_level": 2},
        "remeasure": {"reminder_after": "P2D", "expire_after": "P5D"},
        "root_causes": ["staff", "product", "billing", "wait time"],
        "resolution_methods": ["apology", "refund", "discount"],
        "default_owner": "dora",
    }
    base.update(program)
    return ConfigDoc.model_validate(
        {
            "users": USERS,
            "units": [dict(OSLO_HARBOUR)],
            "programs": [base],
        }
    )


def config_with_passwords(password: str, **program: Any) -> ConfigDoc:
    """`config()` with every user able to sign in with `password`."""
    doc = config(**program)
    for user in doc.users:
        user.password = password
    return doc


def seed(engine: Engine, **program: Any) -> None:
    apply_config(engine, config(**program))


def case_row(engine: Engine, case_id: str) -> Case:
    """The case's row in the read model (which must exist)."""
    with Session(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def case_input(engine: Engine, case_id: str, created_at: datetime, **details: Any) -> CaseInput:
    with Session(engine) as session:
        program = session.get(Program, "recovery")
        unit = session.get(Unit, "4723")
        assert program and unit
        policy = policy_for(program, unit)
    return CaseInput(
        case_id=case_id,
        policy=policy,
        details=CaseDetails(
            channel=details.pop("channel", "contact_center"),
            unit_id="4723",
            customer_name="Kari Nordmann",
            reason=details.pop("reason", "Room was not cleaned"),
            priority=details.pop("priority", Priority.NORMAL),
            **details,
        ),
        owner_id="ole",
        watchers=[Watcher("mia"), Watcher("fred", access="limited")],  # type: ignore[arg-type]
        created_at=created_at,
        routing_reason="test",
    )


# Cases started by the tests; left running, their timers would stall the time-skipping clock.
_started: list[WorkflowHandle[CaseWorkflow, Any]] = []


@asynccontextmanager
async def running_worker(client: Client, engine: Engine, settings: Settings) -> AsyncIterator[None]:
    async with build_worker(client, engine, settings):
        try:
            yield
        finally:
            while _started:
                handle = _started.pop()
                with contextlib.suppress(RPCError):
                    await handle.terminate("test finished")


async def start_case(
    env: WorkflowEnvironment, engine: Engine, settings: Settings, case_id: str, **details: Any
) -> WorkflowHandle[CaseWorkflow, Any]:
    """Start a case "now" on the server's clock (time-skipping moves it far from the wall)."""
    client = env.client
    inp = case_input(engine, case_id, await env.get_current_time(), **details)
    await start_case_workflow(client, settings, inp)
    handle = client.get_workflow_handle_for(CaseWorkflow.run, case_id)
    _started.append(handle)
    # Wait for the first projection, as the API does before anyone can see the case.

    async def projected() -> bool:
        return (await handle.query(CaseWorkflow.state)).view.version >= 1

    await eventually(projected, within=10, what=f"{case_id}'s first projection", every=0.02)
    return handle


def version0_case(engine: Engine, body: CaseCreate) -> CaseInput:
    """Intake's database step alone (case number, customer, version-0 row): no workflow."""
    planned = writer_for(engine).run(_plan(engine, body, None, None, "intake", None))
    assert isinstance(planned, tuple)
    return planned[1]
