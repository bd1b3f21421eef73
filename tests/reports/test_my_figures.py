"""An owner's own figures ("My figures"): the dashboard, its case lists and its CSVs, scoped on
the server to the cases the agent owns now, on SQLite and PostgreSQL (see conftest's story).

In the story Ole owns every case of unit 4723 (A, B, C, E, F, H, I, J); Alex held D and G, but D
was escalated to Mia, so Alex's figures count G only: figures follow the *current* owner.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from domain.permissions import Viewer
from domain.vocabulary import Role
from services.reports import (
    EVERYTHING,
    ReportForbidden,
    Scope,
    Segment,
    count_cases,
    list_cases,
    scope_for,
    stream_case_csv,
    summary,
)
from tests.reports.conftest import (
    Population,
    follow_count_links,
    query,
    report_app,
    signed_in,
)

OLE_CASES = "ABCEFHIJ"


def owns(user: str) -> Scope:
    return Scope(owner=user)


@pytest.fixture
def app(population: Population, ts_env: WorkflowEnvironment) -> FastAPI:
    return report_app(population, ts_env.client)


def ids(pop: Population, keys: str) -> set[str]:
    return {pop.ids[k] for k in keys}


def kpis(html: str) -> dict[str, str]:
    """The key figures by label: {"SLA met": "100%", ...}."""
    found = re.findall(
        r'<span class="kpi-value">([^<]*)</span><span class="kpi-label">([^<]*)</span>', html
    )
    return {label: value for value, label in found}


def listed(html: str) -> set[str]:
    return set(re.findall(r'<tr data-case="([^"]+)">', html))


# ---------------------------------------------------------------- the figures (service)


async def test_an_agents_scope_is_the_cases_they_own_now(population: Population) -> None:
    assert scope_for(Viewer("ole", "Ole", Role.AGENT)) == owns("ole")
    f = population.filters()
    s = summary(population.engine, f, owns("ole"))
    assert {c.id for c in population.cases() if c.owner_id == "ole"} == ids(population, OLE_CASES)
    assert (s.cases.total, s.cases.open, s.cases.closed) == (8, 4, 4)
    # SLA met: closed without missing the open or the resolve deadline (C missed one, but is open).
    assert s.sla.model_dump() == {"closed": 4, "met": 4, "missed": 0, "met_pct": 100.0}
    assert s.remeasure.model_dump() == {
        "surveyed": 3,
        "answered": 2,
        "expired": 1,
        "pending": 0,
        "response_rate": 66.7,
        "avg_satisfaction": 3.0,
        "recovered": 1,
        "failed": 1,
        "recovery_rate": 50.0,
    }
    assert [r.key for r in s.sla_by_owner] == [r.key for r in s.remeasure_by_owner] == ["ole"]
    assert s.fyi.total == 0  # FYIs are nobody's cases
    listed_ids = {r.id for r in list_cases(population.engine, f, owns("ole"), Segment(), limit=100)}
    assert listed_ids == ids(population, OLE_CASES)

    # The current owner: D went from Alex to Mia on escalation, so it is Mia's figure now.
    alex = summary(population.engine, f, scope_for(Viewer("alex", "Alex", Role.AGENT)))
    assert (alex.cases.total, alex.sla.met_pct, alex.remeasure.pending) == (1, 0.0, 1)
    mia_own = summary(population.engine, f, owns("mia"))
    assert mia_own.cases.total == 1


async def test_an_agent_cannot_widen_their_scope(population: Population) -> None:
    engine, f = population.engine, population.filters
    # Another owner's figures are refused, not shown and not silently emptied.
    for call in (
        lambda: summary(engine, f(owner_id="alex"), owns("ole")),
        lambda: list_cases(engine, f(owner_id="alex"), owns("ole"), Segment()),
        lambda: count_cases(engine, f(owner_id="alex"), owns("ole"), Segment()),
        lambda: b"".join(stream_case_csv(engine, f(owner_id="alex"), owns("ole"), Segment())),
    ):
        with pytest.raises(ReportForbidden):
            call()
    assert summary(engine, f(owner_id="ole"), owns("ole")).cases.total == 8
    # Unit, program and channel only narrow the agent's own cases.
    assert summary(engine, f(unit_id="9000"), owns("ole")).cases.total == 0
    assert summary(engine, f(unit_id="4723"), owns("ole")).cases.total == 8
    care = list_cases(engine, f(program_id="care"), owns("ole"), Segment())
    assert [r.id for r in care] == [population.ids["J"]]


# ---------------------------------------------------------------- open cases by age


def by_age(pop: Population, scope: Scope, now: Any, **kw: Any) -> dict[str, int]:
    s = summary(pop.engine, pop.filters(**kw), scope, now=now)
    return {r.key: r.open for r in s.open_by_age}


async def test_open_cases_by_age_in_days_since_opened(population: Population) -> None:
    t0, engine, f = population.t0, population.engine, population.filters()
    # C and E were opened at T0, H at T0 + 2 h, I at T0 + 7 h; the other open case, D, is Mia's.
    day_later = t0 + timedelta(days=1, hours=3)
    assert by_age(population, owns("ole"), day_later) == {
        "under-1": 1,
        "1-3": 3,
        "3-5": 0,
        "over-5": 0,
    }
    assert by_age(population, EVERYTHING, day_later) == {
        "under-1": 1,
        "1-3": 4,
        "3-5": 0,
        "over-5": 0,
    }
    later = t0 + timedelta(days=5, hours=1)
    assert by_age(population, owns("ole"), later) == {"under-1": 0, "1-3": 0, "3-5": 2, "over-5": 2}
    # Each bar lists exactly the cases it counts.
    for key, keys in (("3-5", "HI"), ("over-5", "CE"), ("under-1", "")):
        seg = Segment(age=key)
        assert {r.id for r in list_cases(engine, f, owns("ole"), seg, now=later)} == ids(
            population, keys
        )
        assert count_cases(engine, f, owns("ole"), seg, now=later) == len(keys)
    # A whole day old is no longer "under 1 day".
    i_created = population.case("I").created_at
    assert by_age(population, owns("ole"), i_created + timedelta(days=1))["under-1"] == 0
    assert by_age(
        population, owns("ole"), i_created + timedelta(days=1) - timedelta(seconds=1)
    ) == {
        "under-1": 1,
        "1-3": 3,
        "3-5": 0,
        "over-5": 0,
    }
    # Open now, whatever the report's dates: a backlog does not leave the chart by growing old.
    year_before = {
        "date_from": t0.date() - timedelta(days=400),
        "date_to": t0.date() - timedelta(days=370),
    }
    s = summary(engine, population.filters(**year_before), owns("ole"), now=later)
    assert s.cases.total == 0 and sum(r.open for r in s.open_by_age) == 4
    assert [r.label for r in s.open_by_age] == [
        "Under 1 day",
        "1 to 3 days",
        "3 to 5 days",
        "5 days or more",
    ]


# ---------------------------------------------------------------- over HTTP


async def test_an_agent_opens_my_figures(population: Population, app: FastAPI) -> None:
    async with signed_in(app, "ole") as client:
        inbox = await client.get("/inbox")
        assert re.search(r'<a href="/dashboard"\s*>My figures</a>', inbox.text)
        r = await client.get("/dashboard", params=query(population))
    assert r.status_code == 200, r.text
    html = r.text
    assert '<h1 class="page-title">My figures</h1>' in html
    assert "8 cases created" in html and "cases you own now" in html
    got = kpis(html)
    assert (got["SLA met"], got["Survey response"], got["Recovered"]) == ("100%", "66.7%", "50%")
    assert "satisfaction 3.00/5" in html
    # Open cases by age: a bar chart, and the same figures as a table.
    assert 'id="chart-age"' in html and "Open cases by age" in html
    assert "<title>Under 1 day: 4</title>" in html  # the story is younger than a day
    # Nobody else's figures: no owner filter, no other owner or unit, no FYIs.
    assert 'name="owner"' not in html
    for other in ("Alex Agent", "Mia Manager", "Bergen Quay", "FYI alerts"):
        assert other not in html, other


async def test_every_number_on_my_figures_lists_my_cases_only(
    population: Population, app: FastAPI
) -> None:
    mine = ids(population, OLE_CASES)
    async with signed_in(app, "ole") as client:
        page = await client.get("/dashboard", params=query(population))
        checked = await follow_count_links(client, page.text)
        for href, (_, html) in checked.items():
            assert listed(html) <= mine, href
        assert any("age=under-1" in h for h in checked)
        assert len(checked) >= 20
        r = await client.get("/dashboard/cases", params=query(population, age="under-1"))
        assert listed(r.text) == ids(population, "CEHI")
        assert "open now for under 1 day" in r.text and "Opened at any date" in r.text

        r = await client.get("/dashboard/cases.csv", params=query(population))
        assert r.status_code == 200
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert {row["case_id"] for row in rows} == mine
        assert {row["owner"] for row in rows} == {"ole"}
        r = await client.get("/dashboard/tables/open_age.csv", params=query(population))
        assert list(csv.reader(io.StringIO(r.text)))[1:] == [
            ["under-1", "Under 1 day", "0", "1", "4"],
            ["1-3", "1 to 3 days", "1", "3", "0"],
            ["3-5", "3 to 5 days", "3", "5", "0"],
            ["over-5", "5 days or more", "5", "", "0"],
        ]
        for table in ("sla_owner", "remeasure_owner"):
            r = await client.get(f"/dashboard/tables/{table}.csv", params=query(population))
            assert [row[0] for row in csv.reader(io.StringIO(r.text))][1:] == ["ole"], table


async def test_query_parameters_never_widen_my_figures(
    population: Population, app: FastAPI
) -> None:
    async with signed_in(app, "ole") as client:
        for path in (
            "/dashboard",
            "/dashboard/cases",
            "/dashboard/cases.csv",
            "/dashboard/tables/sla_owner.csv",
        ):
            r = await client.get(path, params=query(population, owner="alex"))
            assert r.status_code == 403, path
            assert population.ids["G"] not in r.text
        # A unit narrows the agent's own cases: Bergen Quay's are not theirs, so none.
        r = await client.get("/dashboard", params=query(population, unit="9000"))
        assert r.status_code == 200 and "0 cases created" in r.text
        r = await client.get("/dashboard/cases", params=query(population, unit="9000"))
        assert r.status_code == 200 and listed(r.text) == set()
        r = await client.get("/dashboard/cases.csv", params=query(population, unit="9000"))
        assert r.status_code == 200 and len(list(csv.reader(io.StringIO(r.text)))) == 1
        r = await client.get("/dashboard", params=query(population, owner="ole"))
        assert r.status_code == 200 and "8 cases created" in r.text

    async with signed_in(app, "alex") as client:
        r = await client.get("/dashboard", params=query(population))
        assert r.status_code == 200 and "1 case created" in r.text
        r = await client.get("/dashboard/cases", params=query(population))
        assert listed(r.text) == ids(population, "G")


async def test_managers_and_admins_keep_their_dashboard(
    population: Population, app: FastAPI
) -> None:
    async with signed_in(app, "mia") as client:
        r = await client.get("/dashboard", params=query(population))
        assert r.status_code == 200 and "8 cases created" in r.text
        assert '<h1 class="page-title">Customer resolution dashboard</h1>' in r.text
        assert re.search(r'<a href="/dashboard" aria-current="page">Dashboard</a>', r.text)
        assert 'name="owner"' in r.text and "your units: 4723" in r.text
    async with signed_in(app, "root") as client:
        r = await client.get("/dashboard", params=query(population))
        assert r.status_code == 200 and "10 cases created" in r.text
        assert 'id="chart-age"' in r.text and "Remeasurement by owner" in r.text
