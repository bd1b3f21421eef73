"""The report story (tests/reports/conftest.py: real intake, CaseWorkflow, projection, surveys)
read from the rollups gives the exact query's figures, and the page marks estimated medians."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import delete
from temporalio.testing import WorkflowEnvironment

from models.rollup import GRIDS, ROLLUP_ZONES
from services.reports import EVERYTHING, summary
from services.rollup_backfill import backfill_rollups
from tests.reports.conftest import Population, query, report_app, signed_in
from tests.reports.test_rollups import close_enough, without_medians


@pytest.fixture
def app(population: Population, ts_env: WorkflowEnvironment) -> FastAPI:
    return report_app(population, ts_env.client)


async def test_the_story_read_from_its_rollups(population: Population, app: FastAPI) -> None:
    engine = population.engine
    backfill_rollups(engine, ["Europe/Oslo", "UTC"])
    try:
        now = datetime.now(UTC)
        long_ago = population.day - timedelta(days=60)
        for kw in ({}, {"tz": "Europe/Oslo"}, {"date_from": long_ago}, {"channel": "email"}):
            f = population.filters(**kw)
            rolled = summary(engine, f, EVERYTHING, now=now)
            with engine.begin() as conn:
                conn.execute(ROLLUP_ZONES.update().values(ready=False))
            exact = summary(engine, f, EVERYTHING, now=now)
            with engine.begin() as conn:
                conn.execute(ROLLUP_ZONES.update().values(ready=True))
            assert rolled.cases.total == 10 or kw.get("channel")
            assert without_medians(rolled) == without_medians(exact), kw
            for key in ("time_to_close", "time_to_first_action"):
                r, e = getattr(rolled, key), getattr(exact, key)
                assert r.median_approximate is (f.days > 31)
                assert close_enough(r.median_hours, e.median_hours), (kw, key)
        async with signed_in(app, "root") as client:
            short = await client.get("/dashboard", params=query(population))
            long = await client.get(
                "/dashboard", params=query(population, **{"from": long_ago.isoformat()})
            )
        assert short.status_code == long.status_code == 200
        assert "median ≈" not in short.text and "Medians marked ≈" not in short.text
        assert "median ≈" in long.text and "Medians marked ≈" in long.text
    finally:
        with engine.begin() as conn:
            for table in (*GRIDS.values(), ROLLUP_ZONES):
                conn.execute(delete(table))
