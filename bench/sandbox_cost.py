"""What one sandboxed workflow instance costs the worker before it has any state, and why.

The Temporal workflow sandbox gives every workflow instance it creates (a case loaded into the
cache, or replayed after an eviction) its own module namespace: the workflow's module and every
module it imports that is not passed through are executed again for that instance. This script
creates instances the way the worker does (`SandboxedWorkflowRunner.create_instance`, as its
`prepare_workflow` check does, with placeholder info), keeps them alive, and prints per instance:
the memory allocated (tracemalloc), the time to create it, and the modules executed afresh in it,
largest first. The floor, in the same run: a minimal sandboxed workflow (a module of a few lines,
the SDK's own per-instance cost).

    python bench/sandbox_cost.py                  # 30 instances of each
    python bench/sandbox_cost.py --instances 100 --top 15

Bytecode is compiled first, as `python worker.py` does. CaseWorkflow is measured twice: with
the standard loader (each instance unmarshals and holds its own copy of workflows/case.py's
code), then as the worker runs it, with `core.sandbox.share_workflow_code` (each instance still
executes the module afresh, with its own globals and class, from one code object per process).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLOOR_MODULE = """
from temporalio import workflow


@workflow.defn(name="BareSandboxed")
class BareSandboxed:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def state(self) -> bool:
        return self.done
"""


def details(defn: Any) -> Any:
    """What the worker hands the runner for an instance; placeholder info, as prepare_workflow."""
    from temporalio.api.common.v1 import Payloads
    from temporalio.api.failure.v1 import Failure
    from temporalio.worker._workflow_instance import WorkflowInstanceDetails
    from temporalio.worker.workflow_sandbox._runner import _fake_info

    from core.settings import Settings
    from core.temporal import data_converter

    converter = data_converter(Settings(demo_mode=True))
    return WorkflowInstanceDetails(
        payload_converter_factory=converter._new_payload_converter,
        failure_converter_class=converter.failure_converter_class,
        interceptor_classes=[],
        defn=defn,
        info=_fake_info,
        randomness_seed=-1,
        extern_functions={},
        disable_eager_activity_execution=False,
        worker_level_failure_exception_types=[],
        patch_activation_callback=None,
        last_completion_result=Payloads(),
        last_failure=Failure(),
    )


def fresh_modules(instance: Any) -> list[str]:
    """The modules this instance executed itself (not the host's, passed through)."""
    return sorted(
        name
        for name, mod in instance.importer.new_modules.items()
        if sys.modules.get(name) is not mod and name not in ("__main__", "sys", "builtins")
    )


def measure(cls: type, n: int, top: int) -> tuple[float, float, list[tuple[str, float]], list[str]]:
    """KB per instance, ms per instance, KB per instance by source file, fresh modules."""
    from temporalio import workflow
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    runner = SandboxedWorkflowRunner()
    defn = workflow._Definition.must_from_class(cls)
    det = details(defn)
    runner.create_instance(det)  # the first one warms the host's passed-through imports
    gc.collect()
    kept = []
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        kept.append(runner.create_instance(det))
        times.append(time.perf_counter() - t0)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    by_file: dict[str, float] = defaultdict(float)
    for stat in after.compare_to(before, "filename"):
        name = stat.traceback[0].filename
        name = name.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        by_file[name] += stat.size_diff / 1024 / n
    biggest = sorted(by_file.items(), key=lambda kv: -kv[1])[:top]
    return total / 1024 / n, statistics.median(times) * 1000, biggest, fresh_modules(kept[0])


async def main(n: int, top: int) -> None:
    """In a running loop: each instance registers itself on the loop, as in the worker."""
    from core.sandbox import share_workflow_code
    from worker import _compile_sandboxed
    from workflows.case import CaseWorkflow

    _compile_sandboxed()

    tmp = Path(tempfile.mkdtemp(prefix="sandbox-cost-"))
    (tmp / "bare_sandboxed.py").write_text(FLOOR_MODULE)
    sys.path.insert(0, str(tmp))
    # By name, as the sandbox imports it (a module of the run, not a dependency).
    BareSandboxed = importlib.import_module("bare_sandboxed").BareSandboxed

    bare_kb, bare_ms, _, bare_fresh = measure(BareSandboxed, n, top)
    own_kb, own_ms, own_files, case_fresh = measure(CaseWorkflow, n, top)
    share_workflow_code(CaseWorkflow.__module__)  # as worker.build_worker does
    case_kb, case_ms, case_files, _ = measure(CaseWorkflow, n, top)
    extra = sorted(set(case_fresh) - set(bare_fresh))
    print(f"sandboxed instances, {n} of each, kept alive (placeholder info, no state yet)")
    for what, kb, ms in (
        ("CaseWorkflow, shared code (as the worker runs it)", case_kb, case_ms),
        ("CaseWorkflow, standard loader (own copy of the code)", own_kb, own_ms),
    ):
        print(f"  {what}:")
        print(
            f"    {kb:8.1f} KB  {ms:6.1f} ms per instance   ratio to the floor "
            f"{kb / max(bare_kb, 0.1):5.2f}  {ms / max(bare_ms, 0.01):5.2f}"
        )
    print(f"  floor, a bare sandboxed workflow: {bare_kb:8.1f} KB  {bare_ms:6.1f} ms per instance")
    print(f"  modules executed per instance: {len(case_fresh)} (bare: {len(bare_fresh)})")
    print(f"  of ours, beyond the bare floor: {', '.join(extra) or 'none'}")
    for what, files in (("shared code", case_files), ("standard loader", own_files)):
        print(f"  KB per CaseWorkflow instance by the file that allocated it ({what}):")
        for name, kb in files:
            print(f"    {kb:8.1f}  {name}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=30)
    parser.add_argument("--top", type=int, default=12, help="files listed")
    args = parser.parse_args()
    asyncio.run(main(args.instances, args.top))
