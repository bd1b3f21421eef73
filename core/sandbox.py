"""One copy of a workflow module's code per worker process, however many cases it holds.

The Temporal workflow sandbox executes a workflow's own module afresh for every workflow
instance it creates (a case loaded into the cache, or replayed after an eviction): its own
globals, its own class, nothing shared with another case. With the standard loader that also
means reading and unmarshalling the module's bytecode again, and each cached instance then holds
its own copy of every code object in it: ~137 KB of the ~200 KB a sandboxed CaseWorkflow costs
before it has any state (bench/sandbox_cost.py).

`share_workflow_code` installs an import hook that, inside a sandbox only, serves the named
modules from a code object read once per process. The module is still executed afresh for each
instance (the sandbox's isolation is unchanged); only the immutable code is shared. A side
effect, the one Temporal's issue 607 asks for: a running worker no longer picks up a workflow
file changed on disk at its next instance; it runs the code it started with until it restarts.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Sequence

from temporalio import workflow


class _SharedCode(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.codes: dict[str, types.CodeType] = {}
        self.lock = threading.Lock()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names or not workflow.unsafe.in_sandbox():
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.abc.InspectLoader):
            return None  # not a plain source or bytecode module: the standard loading
        with self.lock:
            if fullname not in self.codes:
                code = spec.loader.get_code(fullname)
                if code is None:
                    return None
                self.codes[fullname] = code
        spec.loader = self
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        # What the standard loader does after reading the code: execute it in the new module.
        exec(self.codes[module.__name__], module.__dict__)


_hook = _SharedCode()


def share_workflow_code(*modules: str) -> None:
    """Sandboxed instances of workflows defined in `modules` share their code (idempotent)."""
    _hook.names.update(modules)
    if _hook not in sys.meta_path:
        sys.meta_path.insert(0, _hook)
