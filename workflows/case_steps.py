"""How CaseWorkflow's steps run and fail: their timeouts and retry policies, and the error
types of the refusals its update validators answer (the API maps them to HTTP statuses).

Imported by the workflow passed through the sandbox (shared, not re-executed for every case).
"""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn

from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from domain.case_checks import Problem

# Validator rejections carry one of these types; the API maps them to HTTP statuses.
FORBIDDEN = "Forbidden"
INVALID = "Invalid"
CONFLICT = "Conflict"
# The run is past the point where it can reopen: a reopen starts a new run (case_reopen).
FINISHED = "Finished"

SHORT = timedelta(seconds=30)
# Calendar math, the designee look-up, the projection and the outbox insert are short,
# idempotent steps: local activities (recorded in history as markers) spare each of them two
# server round-trips, which is what keeps an escalation storm fast. Talking to the outside
# world (SMTP delivery, the customer survey) stays in regular activities with their own retries.
# The survey activity's policy, and the local activities' before PATCH_PROMPT_RECOVERY.
QUICK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
# While the database is down the case's steps keep failing and are retried: at most 5 s apart
# (PATCH_PROMPT_RECOVERY, workflows/case_patches.py), local activities only: a failing attempt
# costs the worker a refused connection, nothing on the Temporal server.
LOCAL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5)
)
# SMTP delivery: a regular activity, started without blocking the case (the escalation storm
# never waits on a mail server) and retried with backoff for as long as the server is down;
# the workflow waits for outstanding deliveries only before it completes.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)
DELIVERY_ATTEMPT = timedelta(seconds=90)
DELIVERY_GIVE_UP = timedelta(days=3)


def failed_for_good(err: ActivityError | ApplicationError) -> str:
    """The error type of an activity that failed non-retryably; anything else re-raised.
    (A local activity's failure arrives as its ApplicationError, a regular one's wrapped.)"""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError) and cause.non_retryable:
        return cause.type or "ApplicationError"
    raise err


def refuse(problem: Problem | None) -> None:
    """An update refused (by its validator): INVALID, or CONFLICT when the case changed."""
    if problem is not None:
        raise_problem(problem)


def raise_problem(problem: Problem) -> NoReturn:
    kind = CONFLICT if problem.conflict else INVALID
    raise ApplicationError(problem.message, type=kind, non_retryable=True)


def require(ok: bool, message: str) -> None:
    if not ok:
        raise ApplicationError(message, type=INVALID, non_retryable=True)
