"""core/workflow_runner.py: the worker's sandbox runner hands the data converter exactly what the
stock sandboxed runner does (the same serialization context for every payload, the same
results), while compiling its glue code once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from core import workflow_runner
from core.workflow_runner import WorkflowRunner
from tests.runner_workflow import RunnerProbe, echo


def _describe(context: SerializationContext | None) -> str:
    if isinstance(context, ActivitySerializationContext):
        return f"activity {context.activity_type} local={context.is_local}"
    if isinstance(context, WorkflowSerializationContext):
        return f"workflow {context.workflow_id.split('-')[0]}"
    return "none"


class RecordingCodec(PayloadCodec, WithSerializationContext):
    """Passes payloads through; records the context it was given for each call."""

    def __init__(self, log: list[str], context: SerializationContext | None = None) -> None:
        self.log, self.context = log, context

    def with_context(self, context: SerializationContext) -> RecordingCodec:
        return RecordingCodec(self.log, context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.log.append(f"encode {len(payloads)} under {_describe(self.context)}")
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.log.append(f"decode {len(payloads)} under {_describe(self.context)}")
        return list(payloads)


async def _run(env: WorkflowEnvironment, runner: Any) -> tuple[list[str], list[str]]:
    log: list[str] = []
    client = Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=DataConverter(payload_codec=RecordingCodec(log)),
    )
    queue = f"runner-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=[RunnerProbe], activities=[echo], workflow_runner=runner
    ):
        handle = await client.start_workflow(
            RunnerProbe.run, "hello", id=f"probe-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        await handle.signal(RunnerProbe.go)
        result = await handle.result()
    return result, log


async def test_same_contexts_and_result_as_the_stock_sandbox(dev_env: WorkflowEnvironment) -> None:
    stock_result, stock_log = await _run(dev_env, SandboxedWorkflowRunner())
    ours_result, ours_log = await _run(dev_env, WorkflowRunner())
    assert ours_result == stock_result == ["HELLO", "HELLO!"]
    # The activities' payloads were encoded under their own activity context: the direct look-up
    # found the pending commands, as the sandboxed one does.
    assert any("activity runner_echo local=False" in line for line in ours_log)
    assert any("activity runner_echo local=True" in line for line in ours_log)
    assert sorted(ours_log) == sorted(stock_log)


async def test_glue_code_is_compiled_once(dev_env: WorkflowEnvironment) -> None:
    workflow_runner._compiled.cache_clear()
    await _run(dev_env, WorkflowRunner())
    await _run(dev_env, WorkflowRunner())
    info = workflow_runner._compiled.cache_info()
    # Import, create, activate: a few distinct strings, however many tasks ran.
    assert info.currsize <= 4
    assert info.hits > info.misses
