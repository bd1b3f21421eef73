"""The one search-attribute registrar (core.temporal) over the one registry (workflows.messages),
on a real server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from core.temporal import SearchAttributeTypeClash, ensure_search_attributes
from tests.live import eventually
from workflows.messages import SEARCH_ATTRIBUTES


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
