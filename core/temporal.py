"""The one data converter and the one way to connect to Temporal (API, worker, tests, bench)."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Any

from pydantic import TypeAdapter
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from core.payload_crypto import EncryptionCodec, key_ring
from core.settings import Settings
from core.telemetry import temporal_interceptors, temporal_runtime

# One cache for the whole process. The workflow sandbox builds a new payload converter for every
# workflow instance it creates (each replay after a cache eviction), so the stock per-converter
# cache rebuilt the CaseInput schema every time: ~10 % of the worker's CPU in an escalation storm.
_type_adapter = functools.lru_cache(maxsize=1024)(TypeAdapter)


class _SharedAdapterJSON(PydanticJSONPlainPayloadConverter):
    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        hint = Any if type_hint is None else type_hint
        try:
            adapter = _type_adapter(hint)
        except TypeError:  # an unhashable hint cannot be cached: build it (as the stock one does)
            adapter = TypeAdapter(hint)
        return adapter.validate_json(payload.data)


# One instance of each: they hold no per-workflow state (the type adapters are the process's,
# above), and the SDK builds a payload converter several times per workflow task (a data
# converter per activation for decoding, another for encoding, one per serialization context):
# building the pydantic converter each time was ~30 µs, ~3 % of the worker's CPU in a storm.
_SHARED_JSON = _SharedAdapterJSON()
_CONVERTERS = tuple(
    _SHARED_JSON if isinstance(c, JSONPlainPayloadConverter) else c
    for c in DefaultPayloadConverter.default_encoding_payload_converters
)


class PayloadConverter(CompositePayloadConverter):
    """temporalio.contrib.pydantic's converter, with type adapters shared across instances."""

    def __init__(self) -> None:
        super().__init__(*_CONVERTERS)


# Without encryption: for reading raw histories (what Temporal stores) and replaying recorded
# ones. Clients and workers use data_converter(settings).
PLAIN_DATA_CONVERTER = DataConverter(payload_converter_class=PayloadConverter)


def data_converter(settings: Settings) -> DataConverter:
    """The one data converter of clients and workers: payloads encrypted under the key ring
    (core/payload_crypto.py), and failures too: their message and stack trace move into an
    encrypted payload (`encode_common_attributes`), Temporal sees "Encoded failure"."""
    return DataConverter(
        payload_converter_class=PayloadConverter,
        payload_codec=EncryptionCodec(key_ring(settings)),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def connect_config(settings: Settings) -> ClientConnectConfig:
    """Where and how to connect, through Temporal's environment configuration.

    The profile (TEMPORAL_PROFILE, default "default") comes from the TOML file at
    TEMPORAL_CONFIG_FILE (or the user's temporal.toml) overlaid with TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_* and TEMPORAL_GRPC_META_*:
    one build runs on a self-hosted cluster or Temporal Cloud. An API key turns TLS on.
    Caseloop's own TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE settings, when set (env, .env or given
    to Settings), win; with neither, localhost:7233 and "default".
    """
    # An empty variable counts as unset (compose passes `${TEMPORAL_API_KEY:-}`; an empty key
    # would still switch TLS on).
    environ = {k: v for k, v in os.environ.items() if v != ""}
    config = ClientConfigProfile.load(override_env_vars=environ).to_client_connect_config()
    given = settings.model_fields_set
    if "temporal_address" in given or "target_host" not in config:
        config["target_host"] = settings.temporal_address
    if "temporal_namespace" in given or "namespace" not in config:
        config["namespace"] = settings.temporal_namespace
    return config


async def connect(
    settings: Settings, *, runtime: Runtime | None = None, lazy: bool = False
) -> Client:
    """The one way to a Temporal client: the one data converter (encrypting: a missing key
    raises PayloadKeyError), tracing when it is on, and
    the process's runtime (Core logs through Python logging; a worker passes one that serves
    Prometheus metrics). `lazy`: connect on first use (and again after a failed connect)."""
    return await Client.connect(
        **connect_config(settings),
        data_converter=data_converter(settings),
        interceptors=temporal_interceptors(settings),
        runtime=runtime or temporal_runtime(),
        lazy=lazy,
    )


class SearchAttributeTypeClash(RuntimeError):
    """A search attribute is registered with another type: a type can never change."""


async def ensure_search_attributes(
    client: Client, namespace: str, keys: Iterable[SearchAttributeKey[Any]]
) -> list[str]:
    """Register those of `keys` the server does not know yet; returns their names.

    The caller passes the keys (workflows.search_attributes.SEARCH_ATTRIBUTES): core knows no
    workflow.
    """
    wanted = {key.name: SearchAttributeIndexedValueType(key.indexed_value_type) for key in keys}
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = {**existing.system_attributes, **existing.custom_attributes}
    except RPCError as err:  # the time-skipping test server cannot list, only add
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = {}
    # Upserts of a clashing key would fail every workflow task that sets it: say so up front.
    clashes = [
        f"{name} is {SearchAttributeIndexedValueType(known[name]).name}, expected {kind.name}"
        for name, kind in wanted.items()
        if name in known and known[name] != kind
    ]
    if clashes:
        raise SearchAttributeTypeClash(
            f"search attributes registered with another type in namespace {namespace}: "
            + "; ".join(clashes)
        )
    missing = {
        name: IndexedValueType.ValueType(kind) for name, kind in wanted.items() if name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
