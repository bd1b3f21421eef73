"""The workflow sandbox, without two costs the stock one pays on every workflow task.

Temporal's sandboxed runner talks to each workflow instance by `exec`-ing a short source string
inside the sandbox: to activate it, and, for every group of payloads the worker encodes or
decodes, twice more (the payloads' serialization context and external-storage context), each
time entering and leaving the sandbox's import and builtins restrictions. Profiled in an
escalation storm (bench/README.md), that was ~20 % of the worker's Python time: compiling the
same strings again and again, and the restriction switches around two dictionary look-ups.

Here the strings are compiled once per process, and the two context look-ups call the
sandboxed instance directly (they read the instance's pending commands and its info; they run
no workflow code and import nothing). Activation is untouched: workflow code still runs inside
the sandbox with its restrictions.
"""

from __future__ import annotations

import functools
from types import CodeType
from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, _runner


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> CodeType:
    return compile(source, "<sandbox>", "exec")


class _Instance(_runner._Instance):
    def _run_code(self, code: str | CodeType, **extra_globals: Any) -> None:
        # The stock `exec(code, ...)` takes a code object as it takes a string.
        compiled = _compiled(code) if isinstance(code, str) else code
        super()._run_code(compiled, **extra_globals)  # type: ignore[arg-type]

    def _in_sandbox(self) -> Any:
        return self.globals_and_locals.get("__temporal_in_sandbox")

    def get_serialization_context(self, command_info: Any) -> Any:
        inner = self._in_sandbox()
        if inner is None:  # not created yet (cannot happen once the instance exists)
            return super().get_serialization_context(command_info)
        return inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> Any:
        inner = self._in_sandbox()
        if inner is None:
            return super().get_external_store_context(command_info)
        return inner.get_external_store_context(command_info)


class WorkflowRunner(SandboxedWorkflowRunner):
    """`SandboxedWorkflowRunner` with the same restrictions, cheaper to talk to."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _Instance(det, self.runner_class, self.restrictions)
