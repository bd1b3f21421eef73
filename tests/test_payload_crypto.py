"""Personal data reaches Temporal encrypted (AES-256-GCM under a key ring), and stays readable
across a key rotation.

Before, every payload lay in clear (`json/plain`) in Temporal's history: anyone with the UI or
the CLI read the customer's name, email, verbatim and notes.
"""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.payload_crypto import (
    ENCODING,
    KEY_ID,
    DecryptionFailed,
    EncryptionCodec,
    KeyRing,
    PayloadKeyError,
    UnknownKeyId,
    key_ring,
    new_key_entry,
    parse_key_ring,
)
from core.settings import Settings
from core.temporal import PLAIN_DATA_CONVERTER, data_converter
from domain.case import Actor
from models.case import CaseEvent
from services.case_start import start_case_workflow
from tests.factories import case_input, running_worker, seed
from tests.live import eventually
from workflows.case import CaseWorkflow
from workflows.messages import AddNote, CaseInput


def ring(*entries: str) -> KeyRing:
    return parse_key_ring(",".join(entries))


def settings_with(*entries: str, **more: Any) -> Settings:
    return Settings(payload_keys=SecretStr(",".join(entries)), **more)


async def test_round_trip_names_the_key_and_hides_the_text() -> None:
    codec = EncryptionCodec(ring(new_key_entry("k1")))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"name":"Kari Nordmann"}')
    [sealed] = await codec.encode([plain])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"k1"
    assert b"Kari" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [plain]
    # Two encryptions of the same payload differ (a fresh nonce each time).
    assert (await codec.encode([plain]))[0].data != sealed.data
    # A payload written before encryption (recorded histories) passes as it is.
    assert await codec.decode([plain]) == [plain]


async def test_unknown_key_tampering_and_relabelling_fail_clearly() -> None:
    k1, k2 = new_key_entry("k1"), new_key_entry("k2")
    [sealed] = await EncryptionCodec(ring(k1)).encode([Payload(data=b"x")])
    with pytest.raises(UnknownKeyId, match=r"'k1'.*not in the payload key ring.*k2"):
        await EncryptionCodec(ring(k2)).decode([sealed])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(DecryptionFailed):
        await EncryptionCodec(ring(k1)).decode([tampered])
    # The key id is authenticated: the same bytes under another name of the same key fail.
    renamed = "k9:" + k1.split(":", 1)[1]
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata[KEY_ID] = b"k9"
    with pytest.raises(DecryptionFailed):
        await EncryptionCodec(ring(renamed, k1)).decode([relabelled])


def test_each_key_sets_up_its_cipher_once_and_old_keys_still_open() -> None:
    k1, k2 = new_key_entry("k1"), new_key_entry("k2")
    old_id, old_sealed = ring(k1).encrypt(b"before the rotation")
    rotated = ring(k2, k1)
    ciphers = rotated._ciphers
    sealed = [rotated.encrypt(b"payload %d" % i) for i in range(3)]
    assert {key_id for key_id, _ in sealed} == {"k2"}  # the newest key seals
    assert [rotated.decrypt(*s) for s in sealed] == [b"payload %d" % i for i in range(3)]
    assert rotated.decrypt(old_id, old_sealed) == b"before the rotation"
    assert rotated._ciphers is ciphers and set(ciphers) == {"k1", "k2"}
    with pytest.raises(UnknownKeyId, match="'k3'"):
        rotated.decrypt("k3", old_sealed)


def test_the_ring_from_settings_env_and_file(tmp_path: Any) -> None:
    k1, k2 = new_key_entry("k1"), new_key_entry("k2")
    assert key_ring(settings_with(k2, k1)).ids == ["k2", "k1"]
    path = tmp_path / "keys"
    path.write_text(f"# newest first\n{k2}\n{k1}  # the old one\n")
    from_file = key_ring(Settings(payload_keys=None, payload_keys_file=path))
    assert from_file.ids == ["k2", "k1"] and from_file.current_id == "k2"
    with pytest.raises(PayloadKeyError, match="PAYLOAD_KEYS"):
        key_ring(Settings(payload_keys=None, payload_keys_file=tmp_path / "none"))
    for bad, message in [
        ("k1:" + base64.b64encode(os.urandom(16)).decode(), "16 bytes"),
        ("k1:not base64!", "base64"),
        ("no-colon", "<key id>:<base64 key>"),
        (f"{k1},{k1}", "twice"),
    ]:
        with pytest.raises(PayloadKeyError, match=message):
            key_ring(settings_with(bad))
    # DEMO_MODE without keys: one derived from SECRET_KEY, stable across restarts.
    demo = Settings(payload_keys=None, demo_mode=True)
    assert key_ring(demo).ids == ["demo"] and key_ring(demo).keys == key_ring(demo).keys


async def test_failures_are_encrypted_too() -> None:
    converter = data_converter(settings_with(new_key_entry("k1")))
    failure = Failure()
    await converter.encode_failure(
        ApplicationError("Kari Nordmann's email bounced", "kari@example.com"), failure
    )
    assert failure.message == "Encoded failure" and not failure.stack_trace
    raw = failure.SerializeToString()
    assert b"Kari" not in raw and b"kari@example.com" not in raw
    assert failure.encoded_attributes.metadata[KEY_ID] == b"k1"
    decoded = await converter.decode_failure(failure)
    assert "Kari Nordmann's email bounced" in str(decoded)


def client_with(env: WorkflowEnvironment, *entries: str) -> Client:
    config = env.client.config()
    config["data_converter"] = data_converter(settings_with(*entries))
    return Client(**config)


async def test_cases_written_under_key_1_decode_after_key_2_becomes_current(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings
) -> None:
    seed(engine)
    k1, k2 = new_key_entry("rot-1"), new_key_entry("rot-2")
    marker = f"Verbatim-{uuid.uuid4().hex}"
    note = f"Note-{uuid.uuid4().hex}"
    case_id = f"T-{uuid.uuid4().hex[:8]}"

    # Started under key 1 (the API of yesterday); no worker has run it yet.
    before = client_with(ts_env, k1)
    inp = case_input(engine, case_id, await ts_env.get_current_time(), verbatim=marker)
    await start_case_workflow(before, settings, inp)

    # Key 2 becomes current; key 1 stays in the ring to decrypt. The worker takes the case over.
    after = client_with(ts_env, k2, k1)
    handle = after.get_workflow_handle_for(CaseWorkflow.run, case_id)
    async with running_worker(after, engine, settings):
        try:

            async def projected() -> bool:
                return (await handle.query(CaseWorkflow.state)).view.version >= 1

            await eventually(projected, within=15, what="the first projection", every=0.05)
            await handle.execute_update(CaseWorkflow.add_note, AddNote(Actor("ole"), note))

            def noted() -> bool:
                with Session(engine) as session:
                    events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id))
                    return any(note in str(e.summary) + str(e.data) for e in events)

            await eventually(noted, within=15, what="the note in the read model", every=0.05)
        finally:
            await handle.terminate("test finished")

    history = await handle.fetch_history()
    raw = history.to_json()
    for secret in (marker, note, inp.details.customer_name):
        assert secret not in raw, f"{secret!r} in clear in the history"
    started = history.events[0].workflow_execution_started_event_attributes
    [sealed_input] = started.input.payloads
    assert sealed_input.metadata[KEY_ID] == b"rot-1"
    accepted = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    key_ids = {p.metadata[KEY_ID] for a in accepted for p in a.input.args.payloads}
    assert key_ids == {b"rot-2"}, "new writes use the current key"

    # Read with the plain converter (what Temporal, its UI or CLI see): ciphertext.
    assert sealed_input.metadata["encoding"] == ENCODING
    with pytest.raises(Exception, match="encoding"):
        PLAIN_DATA_CONVERTER.payload_converter.from_payloads([sealed_input], [CaseInput])
    # With key 1 gone from the ring, the old input no longer decodes: a clear error.
    with pytest.raises(UnknownKeyId, match="rot-1"):
        await client_with(ts_env, k2).data_converter.decode([sealed_input], [CaseInput])
    [decoded] = await after.data_converter.decode([sealed_input], [CaseInput])
    assert decoded.details.verbatim == marker
