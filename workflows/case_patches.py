"""CaseWorkflow's patches: each names one change of what the workflow does, and says why.

A case records the patches its run took (markers in its history); a replay takes the same
paths. A name never changes and never goes away while a case that recorded it may replay
(tests/test_replay.py replays a recorded history of each). The branches they guard are in
workflows/case.py; the names live here, in a module passed through the sandbox.
"""

from __future__ import annotations

# While the database is down the case's steps keep failing and are retried. 30 s between
# attempts made a deadline that passed during the outage fire up to 30 s after the recovery
# (bench/deadline_outage.py); at most 5 s apart it fires within seconds (case_steps.LOCAL_RETRY).
PATCH_PROMPT_RECOVERY = "local-retries-at-most-5s-apart"
# A projection or an outbox write that fails for good (the activity says "non-retryable": data
# a database refuses) flags the case and the workflow goes on, instead of retrying forever.
PATCH_STEP_FAILURES = "step-failures-flag-the-case"
# Updates and deadlines change the case one at a time (before: they could interleave at the
# awaits of their local activities, e.g. a reassignment finishing after a close).
PATCH_CASE_LOCK = "one-change-at-a-time"
# Every patch decision is taken when the case starts, before its first await. Taken later (the
# patches above, at their first use), a decision made in the activation that a local activity's
# result resumes depended on where a workflow task boundary fell: a query answered while the
# first task ran could close it right after the deadline computation's marker, and a replay
# (a restarted worker) then saw that marker in one task and the patch markers in the next,
# took the old path and failed the case's task ("patch marker encountered for change
# one-change-at-a-time, but there is no corresponding change command").
PATCH_DECIDE_FIRST = "patch-decisions-before-the-first-await"
# A new priority re-evaluates the case's deadlines from when their clocks started.
PATCH_RECLASSIFY = "reclassify-case"
# A closed case may be reopened by hand while its workflow still runs (the survey is out, mails
# are being delivered); before, the run ended as soon as nothing was left to wait for.
PATCH_REOPEN = "manual-reopen"
# The patches an older case (no PATCH_DECIDE_FIRST marker) still decides at their first use.
DECIDED_LATE = (
    PATCH_PROMPT_RECOVERY,
    PATCH_STEP_FAILURES,
    PATCH_CASE_LOCK,
    PATCH_RECLASSIFY,
    PATCH_REOPEN,
)
# A history that stays small (issue 14): a projected event's text is not kept in the workflow's
# state, a note does not re-arm the deadline timer or re-send unchanged search attributes, and
# the case continues as new when Temporal suggests it, carrying its state (CaseInput.carried).
# Decided up front only: an older case keeps its old history shape to the end.
PATCH_SMALL_HISTORY = "small-histories"
# Waiting on the customer (issue 16): an owner pauses the program's pausing deadlines
# (`pause` / `resume`, the customer's answer, or the program's longest pause resumes); on
# resume they move by the paused business time, and no paused deadline fires meanwhile.
PATCH_PAUSE = "waiting-on-customer"
# Customers answer by email (issue 17): their words and attachments go on the timeline, the
# owner is told, an automatic reply is recorded apart; a case the customer opened confirms.
PATCH_INBOUND = "customer-replies-by-mail"
# Deadlines follow the program (issue 16): a `policy_changed` signal (the admin chose "also
# open cases") gives the case its program's new calendar and SLA; the open deadlines move,
# keeping the business time already used. A case started before it keeps its snapshot.
PATCH_FOLLOW_POLICY = "deadlines-follow-the-program"
# Merged cases (issue 18): a duplicate closes as merged into its primary, whose timeline says so.
PATCH_MERGE = "merge-duplicates"
# Tasks on a case and @mentions in notes (issue 18): the workflow keeps the tasks in its view,
# reminds their assignees and tells them when a task is overdue (timers of the main loop); a
# mention makes the person mentioned a read-only watcher and tells them.
PATCH_TASKS = "case-tasks-and-mentions"
# The patches decided up front by a case started after PATCH_DECIDE_FIRST.
DECIDED_FIRST = (
    *DECIDED_LATE,
    PATCH_SMALL_HISTORY,
    PATCH_PAUSE,
    PATCH_INBOUND,
    PATCH_FOLLOW_POLICY,
    PATCH_MERGE,
    PATCH_TASKS,
)
