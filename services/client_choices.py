"""What the API clients page offers to choose from: programs, units, and the active users a
personal token may belong to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from models.config import Program, Unit, User


@dataclass(frozen=True)
class Choices:
    programs: list[tuple[str, str]]  # (id, name)
    units: list[tuple[str, str]]
    users: list[tuple[str, str]]


def choices(engine: Engine) -> Choices:
    with Session(engine) as session:
        programs = session.exec(select(Program.id, Program.name).order_by(col(Program.id))).all()
        units = session.exec(select(Unit.id, Unit.name).order_by(col(Unit.id))).all()
        users = session.exec(
            select(User.id, User.name).where(col(User.active)).order_by(col(User.id))
        ).all()
    return Choices(
        [(i, n) for i, n in programs], [(i, n) for i, n in units], [(i, n) for i, n in users]
    )
