"""CaseWorkflow: one durable workflow per case, the source of truth for its lifecycle.

The workflow keeps the case's state, runs its deadlines as re-armable timers, validates every
owner action (Temporal Updates) before it reaches history, and projects each change to the SQL
read model through an idempotent, version-guarded activity.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

# Every module that defines a type crossing the boundary is imported here: the sandbox's
# sys.modules holds only what the workflow imports, and the converter resolves type hints there.
# Everything but this module is passed through: the sandbox executes this module afresh for
# every case it loads (and holds that copy while the case is cached), the others once per
# process. So the rules, the words and the constants live there (bench/sandbox_cost.py).
with workflow.unsafe.imports_passed_through():
    from activities.calendar import CalendarActivities
    from activities.directory import DesigneeRequest, DirectoryActivities
    from activities.failures import FailureActivities, StepFailure
    from activities.mail import DeliveryRequest, MailActivities
    from activities.notifications import Notification, NotificationActivities
    from activities.projection import ProjectionActivities, ProjectRequest
    from activities.remeasurement import (
        RemeasurementActivities,
        RemeasureRequest,
        RemeasureSchedule,
    )
    from domain import case_checks as checks
    from domain import case_clock as clock
    from domain import case_timeline as said
    from domain.case import Actor, CaseTask, CaseView, PauseInterval, TimelineEvent, Watcher
    from domain.deadline_follow import FollowRequest
    from domain.deadlines import (
        DeadlineRequest,
        Deadlines,
        PauseLimitRequest,
        Shifted,
        ShiftRequest,
    )
    from domain.permissions import refusal, reopen_refusal
    from domain.policy import CasePolicy
    from domain.tasks import TaskSchedule, TaskScheduleRequest
    from domain.vocabulary import (
        Access,
        CaseStatus,
        ClosingStatus,
        EventKind,
        MessageKind,
        PauseMetric,
        RemeasureStatus,
    )
    from workflows.case_patches import (
        DECIDED_FIRST,
        DECIDED_LATE,
        PATCH_CASE_LOCK,
        PATCH_DECIDE_FIRST,
        PATCH_FOLLOW_POLICY,
        PATCH_INBOUND,
        PATCH_MERGE,
        PATCH_PAUSE,
        PATCH_PROMPT_RECOVERY,
        PATCH_RECLASSIFY,
        PATCH_REOPEN,
        PATCH_SMALL_HISTORY,
        PATCH_STEP_FAILURES,
        PATCH_TASKS,
    )
    from workflows.case_steps import (
        CONFLICT,
        DELIVERY_ATTEMPT,
        DELIVERY_GIVE_UP,
        DELIVERY_RETRY,
        FINISHED,
        FORBIDDEN,
        LOCAL_RETRY,
        QUICK_RETRY,
        SHORT,
        failed_for_good,
        raise_problem,
        refuse,
        require,
    )
    from workflows.messages import (
        ActionAck,
        AddNote,
        AddTask,
        AddWatcher,
        AttachDocument,
        CarriedState,
        CaseInput,
        CaseResult,
        CaseState,
        CloseCase,
        CompleteTask,
        CustomerReplied,
        LogContactAttempt,
        MergedFrom,
        MergeInto,
        PauseCase,
        PolicyChanged,
        Reassign,
        Reclassify,
        RemeasureAnswer,
        RemoveWatcher,
        ReopenCase,
        ReopenTask,
        ResumeCase,
        Resumed,
        SendReply,
        initial_view,
    )
    from workflows.search_attributes import case_search_attributes


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow:
    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        self._inp = inp
        self._policy: CasePolicy = inp.policy
        self._view = initial_view(inp)
        self._timeline: list[TimelineEvent] = []
        self._unprojected: list[TimelineEvent] = []
        self._open_warn_at: datetime | None = None
        self._resolve_warn_at: datetime | None = None
        # Bumped whenever a new resolve deadline is set, so its warning can fire again.
        self._deadline_gen = 0
        self._fired: set[str] = set()
        self._rearm = False
        self._ready = False
        self._answer: RemeasureAnswer | None = None
        # SMTP deliveries started and not finished yet (awaited before the workflow completes).
        self._deliveries = 0
        # Failed-for-good steps (PATCH_STEP_FAILURES): is the read model behind, was it written.
        self._projection_failed = False
        self._projected = False
        self._lock = asyncio.Lock()
        # Patch decisions taken up front (PATCH_DECIDE_FIRST); none for an older case.
        self._decided: dict[str, bool] = {}
        # When the resolve clock started and whether it is a new owner's (PATCH_RECLASSIFY).
        self._resolve_clock = (inp.created_at, False)
        # A manual reopen the main loop has not seen yet; set once the run is about to end.
        self._reopened = False
        self._finishing = False
        self._small = False  # PATCH_SMALL_HISTORY, decided when the run starts
        # Timeline events recorded by every run of the case (CaseResult.events).
        self._events = 0
        # The search attributes last upserted (PATCH_SMALL_HISTORY: an unchanged set is not sent).
        self._published: list[SearchAttributeUpdate[Any]] | None = None
        # The ledger of finished pauses, and who answered while the case waited (PATCH_PAUSE;
        # the main loop resumes the case).
        self._pauses: list[PauseInterval] = []
        self._customer_back: str | None = None
        # Inbound mail the main loop has not taken yet (PATCH_INBOUND).
        self._replies: list[CustomerReplied] = []
        # The program changes followed (PATCH_FOLLOW_POLICY), by their reference.
        self._followed: list[str] = []
        if inp.resumed is not None:
            self._view = copy.deepcopy(inp.resumed.view)
            self._timeline = list(inp.resumed.timeline)
            self._events = len(self._timeline)
            self._projected = True
        elif inp.carried is not None:
            self._carry_on(inp.carried)
        elif inp.initial_deadlines is not None:
            self._apply_deadlines(inp.initial_deadlines)

    def _carry_on(self, carried: CarriedState) -> None:
        """A run continued as new: the case where the previous run left it."""
        self._view = carried.view
        self._open_warn_at, self._resolve_warn_at = carried.open_warn_at, carried.resolve_warn_at
        self._deadline_gen = carried.deadline_gen
        self._fired = set(carried.fired)
        self._events = carried.events
        self._timeline = list(carried.unprojected)
        self._projection_failed, self._projected = carried.projection_failed, carried.projected
        if carried.resolve_clock_start is not None:
            self._resolve_clock = (carried.resolve_clock_start, carried.resolve_clock_reassigned)
        self._pauses = list(carried.pauses)
        self._followed = list(carried.followed)
        self._rearm = True

    # ------------------------------------------------------------------ lifecycle

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        if workflow.patched(PATCH_DECIDE_FIRST):
            self._decided = {name: workflow.patched(name) for name in DECIDED_FIRST}
        self._small = self._patched(PATCH_SMALL_HISTORY)
        if inp.resumed is not None:
            await self._start_reopened(inp.resumed)
        elif inp.carried is None:
            await self._open(inp)
        else:
            self._ready = True

        while True:
            if not await self._run_until_closed():
                await self._continue_as_new()
            if (
                self._view.closing_status == ClosingStatus.RESOLVED
                and self._policy.remeasure.enabled
                and await self._remeasure()
            ):
                continue  # reopened after a failed recovery (or by hand)
            if self._patched(PATCH_REOPEN) and await self._reopened_before_the_end():
                continue
            break

        await workflow.wait_condition(workflow.all_handlers_finished)
        await workflow.wait_condition(lambda: self._deliveries == 0)
        return CaseResult(
            case_id=self._view.case_id,
            closing_status=self._view.closing_status,
            remeasure_status=self._view.remeasure_status,
            events=self._events,
        )

    async def _open(self, inp: CaseInput) -> None:
        if inp.initial_deadlines is None:
            self._apply_deadlines(
                await self._compute_deadlines(inp.created_at, open=True, resolve=True)
            )
        self._record(
            "opened",
            inp.opened_by,
            f"Case opened from {inp.details.channel}; owner {inp.owner_id}",
            {"routing": inp.routing_reason, "owner": inp.owner_id},
        )
        self._ready = True
        async with self._changing():
            await self._project()
            # Every watcher is copied on the alert: limited watchers monitor their organisation.
            await self._notify(
                "alert",
                "alert",
                [self._view.owner_id],
                [w.user_id for w in self._view.watchers],
                routing=inp.routing_reason,
            )
            if inp.acknowledge and self._patched(PATCH_INBOUND):
                await self._notify(
                    "acknowledgement", MessageKind.ACKNOWLEDGEMENT, [], to_customer=True
                )

    async def _start_reopened(self, resumed: Resumed) -> None:
        """A new run of a completed case: reopened by hand (services/case_reopen.py)."""
        self._ready = True
        async with self._changing():
            await self._reopen(resumed.actor, resumed.reason, resumed.action_id)
            self._reopened = False  # this run starts open: nothing for the main loop to see

    async def _reopened_before_the_end(self) -> bool:
        """Wait for what is left (handlers, deliveries); True when a manual reopen came first."""
        await workflow.wait_condition(
            lambda: self._reopened or (workflow.all_handlers_finished() and self._deliveries == 0)
        )
        if self._reopened:
            self._reopened = False
            return True
        self._finishing = True  # from here on a reopen starts a new run
        return False

    async def _run_until_closed(self) -> bool:
        """Sleep until the next deadline; any state change re-arms the wait. True once the case
        is closed, False when it should continue as new first."""
        while self._view.status != CaseStatus.CLOSED:
            if self._replies:
                async with self._changing():
                    await self._take_reply(self._replies.pop(0))
                continue
            if self._customer_back is not None:
                async with self._changing():
                    who, self._customer_back = self._customer_back, None
                    if self._view.paused_since is not None:
                        await self._resume(who, "The customer answered")
                continue
            if self._continue_due():
                return False
            self._rearm = False
            nxt = self._next_timer()
            if nxt is None:
                await workflow.wait_condition(lambda: self._rearm or self._continue_due())
                continue
            key, at = nxt
            delay = at - workflow.now()
            if delay > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda: self._rearm or self._continue_due(),
                        timeout=delay,
                        timeout_summary=f"{key.split(':')[0]} at {said.fmt(at)}",
                    )
                    continue
                except TimeoutError:
                    pass
            self._fired.add(key)
            async with self._changing():
                await self._fire(key)
        return True

    def _continue_due(self) -> bool:
        """Temporal suggests a new run (the history grew long) and nothing is in flight: no
        action or deadline changing the case, no delivery outstanding (PATCH_SMALL_HISTORY)."""
        return (
            self._small
            and workflow.info().is_continue_as_new_suggested()
            and self._deliveries == 0
            and not self._lock.locked()
            and workflow.all_handlers_finished()
        )

    async def _continue_as_new(self) -> NoReturn:
        """The case goes on in a new run with a fresh history, carrying only its state."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        # Events still holding their text: their projection failed for good, the read model
        # lacks them, the state query shows them (as it did in this run).
        kept = [e for e in self._timeline if e.summary]
        carried = CarriedState(
            view=self._snapshot(),
            open_warn_at=self._open_warn_at,
            resolve_warn_at=self._resolve_warn_at,
            deadline_gen=self._deadline_gen,
            fired=sorted(self._fired),
            events=self._events,
            unprojected=kept,
            projection_failed=self._projection_failed,
            projected=self._projected,
            resolve_clock_start=self._resolve_clock[0],
            resolve_clock_reassigned=self._resolve_clock[1],
            pauses=list(self._pauses),
            followed=list(self._followed),
        )
        workflow.continue_as_new(
            # A run that began as a reopened case goes on as an ordinary one, with the policy
            # it follows now (PATCH_FOLLOW_POLICY).
            dataclasses.replace(self._inp, policy=self._policy, carried=carried, resumed=None),
            search_attributes=workflow.info().typed_search_attributes,
        )

    def _next_timer(self) -> tuple[str, datetime] | None:
        return clock.next_timer(
            self._view,
            self._policy,
            open_warn_at=self._open_warn_at,
            resolve_warn_at=self._resolve_warn_at,
            deadline_gen=self._deadline_gen,
            pauses=len(self._pauses),
            tasks=clock.task_timers(self._view) if self._patched(PATCH_TASKS) else [],
            fired=self._fired,
        )

    async def _fire(self, key: str) -> None:
        kind = key.split(":")[0]
        v = self._view
        if kind == "open_warning":
            self._record(
                "warning", "system", f"Open deadline approaching ({said.fmt(v.open_due_at)})"
            )
            await self._project()
            await self._notify(key, "warning", [v.owner_id], deadline="open")
        elif kind == "open_due":
            v.status = CaseStatus.OVERDUE
            v.open_breached = v.went_overdue = True
            self._record("overdue", "system", "Open deadline missed: no first action yet")
            await self._project()
            await self._notify(key, "overdue", [v.owner_id], self._full_watchers(), deadline="open")
        elif kind == "resolve_warning":
            self._record(
                "warning", "system", f"Resolve deadline approaching ({said.fmt(v.resolve_due_at)})"
            )
            await self._project()
            await self._notify(key, "warning", [v.owner_id], deadline="resolve")
        elif kind == "resolve_due":
            await self._escalate(key)
        elif kind == "pause_limit" and v.paused_since is not None:
            await self._resume("limit", "The longest pause of the program is over")
            await self._notify(key, MessageKind.PAUSE_EXPIRED, [v.owner_id])
        elif kind.startswith("task_"):  # a task's reminder or overdue time (PATCH_TASKS)
            await self._task_due(key)

    async def _escalate(self, key: str) -> None:
        v = self._view
        v.went_overdue = True
        v.status = CaseStatus.OVERDUE
        designee: str | None = None
        if v.escalation_level < self._policy.escalation.max_level:
            designee = await workflow.execute_local_activity_method(
                DirectoryActivities.find_designee,
                DesigneeRequest(v.owner_id, self._policy.escalation.program_designee_id),
                start_to_close_timeout=SHORT,
                retry_policy=self._local_retry(),
                summary=f"designee of {v.owner_id}",
            )
        if not designee or designee == v.owner_id:
            v.resolve_breached = True
            max_level = self._policy.escalation.max_level
            self._record("overdue", "system", *said.not_escalated(v.escalation_level, max_level))
            await self._project()
            await self._notify(
                key, "overdue", [v.owner_id], self._full_watchers(), deadline="resolve"
            )
            return
        late_owner = v.owner_id
        v.escalation_level += 1
        self._hand_over(designee, keep_previous=Access.LIMITED)
        self._apply_deadlines(
            await self._compute_deadlines(workflow.now(), open=False, resolve=True, reassigned=True)
        )
        self._record(
            "escalated", "system", *said.escalated(late_owner, designee, v.escalation_level)
        )
        await self._project()
        await self._notify(
            key, "escalation", [designee], self._full_watchers(), late_owner=late_owner
        )

    async def _remeasure(self) -> bool:
        """Ask the customer; True when a failed recovery reopened the case."""
        v = self._view
        round_ = v.reopened_count
        self._answer = None
        v.remeasure_status = RemeasureStatus.PENDING
        self._record("remeasure_sent", "system", "Resolution survey sent to the customer")
        await self._project()
        schedule: RemeasureSchedule = await workflow.execute_activity_method(
            RemeasurementActivities.send_remeasurement,
            RemeasureRequest(
                v.case_id,
                workflow.now(),
                self._policy.remeasure,
                self._policy.calendar,
                round=round_,
            ),
            start_to_close_timeout=SHORT,
            retry_policy=QUICK_RETRY,
            summary="send resolution survey",
        )
        self._deliver(schedule.outbox_id, "remeasure")
        for phase, until in (("reminder", schedule.reminder_at), ("expiry", schedule.expire_at)):
            try:
                await workflow.wait_condition(
                    lambda: self._answer is not None or self._reopened,
                    timeout=max(until - workflow.now(), timedelta(seconds=1)),
                    timeout_summary=f"remeasure {phase}",
                )
                break
            except TimeoutError:
                if phase == "reminder":
                    self._record("remeasure_reminder", "system", "Survey reminder sent")
                    await self._project()
                    reminder: RemeasureSchedule = await workflow.execute_activity_method(
                        RemeasurementActivities.send_remeasurement,
                        RemeasureRequest(
                            v.case_id,
                            workflow.now(),
                            self._policy.remeasure,
                            self._policy.calendar,
                            reminder=True,
                            round=round_,
                        ),
                        start_to_close_timeout=SHORT,
                        retry_policy=QUICK_RETRY,
                        summary="send survey reminder",
                    )
                    self._deliver(reminder.outbox_id, "remeasure_reminder")
        if self._reopened:  # by hand, while the survey was out (PATCH_REOPEN)
            self._reopened = False
            return True
        answer = self._answer
        if answer is None:
            v.remeasure_status = RemeasureStatus.EXPIRED
            self._record("remeasure_expired", "system", "Survey expired without an answer")
            await self._project()
            return False
        v.remeasure_status = RemeasureStatus.ANSWERED
        v.remeasure_score = answer.satisfaction
        v.remeasure_resolved = answer.resolved
        v.remeasure_comment = answer.comment
        failed = clock.recovery_failed(answer.satisfaction, answer.resolved, self._policy)
        v.recovery_failed = failed
        self._record(
            "remeasured",
            f"customer ({answer.source})",
            *said.remeasured(answer.satisfaction, answer.resolved, answer.comment, failed),
        )
        await self._project()
        if not (failed and self._policy.remeasure.reopen_on_failure):
            if failed:
                await self._notify(f"recovery_failed:{round_}", "recovery_failed", [v.owner_id])
            return False
        v.status = CaseStatus.IN_PROGRESS
        v.reopened_count += 1
        v.closing_status = None
        v.closed_at = None
        v.resolve_breached = False
        self._apply_deadlines(
            await self._compute_deadlines(workflow.now(), open=False, resolve=True, reassigned=True)
        )
        self._record("reopened", "system", "Reopened: the customer says the recovery failed")
        await self._project()
        await self._notify(f"reopened:{round_}", "reopened", [v.owner_id], self._full_watchers())
        return True

    # ------------------------------------------------------------------ updates

    @workflow.update
    async def pause(self, cmd: PauseCase) -> ActionAck:
        """Waiting on the customer: the program's pausing deadlines stop (PATCH_PAUSE)."""
        async with self._acting(cmd.actor):
            v = self._view
            if v.paused_since is not None:  # paused meanwhile: nothing more to do
                return self._ack()
            now = workflow.now()
            limit: datetime | None = None
            if self._policy.sla.max_pause:
                limit = await workflow.execute_local_activity_method(
                    CalendarActivities.pause_limit,
                    PauseLimitRequest(self._policy.calendar, now, self._policy.sla.max_pause),
                    start_to_close_timeout=SHORT,
                    retry_policy=self._local_retry(),
                    summary="pause limit",
                )
            v.paused_since, v.pause_resumes_at = now, limit
            self._record(EventKind.PAUSED, cmd.actor.user_id, *said.paused(limit, cmd.note.strip()))
            self._rearm = True
            await self._project()
            return self._ack()

    @pause.validator
    def _v_pause(self, cmd: PauseCase) -> None:
        self._require_actor(cmd.actor)
        require(self._patched(PATCH_PAUSE), "This case was opened before cases could wait")
        refuse(checks.pause_problem(self._view, self._policy, cmd.note))

    @workflow.update
    async def resume(self, cmd: ResumeCase) -> ActionAck:
        """The owner takes the case back; its paused deadlines move on (PATCH_PAUSE)."""
        async with self._acting(cmd.actor):
            if self._view.paused_since is not None:
                await self._resume(cmd.actor.user_id, cmd.note.strip())
            return self._ack()

    @resume.validator
    def _v_resume(self, cmd: ResumeCase) -> None:
        self._require_actor(cmd.actor)
        refuse(checks.resume_problem(self._view, cmd.note))

    def _paused(self, metric: PauseMetric) -> bool:
        return clock.paused(self._view, self._policy, metric)

    async def _resume(self, by: str, why: str) -> None:
        """End the pause: the paused deadlines move by the paused business time."""
        v = self._view
        assert v.paused_since is not None
        open_moves = self._paused(PauseMetric.OPEN) and v.status == CaseStatus.NEW
        resolve_moves = self._paused(PauseMetric.RESOLVE) and not v.resolve_breached
        now = workflow.now()
        shifted: Shifted = await workflow.execute_local_activity_method(
            CalendarActivities.shift_deadlines,
            ShiftRequest(
                self._policy.calendar,
                v.paused_since,
                now,
                Deadlines(
                    open_due_at=v.open_due_at if open_moves else None,
                    open_warn_at=self._open_warn_at if open_moves else None,
                    resolve_due_at=v.resolve_due_at if resolve_moves else None,
                    resolve_warn_at=self._resolve_warn_at if resolve_moves else None,
                ),
                # A resolve clock restarted while paused (reassigned, escalated) lost less.
                resolve_from=self._resolve_clock[0],
            ),
            start_to_close_timeout=SHORT,
            retry_policy=self._local_retry(),
            summary="move paused deadlines",
        )
        d = shifted.deadlines
        if open_moves:
            v.open_due_at, self._open_warn_at = d.open_due_at, d.open_warn_at
        if resolve_moves:
            v.resolve_due_at, self._resolve_warn_at = d.resolve_due_at, d.resolve_warn_at
        self._end_pause(now, shifted.business_seconds, by)
        self._record(
            EventKind.RESUMED,
            "system" if by == "limit" else by,
            *said.resumed(
                why,
                shifted.business_seconds,
                by,
                open_due=v.open_due_at if open_moves else None,
                resolve_due=v.resolve_due_at if resolve_moves else None,
                resolve_moved=resolve_moves,
            ),
        )
        self._rearm = True
        await self._project()

    def _end_pause(self, now: datetime, business_seconds: int, by: str) -> None:
        v = self._view
        assert v.paused_since is not None
        self._pauses.append(PauseInterval(v.paused_since, now, business_seconds, by))
        v.paused_seconds += business_seconds
        v.paused_since = v.pause_resumes_at = None

    @workflow.update
    async def reclassify(self, cmd: Reclassify) -> ActionAck:
        """New category and/or priority; a new priority moves the deadlines (PATCH_RECLASSIFY)."""
        async with self._acting(cmd.actor):
            v = self._view
            before = (v.category, v.subcategory, v.priority.value)
            if cmd.category is not None:
                v.category, v.subcategory = cmd.category.strip(), (cmd.subcategory or "").strip()
            if cmd.priority is not None:
                v.priority = cmd.priority
            after = (v.category, v.subcategory, v.priority.value)
            if self._patched(PATCH_RECLASSIFY) and before[2] != after[2]:
                await self._reevaluate_deadlines()
            self._record(
                EventKind.RECLASSIFIED,
                cmd.actor,
                *said.reclassified(before, after, cmd.reason.strip()),
            )
            self._rearm = True
            await self._project()
            return self._ack()

    @reclassify.validator
    def _v_reclassify(self, cmd: Reclassify) -> None:
        self._require_actor(cmd.actor)
        refuse(
            checks.reclassify_problem(
                self._view, cmd.reason, cmd.category, cmd.subcategory, cmd.priority
            )
        )

    async def _reevaluate_deadlines(self) -> None:
        """The deadlines under the case's (new) priority, from when their clocks started."""
        v = self._view
        if v.status == CaseStatus.NEW and not v.open_breached:
            deadlines = await self._compute_deadlines(v.created_at, open=True, resolve=False)
            self._apply_deadlines(
                await self._after_pauses(deadlines, v.created_at, PauseMetric.OPEN)
            )
        if not v.resolve_breached:
            start, reassigned = self._resolve_clock
            deadlines = await self._compute_deadlines(
                start, open=False, resolve=True, reassigned=reassigned
            )
            self._apply_deadlines(await self._after_pauses(deadlines, start, PauseMetric.RESOLVE))

    async def _after_pauses(self, d: Deadlines, start: datetime, metric: PauseMetric) -> Deadlines:
        """Deadlines recomputed from `start` move on by the finished pauses since (PATCH_PAUSE;
        a running pause moves them when it ends)."""
        paused = sum(p.business_seconds for p in self._pauses if p.start >= start)
        if paused <= 0 or metric not in self._policy.sla.pause_metrics:
            return d
        shifted: Shifted = await workflow.execute_local_activity_method(
            CalendarActivities.shift_deadlines,
            ShiftRequest(self._policy.calendar, start, start, d, business_seconds=paused),
            start_to_close_timeout=SHORT,
            retry_policy=self._local_retry(),
            summary="deadlines after the pauses",
        )
        return shifted.deadlines

    @workflow.update
    async def reopen(self, cmd: ReopenCase) -> ActionAck:
        """A closed case back to work, by hand, while this run still goes on (PATCH_REOPEN)."""
        await workflow.wait_condition(lambda: self._ready)
        async with self._changing():
            self._require_reopener(cmd.actor, cmd.manages_unit)
            await self._reopen(cmd.actor, cmd.reason.strip(), cmd.action_id)
            return self._ack()

    @reopen.validator
    def _v_reopen(self, cmd: ReopenCase) -> None:
        self._require_reopener(cmd.actor, cmd.manages_unit)
        refuse(checks.reopen_problem(cmd.reason))

    def _require_reopener(self, actor: Actor, manages_unit: bool) -> None:
        if self._finishing:
            raise ApplicationError(
                f"The workflow of {self._view.case_id} has finished",
                type=FINISHED,
                non_retryable=True,
            )
        refused = reopen_refusal(actor, self._view, manages_unit)
        if refused is not None:
            kind = CONFLICT if refused.conflict else FORBIDDEN
            raise ApplicationError(refused.message, type=kind, non_retryable=True)

    async def _reopen(self, actor: Actor, reason: str, action_id: str = "") -> None:
        """Open again with a fresh resolve deadline (as after a failed recovery); the deadlines
        are computed before anything changes, so no stale timer fires in between."""
        deadlines = await self._compute_deadlines(
            workflow.now(), open=False, resolve=True, reassigned=True
        )
        v = self._view
        v.status = CaseStatus.IN_PROGRESS
        v.reopened_count += 1
        v.closing_status = None
        v.closed_at = None
        v.resolve_breached = False
        if v.remeasure_status == RemeasureStatus.PENDING:
            v.remeasure_status = RemeasureStatus.NOT_APPLICABLE  # the survey's link dies
        self._apply_deadlines(deadlines)
        self._reopened = True
        self._record(
            EventKind.REOPENED,
            actor,
            *said.reopened_by(actor.name or actor.user_id, actor.user_id, reason, action_id),
        )
        await self._project()
        # The owner and the full watchers hear of it (not whoever reopened it).
        to = [v.owner_id] if v.owner_id != actor.user_id else []
        cc = [u for u in clock.full_watchers(v) if u != actor.user_id]
        if to or cc:
            await self._notify(
                f"reopened-by-hand:{v.reopened_count}",
                "reopened",
                to,
                cc,
                by=actor.user_id,
                reason=reason,
            )

    @workflow.update
    async def add_note(self, cmd: AddNote) -> ActionAck:
        async with self._acting(cmd.actor):
            ack = await self._owner_activity(
                cmd.actor, "note", cmd.text.strip(), {"text": cmd.text}
            )
            if cmd.mentioned and self._patched(PATCH_TASKS):
                ack = await self._mention(cmd.actor, cmd.mentioned, cmd.text.strip(), ack)
            return ack

    @add_note.validator
    def _v_add_note(self, cmd: AddNote) -> None:
        self._require_actor(cmd.actor)
        refuse(checks.note_problem(cmd.text))

    @workflow.update
    async def log_contact_attempt(self, cmd: LogContactAttempt) -> ActionAck:
        async with self._acting(cmd.actor):
            summary, data = said.contact_attempt(cmd.method, cmd.outcome, cmd.note)
            return await self._owner_activity(cmd.actor, "contact_attempt", summary, data)

    @log_contact_attempt.validator
    def _v_contact(self, cmd: LogContactAttempt) -> None:
        self._require_actor(cmd.actor)
        refuse(checks.contact_problem(cmd.method, cmd.outcome))

    @workflow.update
    async def attach_document(self, cmd: AttachDocument) -> ActionAck:
        async with self._acting(cmd.actor):
            summary, data = said.document(cmd.document_id, cmd.filename, cmd.content_type, cmd.size)
            return await self._owner_activity(cmd.actor, "document", summary, data)

    @attach_document.validator
    def _v_attach(self, cmd: AttachDocument) -> None:
        self._require_actor(cmd.actor)
        refuse(checks.attach_problem(cmd.document_id, cmd.filename))

    @workflow.update
    async def reassign(self, cmd: Reassign) -> ActionAck:
        async with self._acting(cmd.actor):
            v = self._view
            previous = v.owner_id
            self._hand_over(cmd.new_owner_id, keep_previous=None)
            self._apply_deadlines(
                await self._compute_deadlines(
                    workflow.now(), open=v.status == CaseStatus.NEW, resolve=True, reassigned=True
                )
            )
            self._record(
                "reassigned", cmd.actor, *said.reassigned(previous, cmd.new_owner_id, cmd.reason)
            )
            self._rearm = True
            await self._project()
            await self._notify(
                f"reassigned:{v.version}",
                "reassignment",
                [cmd.new_owner_id],
                [previous],
                reason=cmd.reason,
                previous_owner=previous,
                by=cmd.actor.user_id,
            )
            return self._ack()

    @reassign.validator
    def _v_reassign(self, cmd: Reassign) -> None:
        self._require_actor(cmd.actor)
        refuse(checks.reassign_problem(self._view, cmd.new_owner_id, cmd.reason))

    @workflow.update
    async def add_watcher(self, cmd: AddWatcher) -> ActionAck:
        async with self._acting(cmd.actor):
            w = cmd.watcher
            self._view.watchers = [x for x in self._view.watchers if x.user_id != w.user_id] + [w]
            self._record(
                "watcher_added",
                cmd.actor,
                f"{w.user_id} now watches the case ({w.access.value} access)",
                {"user_id": w.user_id, "access": w.access.value},
            )
            await self._project()
            return self._ack()

    @add_watcher.validator
    def _v_add_watcher(self, cmd: AddWatcher) -> None:
        self._require_actor(cmd.actor)
        refuse(checks.add_watcher_problem(self._view, cmd.watcher.user_id))

    @workflow.update
    async def remove_watcher(self, cmd: RemoveWatcher) -> ActionAck:
        async with self._acting(cmd.actor):
            self._view.watchers = [x for x in self._view.watchers if x.user_id != cmd.user_id]
            self._record(
                "watcher_removed",
                cmd.actor,
                f"{cmd.user_id} no longer watches the case",
                {"user_id": cmd.user_id},
            )
            await self._project()
            return self._ack()

    @remove_watcher.validator
    def _v_remove_watcher(self, cmd: RemoveWatcher) -> None:
        self._require_actor(cmd.actor)
        refuse(checks.remove_watcher_problem(self._view, cmd.user_id))

    @workflow.update
    async def send_reply(self, cmd: SendReply) -> ActionAck:
        """A message to the customer: on the timeline, in the outbox, counts as owner activity."""
        async with self._acting(cmd.actor):
            subject, text = cmd.subject.strip(), cmd.text.strip()
            ack = await self._owner_activity(
                cmd.actor,
                "reply",
                f"Reply sent to the customer: {subject}",
                {"template": cmd.template_key, "subject": subject, "text": text},
            )
            await self._notify(
                f"reply:{ack.version}",
                "reply",
                [],
                to_customer=True,
                sender=cmd.actor.user_id,
                subject=subject,
                text=text,
            )
            return ack

    @send_reply.validator
    def _v_send_reply(self, cmd: SendReply) -> None:
        self._require_actor(cmd.actor)
        refuse(checks.reply_problem(cmd.subject, cmd.text))

    @workflow.update
    async def close(self, cmd: CloseCase) -> ActionAck:
        async with self._acting(cmd.actor):
            v = self._view
            now = workflow.now()
            if v.first_action_at is None:
                v.first_action_at = now
            if v.paused_since is not None:  # closing ends a pause; no deadline is left to move
                self._end_pause(now, 0, "closed")
            v.status = CaseStatus.CLOSED
            v.closing_status = cmd.closing_status
            v.root_causes = list(dict.fromkeys(cmd.root_causes))
            v.resolution_methods = list(dict.fromkeys(cmd.resolution_methods))
            v.final_note = cmd.final_note.strip()
            v.closed_at = now
            self._record("closed", cmd.actor, *said.closed(v))
            self._rearm = True
            await self._project()
            if self._policy.notify_watchers_on_close:
                watchers = [w.user_id for w in v.watchers]
                await self._notify(
                    f"closed:{v.reopened_count}",
                    "closing",
                    watchers or [v.owner_id],
                    closed_by=cmd.actor.user_id,
                )
            return self._ack()

    @close.validator
    def _v_close(self, cmd: CloseCase) -> None:
        self._require_actor(cmd.actor)
        # A validator runs only when the update arrives, never on replay: no patch.
        refuse(
            checks.close_problem(
                self._view,
                self._policy,
                cmd.closing_status,
                cmd.root_causes,
                cmd.resolution_methods,
                cmd.final_note,
            )
        )

    # ------------------------------------------------------------------ tasks and mentions

    @workflow.update
    async def add_task(self, cmd: AddTask) -> ActionAck:
        """A task for someone who may see the case, due in business time (PATCH_TASKS)."""
        async with self._acting(cmd.actor):
            v = self._view
            now = workflow.now()
            schedule = TaskSchedule()
            if cmd.due_in or cmd.due_on:
                schedule = await workflow.execute_local_activity_method(
                    CalendarActivities.task_schedule,
                    TaskScheduleRequest(self._policy.calendar, now, cmd.due_in, cmd.due_on),
                    start_to_close_timeout=SHORT,
                    retry_policy=self._local_retry(),
                    summary="task due time",
                )
            task = CaseTask(
                task_id=str(len(v.tasks) + 1),
                title=cmd.title.strip(),
                assignee_id=cmd.assignee_id,
                created_by=cmd.actor.user_id,
                created_at=now,
                due_at=schedule.due_at,
                remind_at=schedule.remind_at,
            )
            v.tasks.append(task)
            self._record(EventKind.TASK_ADDED, cmd.actor, *said.task_added(task))
            self._rearm = True
            await self._project()
            return self._ack()

    @add_task.validator
    def _v_add_task(self, cmd: AddTask) -> None:
        self._require_actor(cmd.actor)
        require(self._patched(PATCH_TASKS), "This case was opened before cases had tasks")
        refuse(
            checks.add_task_problem(
                self._view,
                cmd.title,
                cmd.assignee_id,
                cmd.due_in,
                cmd.due_on,
                workflow.now().date(),
            )
        )

    @workflow.update
    async def complete_task(self, cmd: CompleteTask) -> ActionAck:
        """Tick a task done: by its assignee (even with read-only access) or anyone who acts."""
        async with self._on_task(cmd.actor, cmd.task_id) as task:
            if task.done_at is None:
                task.done_at, task.done_by = workflow.now(), cmd.actor.user_id
                self._record(
                    EventKind.TASK_DONE, cmd.actor, f"Task done: {task.title}", said.task_data(task)
                )
                self._rearm = True
                await self._project()
            return self._ack()

    @complete_task.validator
    def _v_complete_task(self, cmd: CompleteTask) -> None:
        task = self._require_task_actor(cmd.actor, cmd.task_id)
        refuse(checks.task_done_problem(task, done=True))

    @workflow.update
    async def reopen_task(self, cmd: ReopenTask) -> ActionAck:
        """Untick a task: open again (a reminder or overdue notice already sent is not sent
        again)."""
        async with self._on_task(cmd.actor, cmd.task_id) as task:
            if task.done_at is not None:
                task.done_at, task.done_by = None, ""
                self._record(
                    EventKind.TASK_REOPENED,
                    cmd.actor,
                    f"Task not done after all: {task.title}",
                    said.task_data(task),
                )
                self._rearm = True
                await self._project()
            return self._ack()

    @reopen_task.validator
    def _v_reopen_task(self, cmd: ReopenTask) -> None:
        task = self._require_task_actor(cmd.actor, cmd.task_id)
        refuse(checks.task_done_problem(task, done=False))

    def _require_task_actor(self, actor: Actor, task_id: str) -> CaseTask:
        """The task; its assignee may tick it, anyone else must be allowed to act."""
        require(self._patched(PATCH_TASKS), "This case was opened before cases had tasks")
        task = checks.find_task(self._view, task_id)
        if isinstance(task, checks.Problem):
            raise_problem(task)
        if self._view.status == CaseStatus.CLOSED or actor.user_id != task.assignee_id:
            self._require_actor(actor)
        return task

    @asynccontextmanager
    async def _on_task(self, actor: Actor, task_id: str) -> AsyncIterator[CaseTask]:
        """`_acting` for a task: its assignee may tick it without the right to act on the case."""
        await workflow.wait_condition(lambda: self._ready)
        async with self._changing():
            yield self._require_task_actor(actor, task_id)

    async def _task_due(self, key: str) -> None:
        """A task's reminder or overdue time came: tell its assignee (unless it is done)."""
        kind, task_id = key.split(":", 1)
        task = next((t for t in self._view.tasks if t.task_id == task_id), None)
        if task is None or task.done_at is not None or task.due_at is None:
            return
        reminder = kind == "task_reminder"
        if reminder:
            task.reminded = True
        else:
            task.reminded = task.overdue = True
        event, message, summary = said.task_due(task, reminder)
        self._record(event, "system", summary, said.task_data(task))
        await self._project()
        await self._notify(
            key,
            message,
            [task.assignee_id],
            task=task.title,
            task_due=task.due_at.isoformat(),
            assignee=task.assignee_id,
        )

    async def _mention(
        self, actor: Actor, mentioned: list[str], text: str, ack: ActionAck
    ) -> ActionAck:
        """The people a note mentions read the case from now on and are told (PATCH_TASKS)."""
        v = self._view
        note_version = ack.version
        people = clock.mentioned(mentioned, actor.user_id)
        for user_id in people:
            if user_id != v.owner_id and not any(w.user_id == user_id for w in v.watchers):
                v.watchers = [*v.watchers, Watcher(user_id, Access.LIMITED)]
            self._record(
                EventKind.MENTIONED,
                actor,
                f"Mentioned {user_id}",
                {"user_id": user_id, "note": note_version},
            )
        if not people:
            return ack
        await self._project()
        for user_id in people:
            await self._notify(
                f"mention:{note_version}:{user_id}",
                MessageKind.MENTION,
                [user_id],
                by=actor.user_id,
                note=text[:2000],
                assignee=user_id,
            )
        return self._ack()

    # ------------------------------------------------------------------ merged cases

    @workflow.update
    async def merge_into(self, cmd: MergeInto) -> ActionAck:
        """Close as a duplicate of the primary (PATCH_MERGE): no survey, no closing mail; the
        run then completes as after any close, and an unmerge reopens it (case_reopen)."""
        async with self._acting(cmd.actor):
            v = self._view
            now = workflow.now()
            if v.paused_since is not None:
                self._end_pause(now, 0, "closed")
            v.status = CaseStatus.CLOSED
            v.closing_status = ClosingStatus.MERGED
            v.final_note = f"Merged into {cmd.primary_id}"
            v.closed_at = now
            data = {"into": cmd.primary_id} | ({"action": cmd.action_id} if cmd.action_id else {})
            self._record(EventKind.MERGED, cmd.actor, f"Merged into {cmd.primary_id}", data)
            self._rearm = True
            await self._project()
            return self._ack()

    @merge_into.validator
    def _v_merge_into(self, cmd: MergeInto) -> None:
        self._require_actor(cmd.actor)
        require(self._patched(PATCH_MERGE), "This case was opened before cases could be merged")
        refuse(checks.merge_into_problem(self._view, cmd.primary_id))

    @workflow.update
    async def merged_from(self, cmd: MergedFrom) -> ActionAck:
        """The primary's timeline: a duplicate merged into it, or taken out (PATCH_MERGE)."""
        async with self._acting(cmd.actor):
            dup = cmd.duplicate_id
            kind, summary = (
                (EventKind.UNMERGED, f"{dup} is no longer merged into this case")
                if cmd.undone
                else (EventKind.MERGED_FROM, f"{dup} was merged into this case")
            )
            data = {"duplicate": dup} | ({"action": cmd.action_id} if cmd.action_id else {})
            self._record(kind, cmd.actor, summary, data)
            await self._project()
            return self._ack()

    @merged_from.validator
    def _v_merged_from(self, cmd: MergedFrom) -> None:
        self._require_actor(cmd.actor)
        require(self._patched(PATCH_MERGE), "This case was opened before cases could be merged")
        refuse(checks.merged_from_problem(self._view, cmd.duplicate_id))

    # ------------------------------------------------------------------ signal and query

    @workflow.signal
    def remeasure_answer(self, answer: RemeasureAnswer) -> None:
        if self._view.paused_since is not None:  # PATCH_PAUSE: the customer answered
            self._customer_answered(answer.source)
            return
        # Signals have no validator: late, duplicate or malformed answers are dropped here.
        if self._view.remeasure_status != RemeasureStatus.PENDING or self._answer is not None:
            workflow.logger.info("Ignoring remeasurement answer: no survey is pending")
            return
        if not 1 <= answer.satisfaction <= 5:
            workflow.logger.warning(
                "Ignoring remeasurement answer with score %s", answer.satisfaction
            )
            return
        self._answer = answer

    @workflow.signal
    def customer_replied(self, reply: CustomerReplied) -> None:
        """An inbound answer from the customer: a waiting case resumes (PATCH_PAUSE); an
        inbound mail is taken by the main loop (PATCH_INBOUND)."""
        if reply.reference:
            self._replies.append(reply)
            self._rearm = True
            return
        if self._view.paused_since is None:
            workflow.logger.info("Customer reply on a case that is not waiting: nothing to resume")
            return
        self._customer_answered(reply.source)

    async def _take_reply(self, reply: CustomerReplied) -> None:
        """An inbound mail on the timeline: the customer's words and attachments (the owner is
        told, a waiting case resumes), or an automatic reply, which changes nothing else."""
        if not self._patched(PATCH_INBOUND):  # a case from before: only the pause's old rule
            if not reply.automatic and self._view.paused_since is not None:
                self._customer_answered(reply.source)
            return
        who = f"customer ({reply.source[:40]})"
        if reply.automatic:
            self._record(
                EventKind.AUTO_REPLY, who, "Automatic reply received", {"inbound": reply.reference}
            )
            await self._project()
            return
        if reply.opening:
            self._attached(who, reply)
            await self._project()
            return
        text = reply.text[:20000]
        self._record(
            EventKind.CUSTOMER_REPLY,
            who,
            "The customer answered by email",
            {"inbound": reply.reference, "text": text},
        )
        self._attached(who, reply)
        if self._view.paused_since is not None:
            await self._resume(who, "The customer answered")
        else:
            await self._project()
        await self._notify(
            f"customer_reply:{reply.reference}", MessageKind.CUSTOMER_REPLY, [self._view.owner_id]
        )

    def _attached(self, who: str, reply: CustomerReplied) -> None:
        for doc in reply.documents:
            self._record(
                EventKind.DOCUMENT,
                who,
                f"Attached {doc.filename}",
                {
                    "document_id": doc.document_id,
                    "filename": doc.filename,
                    "content_type": doc.content_type,
                    "size": doc.size,
                },
            )

    def _customer_answered(self, source: str) -> None:
        if self._view.status == CaseStatus.CLOSED:
            return
        self._customer_back = f"customer ({source[:40]})"
        self._rearm = True

    @workflow.signal
    async def policy_changed(self, msg: PolicyChanged) -> None:
        """The program's new calendar or SLA, for open cases too (PATCH_FOLLOW_POLICY)."""
        # After the run has decided its patches (a signal may come with a run's first task).
        await workflow.wait_condition(lambda: self._ready)
        if not self._patched(PATCH_FOLLOW_POLICY):
            workflow.logger.info("Policy change ignored: the case keeps its opening snapshot")
            return
        async with self._changing():
            await self._follow_policy(msg)

    async def _follow_policy(self, msg: PolicyChanged) -> None:
        """Move the open deadlines to the new policy, keeping the business time used; a
        closed case, another program's policy or a change already followed change nothing."""
        v = self._view
        if (
            v.status == CaseStatus.CLOSED
            or msg.policy.program_id != self._policy.program_id
            or msg.ref in self._followed
        ):
            return
        open_live = v.status == CaseStatus.NEW and not v.open_breached
        resolve_live = not v.resolve_breached
        before = Deadlines(
            open_due_at=v.open_due_at if open_live else None,
            open_warn_at=self._open_warn_at if open_live else None,
            resolve_due_at=v.resolve_due_at if resolve_live else None,
            resolve_warn_at=self._resolve_warn_at if resolve_live else None,
        )
        after: Deadlines = await workflow.execute_local_activity_method(
            CalendarActivities.follow_policy,
            FollowRequest(
                old=self._policy,
                new=msg.policy,
                priority=v.priority,
                now=workflow.now(),
                deadlines=before,
                resolve_reassigned=self._resolve_clock[1],
                paused_since=v.paused_since,
                open_paused=self._paused(PauseMetric.OPEN),
                resolve_paused=self._paused(PauseMetric.RESOLVE),
            ),
            start_to_close_timeout=SHORT,
            retry_policy=self._local_retry(),
            summary="deadlines on the program's new policy",
        )
        self._policy = msg.policy
        self._followed.append(msg.ref)
        moved: list[tuple[str, datetime | None, datetime | None]] = []
        if open_live and after.open_due_at != v.open_due_at:
            moved.append(("open", v.open_due_at, after.open_due_at))
            v.open_due_at, self._open_warn_at = after.open_due_at, after.open_warn_at
        if resolve_live and after.resolve_due_at != v.resolve_due_at:
            moved.append(("resolve", v.resolve_due_at, after.resolve_due_at))
            v.resolve_due_at, self._resolve_warn_at = after.resolve_due_at, after.resolve_warn_at
            self._deadline_gen += 1  # a new deadline: its warning may fire again
        if not moved:
            return
        self._record(
            EventKind.DEADLINE_MOVED, "system", *said.deadlines_moved(msg.reason, msg.ref, moved)
        )
        self._rearm = True
        await self._project()

    @workflow.query
    def state(self) -> CaseState:
        return CaseState(view=self._snapshot(), timeline=list(self._timeline))

    # ------------------------------------------------------------------ helpers

    def _require_actor(self, actor: Actor) -> None:
        """Who may act (domain.permissions): admins, the owner, full-access watchers."""
        refused = refusal(actor, self._view)
        if refused is not None:
            kind = CONFLICT if refused.conflict else FORBIDDEN
            raise ApplicationError(refused.message, type=kind, non_retryable=True)

    @asynccontextmanager
    async def _acting(self, actor: Actor) -> AsyncIterator[None]:
        """An owner action: after the case opened, alone (the case lock), by someone still
        allowed (an action that waited may find the case closed or handed over)."""
        # An update may arrive before the first deadlines are known; let intake finish first.
        await workflow.wait_condition(lambda: self._ready)
        async with self._changing():
            self._require_actor(actor)
            yield

    @asynccontextmanager
    async def _changing(self) -> AsyncIterator[None]:
        """One change of the case at a time: a handler or a deadline that awaits an activity
        holds the lock, so another cannot change the case in between (PATCH_CASE_LOCK)."""
        if not self._patched(PATCH_CASE_LOCK):
            yield
            return
        async with self._lock:
            yield

    async def _owner_activity(
        self, actor: Actor, kind: str, summary: str, data: dict[str, Any]
    ) -> ActionAck:
        v = self._view
        if v.first_action_at is None:
            v.first_action_at = workflow.now()
        # Only the open deadline's timers depend on it (PATCH_SMALL_HISTORY: a note on a case
        # in progress leaves the running timer alone).
        rearm = not self._small or v.status == CaseStatus.NEW
        if v.status in (CaseStatus.NEW, CaseStatus.OVERDUE):
            v.status = CaseStatus.IN_PROGRESS
        self._record(kind, actor, summary, data)
        self._rearm = self._rearm or rearm
        await self._project()
        return self._ack()

    def _ack(self) -> ActionAck:
        return ActionAck(self._view.case_id, self._view.version, self._view.status)

    def _hand_over(self, new_owner: str, keep_previous: Access | None) -> None:
        self._view.watchers = clock.handed_over(self._view, new_owner, keep_previous)
        self._view.owner_id = new_owner
        self._rearm = True

    async def _compute_deadlines(
        self, start: datetime, *, open: bool, resolve: bool, reassigned: bool = False
    ) -> Deadlines:
        if resolve:
            self._resolve_clock = (start, reassigned)
        return await workflow.execute_local_activity_method(
            CalendarActivities.compute_deadlines,
            DeadlineRequest(
                start=start,
                policy=self._policy,
                priority=self._view.priority,
                open=open,
                resolve=resolve,
                after_reassignment=reassigned,
            ),
            start_to_close_timeout=SHORT,
            retry_policy=self._local_retry(),
            summary="compute deadlines",
        )

    def _local_retry(self) -> RetryPolicy:
        return LOCAL_RETRY if self._patched(PATCH_PROMPT_RECOVERY) else QUICK_RETRY

    def _patched(self, name: str) -> bool:
        """The decision taken when the case started. An older case decides the patches it has
        markers for at their first use, and takes no newer one."""
        decided = self._decided.get(name)
        if decided is not None:
            return decided
        return workflow.patched(name) if name in DECIDED_LATE else False

    def _apply_deadlines(self, d: Deadlines) -> None:
        v = self._view
        if d.open_due_at is not None:
            v.open_due_at, self._open_warn_at = d.open_due_at, d.open_warn_at
        if d.resolve_due_at is not None:
            v.resolve_due_at, self._resolve_warn_at = d.resolve_due_at, d.resolve_warn_at
            self._deadline_gen += 1
        self._rearm = True

    def _record(
        self, kind: str, actor: str | Actor, summary: str, data: dict[str, Any] | None = None
    ) -> None:
        """A timeline event by `actor` (a user id, or the Actor of an action: then the API
        client acting for them, if any, is in the event's data as "via")."""
        self._view.version += 1
        data = data or {}
        if isinstance(actor, Actor):
            if actor.via:  # only a delegated action has it: older histories record the same
                data = {**data, "via": actor.via}
            actor = actor.user_id
        event = TimelineEvent(
            seq=self._view.version,
            at=workflow.now(),
            kind=kind,
            actor=actor,
            summary=summary,
            data=data,
        )
        self._timeline.append(event)
        self._unprojected.append(event)
        self._events += 1

    def _snapshot(self) -> CaseView:
        return copy.deepcopy(self._view)

    def _full_watchers(self) -> list[str]:
        return clock.full_watchers(self._view)

    async def _project(self) -> None:
        """Write the current view and unwritten events; older snapshots lose on version."""
        events, self._unprojected = self._unprojected, []
        view = self._snapshot()
        self._publish(view)
        summary = f"project v{view.version}: {', '.join(e.kind for e in events) or 'state'}"
        if not self._patched(PATCH_STEP_FAILURES):
            await workflow.execute_local_activity_method(
                ProjectionActivities.project_case,
                ProjectRequest(view=view, events=events, calendar=self._policy.calendar),
                start_to_close_timeout=SHORT,
                retry_policy=self._local_retry(),
                summary=summary,
            )
            return
        request = ProjectRequest(view, events, self._policy.calendar, self._projection_failed)
        try:
            await workflow.execute_local_activity_method(
                ProjectionActivities.project_case,
                request,
                start_to_close_timeout=SHORT,
                retry_policy=self._local_retry(),
                summary=summary,
            )
        except (ActivityError, ApplicationError) as err:
            # The events of this projection stay in the history and the state query only.
            self._projection_failed = True
            await self._flag("projection", view.version, failed_for_good(err))
            return
        self._projection_failed, self._projected = False, True
        if self._small:
            # The read model has them: the workflow keeps no copy of their text, only a reopen's
            # idempotency key (services/case_reopen.py looks for it in the state query).
            for event in events:
                action = event.data.get("action") if event.kind == EventKind.REOPENED else None
                event.summary, event.data = "", {"action": action} if action else {}

    async def _flag(self, step: str, version: int, error_type: str) -> None:
        """Mark the case as failed at `step` and tell the admins (ids and error type only)."""
        await workflow.execute_local_activity_method(
            FailureActivities.record_failure,
            StepFailure(self._view.case_id, step, version, error_type),
            start_to_close_timeout=SHORT,
            retry_policy=self._local_retry(),
            summary=f"flag: {step} failed ({error_type})",
        )

    def _publish(self, v: CaseView) -> None:
        """Search attributes and current details for admins in the Temporal UI."""
        updates = case_search_attributes(v)
        if not self._small or updates != self._published:
            workflow.upsert_search_attributes(updates)
            self._published = updates
        workflow.set_current_details(said.current_details(v))

    async def _notify(
        self,
        event_key: str,
        kind: str,
        to: list[str],
        cc: list[str] | None = None,
        *,
        to_customer: bool = False,
        **context: str,
    ) -> None:
        """Write the message to the outbox (local activity), then deliver it in the background."""
        patched = self._patched(PATCH_STEP_FAILURES)
        if patched and not self._projected:
            # The outbox row is rendered from the case's row, which was never written: waiting
            # for it would retry forever.
            await self._flag("notification", self._view.version, "CaseNotProjected")
            return
        try:
            outbox_id = await workflow.execute_local_activity_method(
                NotificationActivities.notify,
                Notification(
                    case_id=self._view.case_id,
                    event_key=event_key,
                    kind=kind,
                    to_user_ids=to,
                    cc_user_ids=[u for u in (cc or []) if u not in to],
                    to_customer=to_customer,
                    context=context,
                ),
                start_to_close_timeout=SHORT,
                retry_policy=self._local_retry(),
                summary=f"notify {kind} → {', '.join(to) or 'customer'}",
            )
        except (ActivityError, ApplicationError) as err:
            if not patched:
                raise
            await self._flag("notification", self._view.version, failed_for_good(err))
            return
        self._deliver(outbox_id, kind)

    def _deliver(self, outbox_id: int | None, kind: str) -> None:
        """Start the SMTP delivery of an outbox row without waiting for it."""
        if outbox_id is None:
            return
        handle = workflow.start_activity_method(
            MailActivities.deliver,
            DeliveryRequest(outbox_id=outbox_id, case_id=self._view.case_id, kind=kind),
            start_to_close_timeout=DELIVERY_ATTEMPT,
            schedule_to_close_timeout=DELIVERY_GIVE_UP,
            retry_policy=DELIVERY_RETRY,
            summary=f"deliver {kind} (outbox {outbox_id})",
        )
        self._deliveries += 1

        def done(task: Any) -> None:
            self._deliveries -= 1
            if task.cancelled():
                return
            if (err := task.exception()) is not None:
                # The row keeps its error for the admin outbox page; the case goes on.
                workflow.logger.warning("Delivery of outbox %s gave up: %s", outbox_id, err)

        handle.add_done_callback(done)
