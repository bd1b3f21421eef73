"""The open cases of a program, page by page from the read model: what PolicyFanoutWorkflow
tells of a program's new calendar or SLA (issue 16). Ids and units only."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from models.case import Case


@dataclass
class OpenCasesPage:
    program_id: str
    # The last case id of the page before (keyset paging: stable while cases close).
    after: str | None
    limit: int = 200


@dataclass
class OpenCase:
    case_id: str
    unit_id: str


@dataclass
class OpenCases:
    cases: list[OpenCase] = field(default_factory=list)
    # Where the next page starts; None on the last page.
    next_after: str | None = None


def open_cases(engine: Engine, req: OpenCasesPage) -> OpenCases:
    query = select(Case.id, Case.unit_id).where(
        col(Case.program_id) == req.program_id, col(Case.is_open).is_(True)
    )
    if req.after is not None:
        query = query.where(col(Case.id) > req.after)
    with Session(engine) as session:
        rows = session.exec(query.order_by(col(Case.id)).limit(req.limit)).all()
    cases = [OpenCase(case_id, unit_id) for case_id, unit_id in rows]
    full = len(cases) == req.limit
    return OpenCases(cases, cases[-1].case_id if full and cases else None)


class OpenCaseActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name="open_cases_of_program")
    def open_cases(self, req: OpenCasesPage) -> OpenCases:
        return open_cases(self.engine, req)
