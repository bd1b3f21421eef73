"""Look-ups in the reference data that the workflow needs (it cannot touch the DB itself)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity

from models.config import User


@dataclass
class DesigneeRequest:
    owner_id: str
    program_designee_id: str | None


def find_designee(engine: Engine, req: DesigneeRequest) -> str | None:
    """The late owner's manager, else the program's designee; None when nobody is above."""
    with Session(engine) as session:
        owner = session.get(User, req.owner_id)
        if owner and owner.manager_id:
            manager = session.get(User, owner.manager_id)
            if manager and manager.active:
                return manager.id
        if req.program_designee_id and req.program_designee_id != req.owner_id:
            designee = session.get(User, req.program_designee_id)
            if designee and designee.active:
                return designee.id
    return None


class DirectoryActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name="find_designee")
    def find_designee(self, req: DesigneeRequest) -> str | None:
        return find_designee(self.engine, req)
