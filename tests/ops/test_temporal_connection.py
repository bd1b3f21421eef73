"""Connecting through Temporal's environment configuration (TOML profile and TEMPORAL_* env)."""

from __future__ import annotations

import uuid
from functools import partial
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.payload_crypto import EncryptionCodec
from core.settings import Settings
from core.temporal import connect, connect_config
from tests.live import eventually, free_port


@pytest.fixture(scope="module")
async def namespace(dev_env: WorkflowEnvironment) -> str:
    """A namespace of its own, so nothing but the profile can have chosen it."""
    name = f"caseloop-envcfg-{uuid.uuid4().hex[:6]}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    return name


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TEMPORAL_* from the caller; an empty profile file instead of the user's."""
    for var in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    empty = tmp_path / "none.toml"
    empty.write_text("")
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(empty))


async def _usable(client: Client) -> bool:
    """A call in the client's namespace answers (a new namespace needs a moment to be served)."""
    try:
        await client.count_workflows()
    except Exception:
        return False
    return True


def _profile(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "temporal.toml"
    path.write_text(body)
    return path


async def test_a_toml_profile_picks_address_and_namespace(
    dev_env: WorkflowEnvironment, namespace: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    address = dev_env.client.service_client.config.target_host
    path = _profile(
        tmp_path,
        f'[profile.default]\naddress = "127.0.0.1:{free_port()}"\n\n'
        f'[profile.caseloop]\naddress = "{address}"\nnamespace = "{namespace}"\n',
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(path))
    monkeypatch.setenv("TEMPORAL_PROFILE", "caseloop")
    client = await connect(Settings())
    assert (client.service_client.config.target_host, client.namespace) == (address, namespace)
    assert isinstance(client.data_converter.payload_codec, EncryptionCodec)
    await eventually(partial(_usable, client), within=20, what=f"namespace {namespace}")
    assert not await _usable(await Client.connect(address, namespace=f"{namespace}-not-there"))


async def test_env_vars_are_the_profile_and_caseloop_settings_still_win(
    dev_env: WorkflowEnvironment, namespace: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    address = dev_env.client.service_client.config.target_host
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", namespace)
    client = await connect(Settings())
    assert (client.service_client.config.target_host, client.namespace) == (address, namespace)
    await eventually(partial(_usable, client), within=20, what=f"namespace {namespace}")
    # A profile pointing elsewhere loses to what Caseloop was told explicitly.
    path = _profile(tmp_path, f'[profile.default]\naddress = "127.0.0.1:{free_port()}"\n')
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(path))
    monkeypatch.delenv("TEMPORAL_ADDRESS")
    monkeypatch.delenv("TEMPORAL_NAMESPACE")
    explicit = await connect(Settings(temporal_address=address, temporal_namespace="default"))
    assert (explicit.service_client.config.target_host, explicit.namespace) == (address, "default")
    assert await _usable(explicit)
    # Nothing set anywhere: the old defaults.
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(_profile(tmp_path, "")))
    assert connect_config(Settings()) == {"target_host": "localhost:7233", "namespace": "default"}


async def test_api_key_and_tls_come_from_the_profile(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TEMPORAL_API_KEY", "cloud-key")
    cloud = connect_config(Settings(temporal_address="ns.acct.tmprl.cloud:7233"))
    assert cloud["api_key"] == "cloud-key" and cloud["tls"] is True  # an API key means TLS
    monkeypatch.setenv("TEMPORAL_API_KEY", "")  # as compose passes an unset one: no key, no TLS
    assert "tls" not in connect_config(Settings()) and "api_key" not in connect_config(Settings())
    address = dev_env.client.service_client.config.target_host
    path = _profile(
        tmp_path,
        f'[profile.default]\naddress = "{address}"\napi_key = "k-1"\n\n'
        "[profile.default.tls]\ndisabled = true\n",
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(path))
    config = connect_config(Settings())
    assert config["api_key"] == "k-1" and config["tls"] is False
    client = await connect(Settings())  # the key travels as a header; the dev server ignores it
    assert client.api_key == "k-1" and await _usable(client)
