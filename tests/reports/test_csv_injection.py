"""CSV downloads never hand a spreadsheet a formula (OWASP CSV injection), on both backends.

Cells that start with = + - @, a tab or a carriage return get a leading apostrophe, in the case
list (PostgreSQL writes it with COPY, SQLite through Python) and in every report table.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from models.case import Case
from models.config import Program, Unit, User
from services.reports import (
    EVERYTHING,
    TABLES,
    ReportFilters,
    Segment,
    stream_case_csv,
    stream_table_csv,
    summary,
)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLANTED = {
    "unit": '=HYPERLINK("http://evil.example","x")',
    "unit_name": "+Unit name",
    "owner": "@owner",
    "owner_name": "=1+1",
    "category": "-2+3",
    "reason": "\t=cmd|' /C calc'!A0",
    "root": "\r=SUM(A1:A9)",
    "method": "@SUM(1)",
}


def _seed(engine: Engine) -> datetime:
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(engine) as session:
        session.add(Program(id="p", name="=Program", root_causes=[PLANTED["root"]]))
        session.add(Unit(id=PLANTED["unit"], name=PLANTED["unit_name"]))
        session.add(User(id=PLANTED["owner"], name=PLANTED["owner_name"]))
        for n, closed in ((1, True), (2, False)):
            session.add(
                Case(
                    id=f"C-{n:06d}",
                    program_id="p",
                    unit_id=PLANTED["unit"],
                    channel="email",
                    owner_id=PLANTED["owner"],
                    status="closed" if closed else "in_progress",
                    is_open=not closed,
                    closing_status="resolved" if closed else None,
                    category=PLANTED["category"],
                    reason=PLANTED["reason"],
                    created_at=now - timedelta(hours=3),
                    first_action_at=now - timedelta(hours=2),
                    closed_at=now - timedelta(hours=1) if closed else None,
                    root_causes=[PLANTED["root"]] if closed else [],
                    resolution_methods=[PLANTED["method"]] if closed else [],
                )
            )
        session.commit()
    return now


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _assert_inert(cells: list[str], where: str) -> None:
    for cell in cells:
        if cell.startswith(FORMULA_START):
            # Only a plain number may start with a minus sign.
            assert cell.startswith("-") and cell[1:].replace(".", "", 1).isdigit(), (where, cell)


def test_every_csv_export_neutralises_formula_cells(any_engine: Engine) -> None:
    now = _seed(any_engine)
    day = now.date()
    f = ReportFilters(date_from=day - timedelta(days=1), date_to=day + timedelta(days=1))
    cases_csv = b"".join(stream_case_csv(any_engine, f, EVERYTHING, Segment())).decode()
    cells = _cells(cases_csv)
    _assert_inert(cells, "cases.csv")
    for key in ("unit", "owner", "category", "reason", "root", "method"):
        assert "'" + PLANTED[key] in cells, (key, cells)
    report = summary(any_engine, f, EVERYTHING)
    seen: list[str] = []
    for name in TABLES:
        table_cells = _cells("".join(stream_table_csv(report, name)))
        _assert_inert(table_cells, f"{name}.csv")
        seen += table_cells
    for key in ("unit", "unit_name", "owner", "owner_name", "root"):
        assert "'" + PLANTED[key] in seen, key
