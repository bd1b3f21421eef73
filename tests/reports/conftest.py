"""A known population of cases, built through the real lifecycle on the time-skipping server.

Every case goes through real intake (`open_case`: routing, customer, deadlines), the real
CaseWorkflow and its projection, owner actions as Updates and survey answers as signals; time
passes with `env.sleep`, so deadlines, escalation, remeasurement and its expiry really happen.
The same story is played once per read-model backend (SQLite, PostgreSQL), for the package.

The story (hours after T0, which is 21:30 UTC: late evening in Oslo, so a case opened two hours
later falls on the next local day there but on the same UTC day):

    case  unit  channel         what happens
    A     4723  contact_center  note at 1, resolved [staff] at 3, survey 5/5 "resolved" at 4.5
    B     4723  email           closed unresolved [billing, staff] at 1.5
    C     4723  web_form        overdue at 2, note at 2.5, resolved [product] at 4, survey 1/5
                                "not resolved" at 5.25 -> recovery failed -> reopened (in progress)
    D     9000  contact_center  urgent; overdue at 1, escalated to mia at 5 (open)
    E     4723  chat            note at 1 (in progress)
    F     4723  contact_center  closed resolved [wait time] at 0.5; survey expires at 6.5
    G     9000  email           overdue at 2, closed resolved [staff] at 5.5; survey pending
    H     4723  social_media    opened at 2 (23:30 UTC), overdue at 4
    I     4723  phone           opened at 7 (new)
    J     4723  phone           program "care" (no remeasurement), closed resolved [staff] at 1

FYIs (survey returns that need no case): unit 4723 two compliments and a suggestion, 9000 one
compliment.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from domain.case import Actor
from domain.program import ConfigDoc
from domain.vocabulary import ClosingStatus
from models.api import CaseCreate, SurveyResponseIn
from models.case import Case
from models.db import make_engine
from services.case_actions import run_update, send_remeasurement
from services.configuration import apply_config
from services.intake import open_case
from services.reports import ReportFilters
from services.surveys import submit_survey
from tests.conftest import migrated_db, terminate_cases, time_skipping_env
from tests.factories import (
    FYI_RULES,
    LTR_QUESTION,
    OSLO_HARBOUR,
    SUGGESTION_QUESTION,
    USERS,
    running_worker,
)
from tests.live import eventually, log_in
from workflows.case import CaseWorkflow
from workflows.messages import AddNote, CloseCase, RemeasureAnswer

PASSWORD = "report-test-password"
OLE, ALEX = Actor("ole"), Actor("alex")

RECOVERY: dict[str, Any] = {
    "id": "recovery",
    "name": "Guest Recovery",
    "calendar": {"always_open": True},
    "sla": {"open_within": "PT2H", "resolve_within": "PT10H", "warn_before": None},
    "escalation": {"max_level": 1, "reassign_resolve_within": "PT48H"},
    "remeasure": {
        "reminder_after": "PT3H",
        "expire_after": "PT6H",
        "low_score_threshold": 2,
        "reopen_on_failure": True,
    },
    "root_causes": ["staff", "product", "billing", "wait time"],
    "resolution_methods": ["apology", "refund", "discount"],
    "default_owner": "dora",
    "questions": [LTR_QUESTION, SUGGESTION_QUESTION],
    "alert_rules": FYI_RULES,
}
CARE: dict[str, Any] = {
    **{k: v for k, v in RECOVERY.items() if k not in ("questions", "alert_rules")},
    "id": "care",
    "name": "Customer Care",
    "remeasure": {"enabled": False},
}


def report_config() -> ConfigDoc:
    users = [{**u, "password": PASSWORD} for u in USERS]
    return ConfigDoc.model_validate(
        {
            "users": users,
            "units": [
                OSLO_HARBOUR,
                {
                    "id": "9000",
                    "name": "Bergen Quay",
                    "timezone": "Europe/Oslo",
                    "frontline_owner": "alex",
                    "manager": "dora",
                },
            ],
            "programs": [RECOVERY, CARE],
        }
    )


@dataclass
class Population:
    backend: str
    url: str
    engine: Engine
    settings: Settings
    t0: datetime
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def day(self) -> date:
        """D: the UTC date on which the story starts."""
        return self.t0.date()

    def filters(self, **kw: Any) -> ReportFilters:
        """The whole story (and the FYIs, filed on the wall clock's day), UTC by default."""
        start = min(self.day, datetime.now(UTC).date()) - timedelta(days=1)
        base: dict[str, Any] = {
            "date_from": start,
            "date_to": self.day + timedelta(days=2),
            "tz": "UTC",
        }
        return ReportFilters(**(base | kw))

    def case(self, key: str) -> Case:
        with Session(self.engine) as session:
            row = session.get(Case, self.ids[key])
            assert row is not None
            session.expunge(row)
            return row

    def cases(self) -> list[Case]:
        with Session(self.engine) as session:
            rows = list(session.exec(select(Case)).all())
            for r in rows:
                session.expunge(r)
            return rows


def _body(program: str, unit: str, channel: str, n: int, **extra: Any) -> CaseCreate:
    return CaseCreate.model_validate(
        {
            "program_id": program,
            "unit_id": unit,
            "channel": channel,
            "customer": {"name": f"Customer {n}", "email": f"customer{n}@example.com"},
            "transaction": {"date": "2026-03-01", "room": str(100 + n)},
            "category": "Stay",
            "reason": f"Complaint number {n}",
            **extra,
        }
    )


async def _projected(env: WorkflowEnvironment, engine: Engine, case_id: str) -> None:
    """Wait until the read model holds the workflow's latest version of the case."""
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, case_id)

    async def caught_up() -> bool:
        version = (await handle.query(CaseWorkflow.state)).view.version
        with Session(engine) as session:
            row = session.get(Case, case_id)
            return row is not None and row.version >= version >= 1

    await eventually(caught_up, within=15, what=f"{case_id} projected", every=0.02)


async def play_story(env: WorkflowEnvironment, pop: Population) -> None:
    engine, settings, client = pop.engine, pop.settings, env.client

    for n, (unit, answers, comments) in enumerate(
        [
            ("4723", {"ltr": 10}, "Lovely breakfast"),
            ("4723", {"ltr": 9}, "Friendly staff"),
            ("4723", {"suggestion": "More towels, please"}, ""),
            ("9000", {"ltr": 10}, "Great view"),
        ]
    ):
        result = await submit_survey(
            engine,
            client,
            settings,
            SurveyResponseIn.model_validate(
                {
                    "program_id": "recovery",
                    "unit_id": unit,
                    "response_id": f"fyi-{pop.backend}-{n}",
                    "answers": answers,
                    "comments": comments,
                }
            ),
        )
        assert result.outcome == "fyi", result

    now = await env.get_current_time()
    t0 = (now + timedelta(minutes=5)).replace(hour=21, minute=30, second=0, microsecond=0)
    if t0 <= now + timedelta(minutes=1):
        t0 += timedelta(days=1)
    pop.t0 = t0
    await env.sleep(t0 - now)

    async def at(hours: float) -> None:
        target = t0 + timedelta(hours=hours)
        now = await env.get_current_time()
        if target > now:
            await env.sleep(target - now)

    counter = iter(range(1, 100))

    async def open_(
        key: str, unit: str, channel: str, program: str = "recovery", **kw: Any
    ) -> None:
        body = _body(program, unit, channel, next(counter), **kw)
        result = await open_case(
            engine, client, settings, body, created_at=await env.get_current_time()
        )
        pop.ids[key] = result.case_id
        await _projected(env, engine, result.case_id)

    async def act(key: str, update: Any, cmd: Any) -> None:
        await run_update(client, pop.ids[key], update, cmd)

    def close(actor: Actor, status: ClosingStatus, causes: list[str]) -> CloseCase:
        return CloseCase(actor, status, causes, "Spoke with the guest.", ["apology"])

    async with running_worker(client, engine, settings):
        for key, unit, channel, program, kw in [
            ("A", "4723", "contact_center", "recovery", {}),
            ("B", "4723", "email", "recovery", {}),
            ("C", "4723", "web_form", "recovery", {}),
            ("D", "9000", "contact_center", "recovery", {"priority": "urgent"}),
            ("E", "4723", "chat", "recovery", {}),
            ("F", "4723", "contact_center", "recovery", {}),
            ("G", "9000", "email", "recovery", {}),
            ("J", "4723", "phone", "care", {}),
        ]:
            await open_(key, unit, channel, program, **kw)
        await at(0.5)
        await act("F", CaseWorkflow.close, close(OLE, ClosingStatus.RESOLVED, ["wait time"]))
        await at(1)
        await act("A", CaseWorkflow.add_note, AddNote(OLE, "Called the guest"))
        await act("E", CaseWorkflow.add_note, AddNote(OLE, "Looking into it"))
        await act("J", CaseWorkflow.close, close(OLE, ClosingStatus.RESOLVED, ["staff"]))
        await at(1.5)
        await act(
            "B", CaseWorkflow.close, close(OLE, ClosingStatus.UNRESOLVED, ["billing", "staff"])
        )
        await at(2)
        await open_("H", "4723", "social_media")
        await at(2.5)
        await act("C", CaseWorkflow.add_note, AddNote(OLE, "Late, but on it"))
        await at(3)
        await act("A", CaseWorkflow.close, close(OLE, ClosingStatus.RESOLVED, ["staff"]))
        await at(4)
        await act("C", CaseWorkflow.close, close(OLE, ClosingStatus.RESOLVED, ["product"]))
        await at(4.5)
        await send_remeasurement(client, pop.ids["A"], RemeasureAnswer(5, True, "Thank you"))
        await at(5.25)
        await send_remeasurement(client, pop.ids["C"], RemeasureAnswer(1, False, "Still broken"))
        await at(5.5)
        await act("G", CaseWorkflow.close, close(ALEX, ClosingStatus.RESOLVED, ["staff"]))
        await at(7)
        await open_("I", "4723", "phone")
        for case_id in pop.ids.values():
            await _projected(env, engine, case_id)
        await terminate_cases(env, engine)


@pytest.fixture(scope="package")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping server for this package: the story is played once per backend and
    shared by the figure and the HTTP tests (every module terminates the cases it opened)."""
    async with time_skipping_env() as env:
        yield env


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def report_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from migrated_db(request.param, tmp_path_factory.mktemp("reports"), "caseloop_reports")


@pytest.fixture(scope="package")
async def population(
    ts_env: WorkflowEnvironment, report_db: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Population]:
    backend = "postgresql" if report_db.startswith("postgresql") else "sqlite"
    tmp: Path = tmp_path_factory.mktemp("report-uploads")
    settings = Settings(
        database_url=report_db,
        task_queue=f"caseloop-reports-{uuid.uuid4().hex[:8]}",
        upload_dir=tmp,
        public_base_url="http://testserver",
        secret_key=f"test-{uuid.uuid4().hex}",  # type: ignore[arg-type]
    )
    engine = make_engine(report_db)
    apply_config(engine, report_config())
    pop = Population(backend, report_db, engine, settings, t0=datetime.now(UTC))
    await play_story(ts_env, pop)
    yield pop
    engine.dispose()


# ---------------------------------------------------------------- the app over ASGI


def with_report_routes(app: FastAPI) -> FastAPI:
    """Mount the dashboard and the reports API unless the app already does (lead's wiring)."""
    from web.routes.api_v1.reports import router as reports_api
    from web.routes.dashboard import router as dashboard

    paths = {getattr(r, "path", "") for r in app.routes}
    if "/dashboard" not in paths:
        app.include_router(dashboard)
    if "/api/v1/reports/summary" not in paths:
        app.include_router(reports_api, prefix="/api/v1")
    return app


def report_app(pop: Population, temporal: Any) -> FastAPI:
    from api import create_app

    return with_report_routes(create_app(pop.settings, temporal=temporal, engine=pop.engine))


@asynccontextmanager
async def signed_in(app: FastAPI, user: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client over ASGI with a session cookie, as a browser would hold it."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await log_in(client, user, PASSWORD)
        yield client


# ---------------------------------------------------------------- reading the pages

LIST_TOTAL = re.compile(r'<h1 id="list-title" class="page-title">([\d,]+) cases?</h1>')


def query(pop: Population, **extra: str) -> dict[str, str]:
    f = pop.filters()
    return {"from": f.date_from.isoformat(), "to": f.date_to.isoformat(), "tz": "UTC", **extra}


class CountLinks(HTMLParser):
    """(href, number) for every link to a case list whose text or label is a count."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, int]] = []
        self._open: list[tuple[str, str | None, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            a = dict(attrs)
            self._open.append((a.get("href") or "", a.get("aria-label"), []))

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag != "a" or not self._open:
            return
        href, label, text = self._open.pop()
        if not href.startswith("/dashboard/cases?"):
            return
        if label:  # chart bars and points: "Closed: 5", "05 Mar: 3 opened"
            m = re.search(r": ([\d,]+)(?:$| )", label)
        else:
            # A count, not a share or a duration ("80%", "2.3 h").
            m = re.match(r"^([\d,]+)(?=\s|$)", " ".join(t.strip() for t in text).strip())
        if m:
            self.found.append((href, int(m.group(1).replace(",", ""))))


async def follow_count_links(client: httpx.AsyncClient, page: str) -> dict[str, tuple[int, str]]:
    """Every count link on `page` followed once: href -> (the list's total, the list's HTML).
    Each link's own number is checked against the total it leads to."""
    parser = CountLinks()
    parser.feed(page)
    lists: dict[str, tuple[int, str]] = {}
    for href, number in parser.found:
        if href not in lists:
            r = await client.get(href)
            assert r.status_code == 200, (href, r.text)
            m = LIST_TOTAL.search(r.text)
            assert m, href
            lists[href] = (int(m.group(1).replace(",", "")), r.text)
        assert lists[href][0] == number, (href, number, lists[href][0])
    return lists
