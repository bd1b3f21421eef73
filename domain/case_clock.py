"""When a case wakes next, and who is told: the decisions CaseWorkflow's main loop takes.

Pure functions of the case as the workflow holds it. A timer's key names what fires and is
kept in the workflow's `fired` set (and carried to its next run), so the keys never change:
"open_warning", "open_due", "resolve_warning:<gen>", "resolve_due:<gen>",
"pause_limit:<pauses>", "task_reminder:<id>", "task_overdue:<id>".
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from domain.case import CaseView, Watcher
from domain.policy import CasePolicy
from domain.vocabulary import Access, CaseStatus, PauseMetric

Timer = tuple[str, datetime | None]


def paused(view: CaseView, policy: CasePolicy, metric: PauseMetric) -> bool:
    """The case waits on the customer and the program pauses this deadline then."""
    return view.paused_since is not None and metric in policy.sla.pause_metrics


def task_timers(view: CaseView) -> list[Timer]:
    """The reminder and the overdue notice of every open task (not yet sent)."""
    timers: list[Timer] = []
    for t in view.tasks:
        if t.done_at is None:
            if not t.reminded:
                timers.append((f"task_reminder:{t.task_id}", t.remind_at))
            if not t.overdue:
                timers.append((f"task_overdue:{t.task_id}", t.due_at))
    return timers


def next_timer(
    view: CaseView,
    policy: CasePolicy,
    *,
    open_warn_at: datetime | None,
    resolve_warn_at: datetime | None,
    deadline_gen: int,
    pauses: int,
    tasks: list[Timer],
    fired: Collection[str],
) -> tuple[str, datetime] | None:
    """The earliest timer not fired yet; None when nothing is left to wait for.

    A paused deadline neither warns nor fires; the pause may end by itself (its limit).
    """
    candidates: list[Timer] = []
    if (
        view.status == CaseStatus.NEW
        and not view.open_breached
        and not paused(view, policy, PauseMetric.OPEN)
    ):
        candidates += [("open_warning", open_warn_at), ("open_due", view.open_due_at)]
    if not view.resolve_breached and not paused(view, policy, PauseMetric.RESOLVE):
        candidates += [
            (f"resolve_warning:{deadline_gen}", resolve_warn_at),
            (f"resolve_due:{deadline_gen}", view.resolve_due_at),
        ]
    if view.paused_since is not None:
        candidates.append((f"pause_limit:{pauses}", view.pause_resumes_at))
    candidates += tasks
    live = [(k, at) for k, at in candidates if at is not None and k not in fired]
    return min(live, key=lambda c: c[1]) if live else None


def full_watchers(view: CaseView) -> list[str]:
    return [w.user_id for w in view.watchers if w.access == Access.FULL]


def handed_over(view: CaseView, new_owner: str, keep_previous: Access | None) -> list[Watcher]:
    """The watchers once `new_owner` owns the case: not among them; the previous owner kept
    with `keep_previous` access (a late owner keeps seeing an escalated case), or not."""
    previous = view.owner_id
    watchers = [w for w in view.watchers if w.user_id != new_owner]
    if keep_previous is not None and not any(w.user_id == previous for w in watchers):
        watchers.append(Watcher(previous, keep_previous))
    return watchers


def mentioned(user_ids: list[str], author: str) -> list[str]:
    """Who a note mentions: each once, not its author, at most 20."""
    return [u for u in dict.fromkeys(user_ids) if u and u != author][:20]


def recovery_failed(satisfaction: int, resolved: bool, policy: CasePolicy) -> bool:
    """The customer's answer to the survey says the recovery failed."""
    return satisfaction <= policy.remeasure.low_score_threshold or not resolved
