"""A small workflow for tests/test_workflow_runner.py: one activity, one local activity, a
signal and a result, so that payloads cross every kind of command."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="runner_echo")
async def echo(text: str) -> str:
    return text.upper()


@workflow.defn(name="RunnerProbe")
class RunnerProbe:
    def __init__(self) -> None:
        self._go = False

    @workflow.signal
    def go(self) -> None:
        self._go = True

    @workflow.run
    async def run(self, text: str) -> list[str]:
        regular = await workflow.execute_activity(
            echo, text, start_to_close_timeout=timedelta(seconds=30)
        )
        local = await workflow.execute_local_activity(
            echo, text + "!", start_to_close_timeout=timedelta(seconds=30)
        )
        await workflow.wait_condition(lambda: self._go)
        return [regular, local]
