"""PolicyFanoutWorkflow: a program's new calendar, holidays or SLA told to its open cases.

Started once per audited program change (its id names the change, so a second start is the
same run: services/deadline_follow.py). It pages through the program's open cases in the read
model and signals each case's workflow, a page at a time, directly from the workflow (no client
in an activity: the signals are commands in this history). A large program continues as new
between pages; a case signalled twice ignores the second (CaseWorkflow follows a change once).
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.open_cases import OpenCase, OpenCaseActivities, OpenCases, OpenCasesPage
    from domain.policy import CasePolicy

    # Only the signal's name is needed: not CaseWorkflow's module executed again per fan-out.
    from workflows.case import CaseWorkflow
    from workflows.messages import FanoutInput, FanoutResult, PolicyChanged


@workflow.defn(name="PolicyFanoutWorkflow")
class PolicyFanoutWorkflow:
    @workflow.run
    async def run(self, inp: FanoutInput) -> FanoutResult:
        after, signalled, skipped = inp.after, inp.signalled, inp.skipped
        for _ in range(inp.pages_per_run):
            page: OpenCases = await workflow.execute_activity_method(
                OpenCaseActivities.open_cases,
                OpenCasesPage(inp.program_id, after, inp.page_size),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
                summary=f"open cases of {inp.program_id} after {after or 'the start'}",
            )
            told = await asyncio.gather(*(self._tell(inp, c) for c in page.cases))
            signalled += sum(told)
            skipped += len(told) - sum(told)
            if page.next_after is None:
                return FanoutResult(signalled, skipped)
            after = page.next_after
        workflow.continue_as_new(
            dataclasses.replace(inp, after=after, signalled=signalled, skipped=skipped)
        )

    async def _tell(self, inp: FanoutInput, case: OpenCase) -> bool:
        policy: CasePolicy | None = inp.policies.get(case.unit_id)
        if policy is None:
            return False
        handle = workflow.get_external_workflow_handle(case.case_id)
        try:
            await handle.signal(
                CaseWorkflow.policy_changed, PolicyChanged(policy, inp.ref, inp.reason)
            )
        except FailureError as err:  # the case's workflow is gone (completed, terminated)
            workflow.logger.info("Case %s not told of the change: %s", case.case_id, err)
            return False
        return True
