"""One filter model for the page, the case lists, the CSV downloads and the API.

The same bad parameter is refused everywhere with the same message, naming the query parameter:
a 422 problem+json from the API and the CSV downloads, a message next to the field on the
dashboard (and in the form that comes out of band with an HTMX answer), an error page for a case
list. Links are the model written back as a query string, which reads back into the same model.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from services.reports import ReportFilters, ReportInvalid, Segment
from services.tokens import create_client
from tests.reports.conftest import Population, report_app, signed_in

GOOD = {"from": "2026-03-01", "to": "2026-03-31", "tz": "UTC"}
# (parameters over GOOD, the parameter at fault, its message)
BAD = [
    ({"to": "2026-02-28"}, "to", "The end date is before the start date"),
    ({"from": "2010-01-01"}, "from", "The range is limited to 1830 days"),
    ({"from": "1 March"}, "from", "Expected a date such as 2026-03-01"),
    ({"to": "1999-12-31", "from": "1999-12-01"}, "from", "Choose a date between"),
    ({"tz": "Mars/Olympus"}, "tz", "Unknown time zone 'Mars/Olympus'"),
    ({"tz": "../../etc/passwd"}, "tz", "Unknown time zone '../../etc/passwd'"),
    ({"channel": "carrier pigeon"}, "channel", "Input should be 'contact_center'"),
    ({"bucket": "month"}, "bucket", "Input should be 'auto', 'day' or 'week'"),
    ({"unit": "u" * 65}, "unit", "at most 64 characters"),
    ({"program": "p" * 65}, "program", "at most 64 characters"),
    ({"owner": "o" * 65}, "owner", "at most 64 characters"),
    ({"cause": [f"cause {n}" for n in range(21)]}, "cause", "At most 20 root causes, not 21"),
    ({"cause": ["staff"] * 21}, "cause", "At most 20 root causes, not 21"),
    ({"cause": "c" * 201}, "cause", "at most 200 characters"),
]
IDS = [f"{field}-{n}" for n, (_, field, _) in enumerate(BAD)]


def pairs(params: dict[str, str | list[str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, vs in params.items() for v in ([vs] if isinstance(vs, str) else vs)]


# ---------------------------------------------------------------- the model


@pytest.mark.parametrize(("extra", "field", "message"), BAD, ids=IDS)
def test_a_bad_value_names_its_query_parameter(
    extra: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(ReportInvalid) as caught:
        ReportFilters.from_query(pairs(GOOD | extra))
    assert caught.value.field == field
    assert message in caught.value.errors[field]


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(ReportInvalid) as caught:
        ReportFilters.from_query(pairs({"from": "x", "tz": "Nowhere/City", "channel": "fax"}))
    assert set(caught.value.errors) == {"from", "tz", "channel"}


@pytest.mark.parametrize(
    "f",
    [
        ReportFilters(date(2026, 3, 1), date(2026, 3, 31)),
        ReportFilters(
            date(2026, 1, 1),
            date(2026, 6, 30),
            tz="Europe/Oslo",
            program_id="recovery",
            unit_id="4723",
            channel="email",
            owner_id="ole",
            root_causes=("staff", 'Café "Le Coin"', "50% off_list"),
            bucket="week",
        ),
    ],
    ids=["plain", "everything"],
)
def test_links_read_back_into_the_same_filters(f: ReportFilters) -> None:
    assert ReportFilters.from_query(f.query()) == f
    assert ("tz", f.tz) in f.query()  # a link never falls back to the page's automatic zone


def test_segments_read_back_and_refuse_what_no_figure_counts() -> None:
    seg = Segment(status="open", remeasure="surveyed", overdue=True, acted=False)
    assert seg.query() == [
        ("status", "open"),
        ("remeasure", "surveyed"),
        ("overdue", "1"),
        ("acted", "0"),
    ]
    assert Segment.from_query(seg.query()) == seg
    for bad in ({"status": "lost"}, {"remeasure": "not_applicable"}, {"overdue": "maybe"}):
        with pytest.raises(ReportInvalid) as caught:
            Segment.from_query(pairs(bad))
        assert caught.value.field == next(iter(bad))


def test_missing_dates_default_to_the_last_30_local_days() -> None:
    tz = "Pacific/Kiritimati"  # UTC+14: its today is often not UTC's
    before = datetime.now(ZoneInfo(tz)).date()
    f = ReportFilters.from_query([("tz", tz), ("from", " "), ("program", "")])
    after = datetime.now(ZoneInfo(tz)).date()  # the same day, unless midnight passed
    assert f.date_to in (before, after) and f.program_id is None
    assert f.date_from == f.date_to - timedelta(days=29)
    # A missing end is today, or the start if that is later; a missing start, 30 days earlier.
    later = after + timedelta(days=10)
    assert ReportFilters.from_query([("tz", tz), ("from", later.isoformat())]).date_to == later
    f = ReportFilters.from_query([("to", "2026-03-31")])
    assert (f.date_from, f.date_to) == (date(2026, 3, 2), date(2026, 3, 31))


# ---------------------------------------------------------------- over HTTP


@pytest.fixture
def app(population: Population, ts_env: WorkflowEnvironment) -> FastAPI:
    return report_app(population, ts_env.client)


FIELD_ERROR = re.compile(r'<p class="field-error" id="f-([a-z]+)-error">([^<]*)</p>')


def page_errors(html: str) -> dict[str, str]:
    return {name: unescape(text) for name, text in FIELD_ERROR.findall(html)}


@pytest.mark.parametrize(("extra", "field", "message"), BAD, ids=IDS)
async def test_the_same_bad_value_is_refused_alike_everywhere(
    population: Population, app: FastAPI, extra: dict[str, str], field: str, message: str
) -> None:
    params = httpx.QueryParams(pairs(GOOD | extra))
    token = create_client(population.engine, "bi-errors", ["reports:read"]).token
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as api:
        r = await api.get(
            "/api/v1/reports/summary", params=params, headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["field"] == field and message in problem["detail"]
    said = {e["field"]: e["message"] for e in problem["errors"]}
    async with signed_in(app, "root") as client:
        for path in ("/dashboard/cases.csv", "/dashboard/tables/overview.csv"):
            r = await client.get(path, params=params)
            assert r.status_code == 422, (path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json() == problem
        # The page: the form again, with the message next to the field, and no figures.
        r = await client.get("/dashboard", params=params)
        assert r.status_code == 422
        assert page_errors(r.text) == said
        assert 'id="report-filters"' in r.text and 'aria-invalid="true"' in r.text
        assert "cases created" not in r.text
        # A filter change over HTMX: the report's place says why, the form comes out of band.
        r = await client.get("/dashboard", params=params, headers={"HX-Request": "true"})
        assert r.status_code == 422
        assert r.text.lstrip().startswith('<section id="report"')
        assert 'id="report-filters"' in r.text and 'hx-swap-oob="true"' in r.text
        assert page_errors(r.text) == said
        # A case list: an error page naming the parameter.
        r = await client.get("/dashboard/cases", params=params)
        assert r.status_code == 422
        assert f"{field}: {said[field]}" in unescape(r.text)


async def test_the_page_keeps_what_was_typed_next_to_the_message(
    population: Population, app: FastAPI
) -> None:
    params = GOOD | {"to": "2026-02-28", "tz": "Europe/Oslo", "unit": "4723", "cause": "staff"}
    async with signed_in(app, "root") as client:
        r = await client.get("/dashboard", params=params)
    assert r.status_code == 422
    html = r.text
    assert 'name="to" type="date" value="2026-02-28"' in html
    assert 'name="tz" type="text" value="Europe/Oslo"' in html
    assert '<option value="4723" selected>' in html
    assert '<option value="staff" selected>' in html
    assert '<a href="#f-to">To</a>: The end date is before the start date' in html


async def test_segments_are_refused_on_the_lists_and_downloads_that_use_them(
    population: Population, app: FastAPI
) -> None:
    params = GOOD | {"status": "lost"}
    async with signed_in(app, "root") as client:
        r = await client.get("/dashboard/cases.csv", params=params)
        assert (r.status_code, r.json()["field"]) == (422, "status")
        r = await client.get("/dashboard/cases", params=params)
        assert r.status_code == 422 and "status: Input should be" in unescape(r.text)
        # The dashboard itself counts no segment: the parameter means nothing there.
        assert (await client.get("/dashboard", params=params)).status_code == 200
