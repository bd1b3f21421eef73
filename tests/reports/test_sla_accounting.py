"""SLA accounting on a hand-built set of cases: the figures per case, on the dashboard and in the
CSV equal the values computed by hand below.

Every case goes through real intake, the real CaseWorkflow on the time-skipping server and its
projection; owner actions are Updates, deadlines fire on their own. The calendar: UTC, Monday to
Friday 09:00-17:00, and Wednesday a holiday. The program: first response within 2 business
hours, resolution within 16 (16 again for a new owner after a reassignment or an escalation),
both deadlines pause while the case waits on the customer. Times are the story week's (Monday
= day 0); every case is opened by intake and owned by ole (the unit's frontline owner).

    P  Mon 08:00 opened · Mon 10:00 ole's note (first response; open due Mon 11:00)
       Mon 12:00 ole pauses · Tue 10:00 ole resumes · Tue 11:00 reassigned to alex
       Thu 12:00 alex closes (resolve due Fri 11:00: 16 business hours from Tue 11:00)
    L  Mon 08:00 opened · Mon 11:00 open deadline missed (ole) · Mon 13:00 reassigned to alex
       (resolve due Mon 13:00 + 16 bh = Thu 13:00) · Mon 14:00 alex's note
       Thu 13:00 resolve deadline missed: escalated to mia · Fri 10:00 mia closes
    W  Tue 10:00 opened (open due Tue 12:00, resolve due Fri 10:00) · Tue 11:00 ole's note
       Tue 15:00 ole pauses · Thu 11:00 ole closes, still waiting
    N  Thu 14:00 opened · Thu 16:00 open deadline missed (ole); still open at the end

Updates land a moment after the instant the test sleeps to (the time-skipping clock runs on
while the test talks to the server), so the per-case figures are compared to the minute.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.case import Actor
from domain.program import ConfigDoc
from domain.vocabulary import ClosingStatus
from models.api import CaseCreate
from models.case import Case
from models.db import make_engine
from services.case_actions import run_update
from services.configuration import apply_config
from services.intake import open_case
from services.sla_backfill import backfill_sla
from tests.conftest import migrated_db, terminate_cases
from tests.factories import OSLO_HARBOUR, USERS, running_worker
from tests.live import eventually
from tests.reports.conftest import PASSWORD, Population, report_app, signed_in
from workflows.case import CaseWorkflow
from workflows.messages import AddNote, CloseCase, PauseCase, Reassign, ResumeCase

OLE, ALEX, MIA = Actor("ole"), Actor("alex"), Actor("mia")
H = 60  # minutes


def sla_config(holiday: str) -> ConfigDoc:
    program = {
        "id": "sla",
        "name": "SLA accounting",
        "calendar": {"timezone": "UTC", "extra_holidays": [holiday]},
        "sla": {
            "open_within": "2 business hours",
            "resolve_within": "16 business hours",
            "warn_before": None,
            "pause_metrics": ["open", "resolve"],
            "max_pause": None,
        },
        "escalation": {"max_level": 1, "reassign_resolve_within": "16 business hours"},
        "remeasure": {"enabled": False},
        "root_causes": ["staff"],
        "resolution_methods": ["apology"],
        "default_owner": "dora",
    }
    return ConfigDoc.model_validate(
        {
            "users": [{**u, "password": PASSWORD} for u in USERS],
            "units": [OSLO_HARBOUR],
            "programs": [program],
        }
    )


# The hand-computed figures per case, in minutes (None: not measured yet).
#   P  first response Mon 08:00 -> Mon 10:00: 2 h wall; business Mon 09-10 = 1 h.
#      paused Mon 12:00 -> Tue 10:00: 22 h wall; business Mon 12-17 (5) + Tue 09-10 (1) = 6 h.
#      resolution Mon 08:00 -> Thu 12:00: 76 h wall; business Mon 8 + Tue 8 + Wed 0 (holiday)
#      + Thu 09-12 3 = 19 h, less the 6 paused = 13 h. Both met.
#   L  first response Mon 08:00 -> Mon 14:00: 6 h wall; business Mon 09-14 = 5 h; breached
#      (due Mon 11:00) while ole owned it. Resolution Mon 08:00 -> Fri 10:00: 98 h wall;
#      business Mon 8 + Tue 8 + Wed 0 + Thu 8 + Fri 09-10 1 = 25 h; breached at Thu 13:00 on
#      alex's watch (escalated from alex to mia). Never paused.
#   W  first response Tue 10:00 -> 11:00: 1 h wall and business. Paused Tue 15:00 -> the close
#      Thu 11:00: 44 h wall; business Tue 15-17 (2) + Wed 0 + Thu 09-11 (2) = 4 h. Resolution
#      Tue 10:00 -> Thu 11:00: 49 h wall; business Tue 10-17 (7) + Thu 09-11 (2) = 9 h, less 4
#      paused = 5 h; met (due Fri 10:00).
#   N  no first response; breached at Thu 16:00 on ole's watch. Resolution not decided.
EXPECTED: dict[str, dict[str, Any]] = {
    "P": {
        "first_response": 2 * H,
        "first_response_business": 1 * H,
        "resolution": 76 * H,
        "resolution_business": 13 * H,
        "paused": 22 * H,
        "paused_business": 6 * H,
        "first_response_met": True,
        "resolution_met": True,
        "first_response_breach_owner": None,
        "resolution_breach_owner": None,
    },
    "L": {
        "first_response": 6 * H,
        "first_response_business": 5 * H,
        "resolution": 98 * H,
        "resolution_business": 25 * H,
        "paused": 0,
        "paused_business": 0,
        "first_response_met": False,
        "resolution_met": False,
        "first_response_breach_owner": "ole",
        "resolution_breach_owner": "alex",
    },
    "W": {
        "first_response": 1 * H,
        "first_response_business": 1 * H,
        "resolution": 49 * H,
        "resolution_business": 5 * H,
        "paused": 44 * H,
        "paused_business": 4 * H,
        "first_response_met": True,
        "resolution_met": True,
        "first_response_breach_owner": None,
        "resolution_breach_owner": None,
    },
    "N": {
        "first_response": None,
        "first_response_business": None,
        "resolution": None,
        "resolution_business": None,
        "paused": 0,
        "paused_business": 0,
        "first_response_met": False,
        "resolution_met": None,
        "first_response_breach_owner": "ole",
        "resolution_breach_owner": None,
    },
}


def figures_of(row: Case) -> dict[str, Any]:
    """The row's SLA columns, seconds as whole minutes."""
    out: dict[str, Any] = {}
    for key in EXPECTED["P"]:
        value = getattr(row, f"sla_{key}" + ("" if key.endswith(("met", "owner")) else "_seconds"))
        is_seconds = not key.endswith(("met", "owner")) and value is not None
        out[key] = round(value / 60) if is_seconds else value
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sla_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from migrated_db(request.param, tmp_path_factory.mktemp("sla"), "caseloop_sla")


@pytest.fixture(scope="module")
async def story(
    ts_env: WorkflowEnvironment, sla_db: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Population]:
    env = ts_env
    backend = "postgresql" if sla_db.startswith("postgresql") else "sqlite"
    now = await env.get_current_time()
    # The story's Monday: the first one at least a day ahead, 00:00 UTC.
    monday = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    monday += timedelta(days=(7 - monday.weekday()) % 7)
    settings = Settings(
        database_url=sla_db,
        task_queue=f"caseloop-sla-{uuid.uuid4().hex[:8]}",
        upload_dir=tmp_path_factory.mktemp("sla-uploads"),
        public_base_url="http://testserver",
        secret_key=f"test-{uuid.uuid4().hex}",  # type: ignore[arg-type]
    )
    engine = make_engine(sla_db)
    apply_config(engine, sla_config((monday + timedelta(days=2)).date().isoformat()))
    pop = Population(backend, sla_db, engine, settings, t0=monday)
    await play(env, pop)
    yield pop
    engine.dispose()


async def play(env: WorkflowEnvironment, pop: Population) -> None:
    client, engine = env.client, pop.engine

    async def at(day: int, hour: int) -> None:
        target = pop.t0 + timedelta(days=day, hours=hour)
        now = await env.get_current_time()
        assert target >= now, (target, now)
        if target > now:
            await env.sleep(target - now)

    async def projected(case_id: str) -> None:
        handle = client.get_workflow_handle_for(CaseWorkflow.run, case_id)

        async def caught_up() -> bool:
            version = (await handle.query(CaseWorkflow.state)).view.version
            with Session(engine) as session:
                row = session.get(Case, case_id)
                return row is not None and row.version >= version >= 1

        await eventually(caught_up, within=15, what=f"{case_id} projected", every=0.02)

    async def open_(key: str) -> None:
        body = CaseCreate.model_validate(
            {
                "program_id": "sla",
                "unit_id": "4723",
                "channel": "email",
                "customer": {"name": f"Guest {key}", "email": f"guest-{key.lower()}@example.com"},
                "category": "Stay",
                "reason": f"Case {key}",
            }
        )
        created = await env.get_current_time()
        result = await open_case(engine, client, pop.settings, body, created_at=created)
        pop.ids[key] = result.case_id
        await projected(result.case_id)

    async def act(key: str, update_: Any, cmd: Any) -> None:
        await run_update(client, pop.ids[key], update_, cmd)

    def close(actor: Actor) -> CloseCase:
        return CloseCase(actor, ClosingStatus.RESOLVED, ["staff"], "Sorted out.", ["apology"])

    async with running_worker(client, engine, pop.settings):
        await at(0, 8)
        await open_("P")
        await open_("L")
        await at(0, 10)
        await act("P", CaseWorkflow.add_note, AddNote(OLE, "Called the guest"))
        await at(0, 12)
        await act("P", CaseWorkflow.pause, PauseCase(OLE, "Waiting for the receipt"))
        await at(0, 13)
        await act("L", CaseWorkflow.reassign, Reassign(OLE, "alex", "Alex knows the room"))
        await at(0, 14)
        await act("L", CaseWorkflow.add_note, AddNote(ALEX, "On it"))
        await at(1, 10)
        await act("P", CaseWorkflow.resume, ResumeCase(OLE, "Receipt came"))
        await open_("W")
        await at(1, 11)
        await act("P", CaseWorkflow.reassign, Reassign(OLE, "alex", "Alex takes over"))
        await act("W", CaseWorkflow.add_note, AddNote(OLE, "Asked for photos"))
        await at(1, 15)
        await act("W", CaseWorkflow.pause, PauseCase(OLE, "Waiting for the photos"))
        await at(3, 11)
        await act("W", CaseWorkflow.close, close(OLE))
        await at(3, 12)
        await act("P", CaseWorkflow.close, close(ALEX))
        await at(3, 14)  # L escalated at 13:00 on its own
        await open_("N")
        await at(4, 10)  # N's open deadline passed at Thu 16:00 on its own
        await act("L", CaseWorkflow.close, close(MIA))
        for case_id in pop.ids.values():
            await projected(case_id)
        await terminate_cases(env, engine)


def test_each_case_has_its_hand_computed_figures(story: Population) -> None:
    for key, expected in EXPECTED.items():
        assert figures_of(story.case(key)) == expected, key
    # The escalation happened as the story says (the breach owner is not just the owner now).
    assert story.case("L").owner_id == "mia"
    assert story.case("P").owner_id == "alex"


def test_the_backfill_measures_the_same_from_the_timeline(story: Population) -> None:
    """A row projected before migration 0022 (its SLA columns empty) gets the same figures."""
    empty = {
        f"sla_{k}" + ("" if k.endswith(("met", "owner")) else "_seconds"): None
        for k in EXPECTED["P"]
    }
    with Session(story.engine) as session, session.begin():
        session.exec(update(Case).values(**empty))
    assert backfill_sla(story.engine) == len(EXPECTED)
    for key, expected in EXPECTED.items():
        assert figures_of(story.case(key)) == expected, key
    assert backfill_sla(story.engine) == 0  # nothing left to measure


def _query(pop: Population) -> dict[str, str]:
    monday = pop.t0.date()
    return {"from": monday.isoformat(), "to": (monday + timedelta(days=4)).isoformat(), "tz": "UTC"}


def _cells(html: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert table, table_id
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(0), re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)
        ]
        for r in rows
    ]


async def test_the_dashboard_shows_the_aggregates(
    story: Population, ts_env: WorkflowEnvironment
) -> None:
    # First response: met by P and W, breached by L and N: 2 of 4 decided = 50%. Medians over
    # the cases with a response (P, L, W): wall 2, 6, 1 -> 2 h; business 1, 5, 1 -> 1 h.
    # Resolution: met by P and W, breached by L (N undecided): 2 of 3 = 66.7%. Medians over P,
    # L, W: wall 76, 98, 49 -> 76 h; business 13, 25, 5 -> 13 h.
    # Paused: P and W; business 6 + 4 = 10 h, wall 22 + 44 = 66 h.
    # Breaches by the owner then: ole the first response of L and N (2 cases), alex the
    # resolution of L (1 case).
    app = report_app(story, ts_env.client)
    async with signed_in(app, "root") as client:
        r = await client.get("/dashboard", params=_query(story))
        assert r.status_code == 200, r.text
        assert _cells(r.text, "sla-metrics") == [
            ["Deadline", "Met", "Breached", "Met %", "Median hours", "Median business hours"],
            ["First response", "2", "2", "50%", "2.0 h", "1.0 h"],
            ["Resolution", "2", "1", "66.7%", "76.0 h", "13.0 h"],
        ]
        paused = re.search(r'<p id="sla-paused">(.*?)</p>', r.text, re.S)
        assert paused and " ".join(paused.group(1).split()) == (
            "2 cases waited on the customer: 10.0 h of business time (66.0 h on the clock)."
        )
        assert _cells(r.text, "sla-owners") == [
            ["Owner", "First response breached", "Resolution breached", "Cases"],
            ["Ole Owner", "2", "0", "2"],
            ["Alex Agent", "0", "1", "1"],
        ]
        # Every count links to exactly its cases.
        lists = {
            ("response", "met"): {"P", "W"},
            ("response", "breached"): {"L", "N"},
            ("resolution", "met"): {"P", "W"},
            ("resolution", "breached"): {"L"},
            ("breached_by", "ole"): {"L", "N"},
            ("breached_by", "alex"): {"L"},
            ("breached_by", "mia"): set(),
        }
        for (name, value), keys in lists.items():
            page = await client.get("/dashboard/cases", params=_query(story) | {name: value})
            assert page.status_code == 200, page.text
            shown = set(re.findall(r"C-\d{6}", page.text))
            assert shown == {story.ids[k] for k in keys}, (name, value)


async def test_the_csv_has_each_case_figures(
    story: Population, ts_env: WorkflowEnvironment
) -> None:
    app = report_app(story, ts_env.client)
    async with signed_in(app, "root") as client:
        r = await client.get("/dashboard/cases.csv", params=_query(story))
        assert r.status_code == 200, r.text
    rows = {row["case_id"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert len(rows) == 4

    def hours(minutes: int | None) -> str:
        return "" if minutes is None else f"{minutes / 60:.2f}"

    def yes_no(value: bool | None) -> str:
        return "" if value is None else "yes" if value else "no"

    for key, e in EXPECTED.items():
        row = rows[story.ids[key]]
        got = {
            name: row[name]
            for name in (
                "first_response_hours",
                "first_response_business_hours",
                "resolution_hours",
                "resolution_business_hours",
                "paused_business_hours",
                "first_response_met",
                "resolution_met",
                "first_response_breach_owner",
                "resolution_breach_owner",
            )
        }
        assert got == {
            "first_response_hours": hours(e["first_response"]),
            "first_response_business_hours": hours(e["first_response_business"]),
            "resolution_hours": hours(e["resolution"]),
            "resolution_business_hours": hours(e["resolution_business"]),
            "paused_business_hours": hours(e["paused_business"]),
            "first_response_met": yes_no(e["first_response_met"]),
            "resolution_met": yes_no(e["resolution_met"]),
            "first_response_breach_owner": e["first_response_breach_owner"] or "",
            "resolution_breach_owner": e["resolution_breach_owner"] or "",
        }, key


async def test_the_case_page_shows_its_own_figures(
    story: Population, ts_env: WorkflowEnvironment
) -> None:
    app = report_app(story, ts_env.client)
    async with signed_in(app, "root") as client:
        r = await client.get(f"/cases/{story.ids['L']}")
        assert r.status_code == 200, r.text
    block = re.search(r'<section id="case-sla".*?</section>', r.text, re.S)
    assert block
    rows = _cells(block.group(0).replace('<table class="figures">', '<table id="x">'), "x")
    assert rows[1:] == [
        ["First response", "6.0 h", "5.0 h", "breached (owner then: ole)"],
        ["Resolution", "98.0 h", "25.0 h", "breached (owner then: alex)"],
        ["Waited on the customer", "0.0 h", "0.0 h", ""],
    ]
