"""Activity errors sorted into "try again" and "repeating cannot help", and the flag for the latter.

A deterministic failure — data a database refuses (NUL in PostgreSQL text, a lone surrogate
that will not encode), a constraint that is not a race, bad data raising ValueError — fails the
same way on every attempt: retried forever it grows the case's history and holds its updates.
It is raised as a non-retryable `ApplicationError` whose type is the error's class; the
workflow then flags the case (`record_failure`) and goes on. Connection and operational errors
stay retryable, so an outage is ridden out. Either way the message carries only the error's
class, never the statement's parameters (personal data must not reach logs or histories).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.case import CaseFailure, Notice
from models.changes import record_notices
from models.config import User
from models.types import utcnow


@dataclass
class StepFailure:
    """A step that failed for good, for the flag and the admins' notice: ids and the error's
    type only (never the text that poisoned the step)."""

    case_id: str
    step: str  # projection | notification
    version: int
    error_type: str


P = ParamSpec("P")
T = TypeVar("T")

# Repeating these cannot succeed: the same data fails the same way.
DETERMINISTIC: tuple[type[BaseException], ...] = (
    sa_exc.DataError,  # e.g. PostgreSQL: text fields cannot contain NUL (0x00) bytes
    sa_exc.IntegrityError,  # our writes upsert or skip conflicts: a violation is not a race
    UnicodeError,  # a lone surrogate cannot be encoded for either database
    ValueError,
    TypeError,
    LookupError,
)


def is_deterministic(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.StatementError) and not isinstance(exc, sa_exc.DBAPIError):
        # SQLAlchemy wraps errors raised while binding parameters (encoding, type processing).
        return isinstance(exc.orig, DETERMINISTIC)
    if isinstance(exc, sa_exc.DBAPIError):
        return isinstance(exc, sa_exc.DataError | sa_exc.IntegrityError)
    return isinstance(exc, DETERMINISTIC)


def classified(exc: BaseException, step: str) -> ApplicationError:
    """The error as Temporal should see it: its class as the type, retryable or not."""
    kind = type(exc).__name__
    cause = getattr(exc, "orig", None)
    detail = f" ({type(cause).__module__}.{type(cause).__name__})" if cause is not None else ""
    final = is_deterministic(exc)
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) and cause is not None:
        # The server's own words ("connection refused", "database is locked") help an
        # operator and hold no row data; other errors' texts may quote a value.
        detail += f": {str(cause).strip().splitlines()[0][:200]}" if str(cause).strip() else ""
    verdict = "repeating cannot help" if final else "will be retried"
    return ApplicationError(
        f"{step} failed: {kind}{detail}; {verdict}", type=kind, non_retryable=final
    )


def classify_errors(step: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate an activity: every error leaves it classified, without its parameters."""

    def wrap(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return fn(*args, **kwargs)
            except ApplicationError:
                raise
            except Exception as exc:
                # `from None`: the chained SQL error would print its parameters in the log.
                raise classified(exc, step) from None

        return run

    return wrap


def _insert(engine: Engine, table: Any) -> Any:
    return (postgresql if engine.dialect.name == "postgresql" else sqlite).insert(table)


def record_failure(engine: Engine, f: StepFailure) -> None:
    """Flag the case and tell every active admin once per (case, step, version)."""
    table = CaseFailure.__table__  # type: ignore[attr-defined]
    row = {
        "case_id": f.case_id,
        "step": f.step,
        "version": f.version,
        "error_type": f.error_type[:100],
        "failures": 1,
        "failed_at": utcnow(),
    }
    flag = _insert(engine, table).values(**row)
    flag = flag.on_conflict_do_update(
        index_elements=["case_id", "step"],
        set_={
            "version": flag.excluded.version,
            "error_type": flag.excluded.error_type,
            "failed_at": flag.excluded.failed_at,
            "failures": table.c.failures + 1,
        },
    )
    with engine.begin() as conn:
        conn.execute(flag)
        users = User.__table__  # type: ignore[attr-defined]
        admins = conn.execute(
            select(users.c.id).where(users.c.role == "admin", users.c.active.is_(True))
        ).scalars()
        notices = [
            {
                "user_id": uid,
                "case_id": f.case_id,
                "event_key": f"failed:{f.step}:{f.version}",
                "kind": "failure",
                "subject": f"{f.case_id}: {f.step} failed ({f.error_type}); see the outbox page",
            }
            for uid in admins
        ]
        if notices:
            conn.execute(
                _insert(engine, Notice.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
                    index_elements=["user_id", "case_id", "event_key"]
                ),
                notices,
            )
            record_notices(conn, f.case_id, [row["user_id"] for row in notices])


class FailureActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name="record_failure")
    def record_failure(self, f: StepFailure) -> None:
        record_failure(self.engine, f)
