"""The dashboard page, its drill-down lists, CSV exports and the JSON API, over HTTP (ASGI)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from services.reports import EVERYTHING, summary
from services.tokens import create_client
from tests.reports.conftest import (
    Population,
    follow_count_links,
    query,
    report_app,
    signed_in,
)


@pytest.fixture
def app(population: Population, ts_env: WorkflowEnvironment) -> FastAPI:
    """The app with the dashboard over the story's read model."""
    return report_app(population, ts_env.client)


async def test_dashboard_page_shows_the_figures_with_charts(
    population: Population, app: FastAPI
) -> None:
    async with signed_in(app, "root") as client:
        r = await client.get("/dashboard", params=query(population))
    assert r.status_code == 200, r.text
    assert "HX-Request" in r.headers["vary"]
    html = r.text
    assert "<!doctype html>" in html and 'id="report-filters"' in html
    assert "10 cases created" in html
    # Charts are SVG with a title per bar and text values (readable without colour).
    assert html.count('class="bar"') >= 4 + 6 + 3
    assert "<title>Closed: 5</title>" in html
    assert "<title>staff: 4 closed cases, 3 resolved, 1 unresolved</title>" in html
    assert 'stroke-dasharray="6 4"' in html  # the "Closed" trend series is dashed
    for heading in (
        "Closing status by root cause",
        "Remeasurement by root cause",
        "Remeasurement by owner",
        "SLA met by unit",
        "FYI alerts by unit",
    ):
        assert heading in html
    assert "80%" in html  # resolved share / SLA met
    # Business hours beside the wall-clock ones, average and median, for both durations.
    s = summary(population.engine, population.filters(), EVERYTHING)
    for d in (s.time_to_close, s.time_to_first_action):
        assert d.avg_business_hours is not None and d.median_business_hours is not None
        shown = f"business {d.avg_business_hours:,.1f} h (median {d.median_business_hours:,.1f} h)"
        assert shown in html


async def test_an_htmx_filter_change_returns_only_the_report(
    population: Population, app: FastAPI
) -> None:
    async with signed_in(app, "root") as client:
        r = await client.get(
            "/dashboard", params=query(population, unit="9000"), headers={"HX-Request": "true"}
        )
    assert r.status_code == 200
    assert "HX-Request" in r.headers["vary"]
    assert r.text.lstrip().startswith('<section id="report"')
    assert "<html" not in r.text and "report-filters" not in r.text
    assert "2 cases created" in r.text


async def test_every_number_links_to_a_list_of_exactly_that_many_cases(
    population: Population, app: FastAPI
) -> None:
    async with signed_in(app, "root") as client:
        page = await client.get("/dashboard", params=query(population))
        checked = await follow_count_links(client, page.text)
    assert len(checked) >= 40  # KPIs, bars, trend points and table cells
    # A segment the story knows by heart: the failed recovery is the reopened case C.
    failed = [h for h in checked if parse_qs(urlsplit(h).query).get("recovery") == ["failed"]]
    assert failed
    async with signed_in(app, "root") as client:
        listed = await client.get(failed[0])
    assert f'href="/cases/{population.ids["C"]}"' in listed.text
    assert "recovery failed" in listed.text


async def test_case_list_pages_with_a_keyset_cursor(
    population: Population, app: FastAPI, monkeypatch: Any
) -> None:
    import web.routes.dashboard as dashboard

    monkeypatch.setattr(dashboard, "PAGE_SIZE", 4)
    seen: list[str] = []
    async with signed_in(app, "root") as client:
        url: str | None = "/dashboard/cases?" + httpx.QueryParams(query(population)).__str__()
        while url:
            r = await client.get(url)
            assert r.status_code == 200
            seen += re.findall(r'<tr data-case="([^"]+)">', r.text)
            m = re.search(r'href="(/dashboard/cases\?[^"]*after=[^"]+)"[^>]*rel="next"', r.text)
            url = m.group(1).replace("&amp;", "&") if m else None
    assert len(seen) == len(set(seen)) == 10


async def test_managers_see_only_their_units(population: Population, app: FastAPI) -> None:
    async with signed_in(app, "mia") as client:
        r = await client.get("/dashboard", params=query(population))
        assert r.status_code == 200 and "8 cases created" in r.text
        assert "Bergen Quay" not in r.text  # unit 9000: not in the filter, not in the tables
        for path in ("/dashboard", "/dashboard/cases", "/dashboard/cases.csv"):
            r = await client.get(path, params=query(population, unit="9000"))
            assert r.status_code == 403, path
        r = await client.get("/dashboard/cases.csv", params=query(population))
        rows = list(csv.reader(io.StringIO(r.text)))
        assert len(rows) == 1 + 8 and {row[3] for row in rows[1:]} == {"4723"}
    async with signed_in(app, "dora") as client:
        r = await client.get("/dashboard", params=query(population))
        assert "2 cases created" in r.text
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as anonymous:
        r = await anonymous.get("/dashboard")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_csv_exports_stream_the_case_list_and_each_table(
    population: Population, app: FastAPI
) -> None:
    async with signed_in(app, "root") as client:
        async with client.stream(
            "GET", "/dashboard/cases.csv", params=query(population, closing="resolved")
        ) as r:
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/csv; charset=utf-8"
            assert r.headers["content-disposition"].startswith('attachment; filename="cases-')
            assert "content-length" not in r.headers  # streamed, not built in memory
            body = "".join([chunk async for chunk in r.aiter_text()])
        rows = list(csv.DictReader(io.StringIO(body)))
        assert len(rows) == 4 and {r["closing_status"] for r in rows} == {"resolved"}
        a = next(r for r in rows if r["case_id"] == population.ids["A"])
        assert (a["root_causes"], a["remeasure_score"], a["sla_met"]) == ("staff", "5", "yes")
        assert float(a["hours_to_close"]) == round(
            (population.case("A").closed_at - population.case("A").created_at).total_seconds()  # type: ignore[operator]
            / 3600,
            2,
        )
        tables = {}
        for name in (
            "overview",
            "status",
            "channel",
            "root_causes",
            "remeasure_owner",
            "sla_unit",
            "trend",
            "fyi",
            "remeasure_root_cause",
            "remeasure_unit",
            "sla_owner",
        ):
            r = await client.get(f"/dashboard/tables/{name}.csv", params=query(population))
            assert r.status_code == 200, name
            tables[name] = list(csv.reader(io.StringIO(r.text)))
        assert tables["root_causes"] == [
            ["root_cause", "closed", "pct_of_closed", "resolved", "unresolved", "resolved_pct"],
            ["staff", "4", "80.0", "3", "1", "75.0"],
            ["billing", "1", "20.0", "0", "1", "0.0"],
            ["wait time", "1", "20.0", "1", "0", "100.0"],
        ]
        assert tables["sla_unit"][1:] == [
            ["4723", "Oslo Harbour", "4", "4", "0", "100.0"],
            ["9000", "Bergen Quay", "1", "0", "1", "0.0"],
        ]
        assert ["cases", "10", ""] in tables["overview"]
        assert (await client.get("/dashboard/tables/nope.csv")).status_code == 404


def test_csv_cells_never_become_formulas() -> None:
    from services.reports import csv_cell

    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell(-3) == -3 and csv_cell(["a", "b"]) == "a; b" and csv_cell(None) == ""


async def test_reports_api_returns_the_same_figures_as_json(
    population: Population, app: FastAPI
) -> None:
    reports = create_client(population.engine, "bi", ["reports:read"]).token
    cases_only = create_client(population.engine, "crm", ["cases:read"]).token
    params = query(population)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as api:
        r = await api.get(
            "/api/v1/reports/summary", params=params, headers={"Authorization": f"Bearer {reports}"}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        expected = summary(population.engine, population.filters(), EVERYTHING).model_dump(
            mode="json", by_alias=True
        )
        body.pop("generated_at"), expected.pop("generated_at")
        assert body == expected
        assert body["filters"]["from"] == params["from"] and body["cases"]["total"] == 10
        assert body["remeasure"]["recovery_rate"] == 50.0

        r = await api.get("/api/v1/reports/summary", params=params)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        r = await api.get(
            "/api/v1/reports/summary", headers={"Authorization": f"Bearer {cases_only}"}
        )
        assert r.status_code == 403 and r.json()["required_scope"] == "reports:read"
        auth = {"Authorization": f"Bearer {reports}"}
        r = await api.get("/api/v1/reports/summary", params={"tz": "Nowhere/City"}, headers=auth)
        assert r.status_code == 422 and r.json()["field"] == "tz"
        bad = {"from": "2026-03-02", "to": "2026-03-01"}
        r = await api.get("/api/v1/reports/summary", params=bad, headers=auth)
        assert r.status_code == 422 and r.json()["field"] == "to"
        r = await api.get(
            "/api/v1/reports/summary",
            params={**params, "unit": "9000", "cause": "staff", "bucket": "week"},
            headers=auth,
        )
        assert r.status_code == 200
        assert (r.json()["cases"]["total"], r.json()["trend"]["bucket"]) == (1, "week")
