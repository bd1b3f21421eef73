"""The intake batch writer: many jobs, one transaction; a failing job fails alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.case import CaseIntake, Customer
from services.writer import BatchWriter


def test_a_failing_job_fails_alone(any_engine: Engine) -> None:
    writer = BatchWriter(any_engine)
    gate = threading.Barrier(12)

    def job(i: int) -> object:
        def write(session: Session) -> int:
            if i == 5:
                raise ValueError("job 5 is bad")
            if i in (7, 8):  # the same unique key twice: one of them must lose
                session.add(CaseIntake(channel="email", external_ref="dup"))
                session.flush()
            customer = Customer(name=f"c{i}")
            session.add(customer)
            session.flush()
            assert customer.id is not None
            return customer.id

        gate.wait()
        try:
            return writer.run(write)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(job, range(12)))
    assert isinstance(results[5], ValueError)
    lost = [r for r in (results[7], results[8]) if isinstance(r, IntegrityError)]
    assert len(lost) == 1
    ok = [r for r in results if isinstance(r, int)]
    assert len(ok) == 10 and len(set(ok)) == 10
    with Session(any_engine) as session:
        assert session.exec(select(func.count()).select_from(Customer)).one() == 10
        assert session.exec(select(func.count()).select_from(CaseIntake)).one() == 1


def test_results_and_errors_reach_their_caller(any_engine: Engine) -> None:
    writer = BatchWriter(any_engine)
    assert writer.run(lambda session: 42) == 42
    with pytest.raises(KeyError):
        writer.run(lambda session: {}["missing"])
