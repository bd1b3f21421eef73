"""Sandboxed workflow instances share their module's code, never its state (core/sandbox.py)."""

from __future__ import annotations

from typing import Any

import temporalio.converter
from temporalio import workflow
from temporalio.api.common.v1 import Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.worker._workflow_instance import WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _fake_info

from core.sandbox import share_workflow_code
from workflows.case import CaseWorkflow


def instance_class(runner: SandboxedWorkflowRunner) -> Any:
    """A new sandboxed instance of CaseWorkflow (as the worker makes one), and its class."""
    det = WorkflowInstanceDetails(
        payload_converter_factory=temporalio.converter.DataConverter.default._new_payload_converter,
        failure_converter_class=temporalio.converter.DataConverter.default.failure_converter_class,
        interceptor_classes=[],
        defn=workflow._Definition.must_from_class(CaseWorkflow),
        info=_fake_info,
        randomness_seed=-1,
        extern_functions={},
        disable_eager_activity_execution=False,
        worker_level_failure_exception_types=[],
        patch_activation_callback=None,
        last_completion_result=Payloads(),
        last_failure=Failure(),
    )
    return runner.create_instance(det).globals_and_locals["__temporal_workflow_class"]  # type: ignore[attr-defined]


async def test_instances_share_the_code_and_nothing_else() -> None:
    share_workflow_code(CaseWorkflow.__module__)
    runner = SandboxedWorkflowRunner()
    first, second = instance_class(runner), instance_class(runner)
    # Each instance executed the module afresh: its own class and globals, not the host's.
    assert first is not second and first is not CaseWorkflow
    assert first._project.__globals__ is not second._project.__globals__
    # ...from one code object per process (the standard loader unmarshals a copy each time).
    assert first._project.__code__ is second._project.__code__
    assert first.reclassify.__code__ is second.reclassify.__code__


def test_outside_a_sandbox_the_standard_loader_imports() -> None:
    share_workflow_code(CaseWorkflow.__module__)
    from core.sandbox import _hook

    assert _hook.find_spec(CaseWorkflow.__module__, None) is None
