"""The one search-attribute registrar (core.temporal) over the one registry (workflows.messages),
used by the suite, `make run` and `scripts/run.py register-search-attributes`, on a real server."""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import sys
import tomllib
import uuid
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from core.settings import ROOT
from core.temporal import SearchAttributeTypeClash, ensure_search_attributes
from tests.live import eventually
from workflows.search_attributes import SEARCH_ATTRIBUTES


def _app_code() -> list[str]:
    """What the wheel holds: pyproject's packages and modules."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = [p.rstrip("*") for p in setuptools["packages"]["find"]["include"]]
    return packages + [f"{m}.py" for m in setuptools["py-modules"]]


async def _registered(env: WorkflowEnvironment, namespace: str) -> dict[str, int]:
    listed = await env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return dict(listed.custom_attributes)


@pytest.fixture
async def namespace(dev_env: WorkflowEnvironment) -> str:
    """A new namespace: nothing registered in it yet."""
    name = f"caseloop-sa-{uuid.uuid4().hex[:6]}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )

    async def served() -> bool:
        try:
            await _registered(dev_env, name)
        except Exception:
            return False
        return True

    await eventually(served, within=60, what=f"namespace {name} served", every=0.5)
    return name


async def test_registers_what_is_missing_once(dev_env: WorkflowEnvironment, namespace: str) -> None:
    client = dev_env.client
    added = await ensure_search_attributes(client, namespace, SEARCH_ATTRIBUTES)
    assert added == sorted(key.name for key in SEARCH_ATTRIBUTES)
    assert await _registered(dev_env, namespace) == {
        key.name: key.indexed_value_type for key in SEARCH_ATTRIBUTES
    }
    assert await ensure_search_attributes(client, namespace, SEARCH_ATTRIBUTES) == []


async def test_a_type_clash_is_refused_and_nothing_is_added(
    dev_env: WorkflowEnvironment, namespace: str
) -> None:
    """A type can never change: upserts of the key would fail every workflow task instead."""
    client = dev_env.client
    await ensure_search_attributes(client, namespace, [SearchAttributeKey.for_bool("CaseOverdue")])
    other: list[SearchAttributeKey[Any]] = [
        SearchAttributeKey.for_float("CaseProbe"),
        SearchAttributeKey.for_int("CaseOverdue"),
    ]
    with pytest.raises(SearchAttributeTypeClash, match="CaseOverdue is BOOL, expected INT"):
        await ensure_search_attributes(client, namespace, other)
    assert set(await _registered(dev_env, namespace)) == {"CaseOverdue"}


async def test_run_script_registers_through_the_same_function(
    dev_env: WorkflowEnvironment, namespace: str
) -> None:
    """`python scripts/run.py register-search-attributes`, as a user runs it."""
    argv = [sys.executable, str(ROOT / "scripts" / "run.py"), "register-search-attributes"]
    argv += ["--address", dev_env.client.service_client.config.target_host]
    argv += ["--namespace", namespace, "--wait", "60"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env["TEMPORAL_CONFIG_FILE"] = os.devnull  # no profile of the user's
    outputs = []
    for _ in range(2):
        done = await asyncio.to_thread(
            subprocess.run, argv, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout.strip())
    assert outputs == [
        "registered: " + ", ".join(sorted(key.name for key in SEARCH_ATTRIBUTES)),
        "registered: nothing (all present)",
    ]
    assert await _registered(dev_env, namespace) == {
        key.name: key.indexed_value_type for key in SEARCH_ATTRIBUTES
    }


def test_app_code_never_imports_the_scripts() -> None:
    """scripts/ holds entry points for developers; nothing deployed may depend on it."""
    offenders = []
    for top in _app_code():
        path = ROOT / top
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                offenders += [
                    f"{file.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "scripts"
                ]
    assert offenders == []
