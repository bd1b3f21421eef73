"""CaseWorkflow's validators' checks as pure functions (domain/case_checks.py) and its timer
decision (domain/case_clock.py); the workflow tests go through them with a real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.case import CaseTask, CaseView, Watcher
from domain.case_checks import (
    Problem,
    close_problem,
    pause_problem,
    reclassify_problem,
    reply_problem,
)
from domain.case_clock import next_timer, task_timers
from domain.policy import (
    CalendarSpec,
    CasePolicy,
    EscalationPolicy,
    RemeasurePolicy,
    SlaPolicy,
)
from domain.vocabulary import Access, CaseStatus, ClosingStatus, Priority

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def view(**changes: object) -> CaseView:
    v = CaseView(
        case_id="C-1",
        version=3,
        program_id="recovery",
        unit_id="4723",
        channel="email",
        customer_id=None,
        status=CaseStatus.IN_PROGRESS,
        owner_id="ole",
        watchers=[Watcher("mia"), Watcher("fred", Access.LIMITED)],
        priority=Priority.NORMAL,
        category="room",
        reason="",
        verbatim="",
        external_ref=None,
        created_at=NOW - timedelta(days=1),
        open_due_at=NOW + timedelta(hours=1),
        resolve_due_at=NOW + timedelta(days=2),
    )
    for k, value in changes.items():
        setattr(v, k, value)
    return v


def policy(**changes: object) -> CasePolicy:
    p = CasePolicy(
        program_id="recovery",
        program_name="Recovery",
        calendar=CalendarSpec(),
        sla=SlaPolicy(),
        escalation=EscalationPolicy(),
        remeasure=RemeasurePolicy(),
        root_causes=["cleaning", "staff"],
        resolution_methods=["refund"],
    )
    for k, value in changes.items():
        setattr(p, k, value)
    return p


def test_the_first_problem_is_said_and_a_changed_case_is_a_conflict() -> None:
    assert pause_problem(view(paused_since=NOW), policy(), "") == Problem(
        "The case is already waiting on the customer", conflict=True
    )
    assert pause_problem(view(), policy(), " ") == Problem("Say what the case is waiting for")
    assert pause_problem(view(), policy(), "x" * 2001) == Problem(
        "A note is limited to 2,000 characters"
    )
    assert pause_problem(view(), policy(), "the invoice") is None


def test_a_reclassification_must_change_something() -> None:
    v = view()
    assert reclassify_problem(v, "why", "room", "", None) == Problem("Nothing would change")
    assert reclassify_problem(v, "why", None, None, Priority.URGENT) is None
    assert reclassify_problem(v, "", "other", "", None) == Problem("Give a reason for the change")


def test_a_reply_with_a_placeholder_left_is_refused() -> None:
    assert reply_problem("Hello", "Dear [[CUSTOMER NAME]],") == Problem(
        "Fill in [[CUSTOMER NAME]] before sending"
    )
    assert reply_problem("Two\nlines", "text") == Problem("A subject is one line")
    assert reply_problem("Hello", "Dear Kari,") is None


def test_closing_checks_the_programs_lists_and_open_tasks() -> None:
    task = CaseTask("1", "Call back", "mia", "ole", NOW)
    strict = policy(require_tasks_done_to_resolve=True)
    resolved = ClosingStatus.RESOLVED
    assert close_problem(view(), strict, resolved, ["mud"], [], "done") == Problem(
        "Unknown root cause(s) for this program: mud"
    )
    assert close_problem(view(tasks=[task]), strict, resolved, ["staff"], [], "done") == Problem(
        "Finish the case's tasks before closing it as resolved (1 open)"
    )
    assert close_problem(view(), policy(), ClosingStatus.ERASED, [], [], "erased") is None


def nxt(
    v: CaseView, fired: set[str], tasks: list[tuple[str, datetime | None]] | None = None
) -> tuple[str, datetime] | None:
    return next_timer(
        v,
        policy(),
        open_warn_at=NOW,
        resolve_warn_at=NOW + timedelta(days=1),
        deadline_gen=1,
        pauses=2,
        tasks=tasks or [],
        fired=fired,
    )


def test_the_next_timer_skips_what_fired_and_what_a_pause_stops() -> None:
    v = view(status=CaseStatus.NEW)
    assert nxt(v, set()) == ("open_warning", NOW)
    assert nxt(v, {"open_warning"}) == ("open_due", v.open_due_at)
    limit = NOW + timedelta(hours=3)
    paused = view(status=CaseStatus.NEW, paused_since=NOW, pause_resumes_at=limit)
    assert nxt(paused, set()) == ("pause_limit:2", limit)
    due = NOW + timedelta(minutes=5)
    with_task = view(tasks=[CaseTask("7", "Call", "mia", "ole", NOW, due_at=due)])
    tasks = task_timers(with_task)
    assert tasks == [("task_reminder:7", None), ("task_overdue:7", due)]
    assert nxt(with_task, set(), tasks) == ("task_overdue:7", due)
