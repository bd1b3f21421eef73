"""Demo data for `make run`: the demo program plus a dozen cases in every state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from core.settings import ROOT, Settings
from domain.calendar import BusinessCalendar
from domain.case import Actor
from domain.vocabulary import ClosingStatus, Priority, Role, values
from models.api import CaseCreate
from models.config import Program, Unit
from services.case_actions import run_update
from services.config_file import load_config_file
from services.configuration import apply_config, policy_for
from services.intake import open_case
from workflows.case import CaseWorkflow
from workflows.messages import AddNote, CloseCase

DEMO_CONFIG = ROOT / "config" / "demo.yaml"
DEMO_PASSWORD = "caseloop-demo"

# (ref, unit, channel, business days ago, what happens, customer, reason)
CASES: list[tuple[str, str, str, float, str, str, str]] = [
    ("demo-01", "4723", "location_survey", 0, "new", "Ingrid Berg", "Room not cleaned"),
    ("demo-02", "1180", "contact_center", 0, "new", "James Miller", "Overcharged minibar"),
    ("demo-03", "8801", "web_form", 0, "new", "Yuki Tanaka", "Noisy air conditioning"),
    ("demo-04", "4723", "email", 0.2, "in_progress", "Lars Hansen", "Rude reception staff"),
    ("demo-05", "1180", "chat", 0.1, "in_progress", "Maria Garcia", "Breakfast was cold"),
    ("demo-06", "4723", "social_media", 2, "overdue", "Sofie Dahl", "Broken shower"),
    ("demo-07", "8801", "phone", 2, "overdue", "Hiro Sato", "Long wait at check-in"),
    ("demo-08", "1180", "location_survey", 4, "escalated", "Emma Brown", "Billing error"),
    ("demo-09", "4723", "digital_contact_card", 1, "resolved", "Nils Lie", "Loud party"),
    ("demo-10", "1180", "contact_center", 1, "resolved", "Olivia Smith", "Wrong room type"),
    ("demo-11", "8801", "email", 1, "unresolved", "Aiko Ito", "Lost luggage"),
    ("demo-12", "4723", "web_form", 0.5, "urgent", "Kari Nordmann", "Allergic reaction"),
]
OWNERS = {"4723": "olga", "1180": "sam", "8801": "kenji"}
ROOT_CAUSES = {
    "4723": ["Housekeeping"],
    "1180": ["Billing error", "Staff attitude"],
    "8801": ["Noise"],
}


async def seed_demo(engine: Engine, client: Client, settings: Settings) -> list[str]:
    """Idempotent: a second run finds the same cases by external ref and changes nothing."""
    apply_config(engine, load_config_file(DEMO_CONFIG))
    lines: list[str] = []
    now = datetime.now(UTC)
    with Session(engine) as session:
        program = session.get(Program, "guest-recovery")
        units = {u.id: u for u in session.exec(select(Unit)).all()}
    assert program is not None
    for ref, unit, channel, days_ago, plan, customer, reason in CASES:
        body = CaseCreate(
            program_id="guest-recovery",
            unit_id=unit,
            channel=channel,  # type: ignore[arg-type]
            customer={  # type: ignore[arg-type]
                "name": customer,
                "email": f"{customer.split()[0].lower()}@example.com",
                "phone": f"+1 555 01{len(lines):02d}",
            },
            transaction={
                "date": (now - timedelta(days=days_ago + 1)).date().isoformat(),
                "type": "stay",
            },
            category="Stay",
            priority=Priority.URGENT if plan == "urgent" else Priority.NORMAL,
            reason=reason,
            verbatim=f"{reason}. I expected better from you.",
            external_ref=ref,
        )
        # Back-dated in business time, so "overdue" is overdue whatever day the demo runs.
        calendar = BusinessCalendar(policy_for(program, units[unit]).calendar)
        created = calendar.subtract(now, f"{days_ago} business days") if days_ago else now
        result = await open_case(
            engine, client, settings, body, created_at=created, opened_by="demo"
        )
        lines.append(f"{result.case_id} {plan:<11} {reason}")
        if result.created:
            await _play(client, result.case_id, OWNERS[unit], plan, ROOT_CAUSES[unit])
    return lines


async def _play(client: Client, case_id: str, owner: str, plan: str, causes: list[str]) -> None:
    actor = Actor(owner, Role.AGENT)
    steps: list[tuple[Any, Any]] = []
    if plan in ("in_progress", "resolved", "unresolved"):
        steps.append((CaseWorkflow.add_note, AddNote(actor, "Called the guest, left a message.")))
    if plan in values(ClosingStatus):
        status = ClosingStatus(plan)
        note = "Apologised and refunded one night." if plan == "resolved" else "Guest unreachable."
        steps.append((CaseWorkflow.close, CloseCase(actor, status, causes, note, ["apology"])))
    for update, cmd in steps:
        await run_update(client, case_id, update, cmd, idempotency_key=f"demo-{update.__name__}")
