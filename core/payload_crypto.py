"""Encryption at rest of what Caseloop hands to Temporal (payloads, failures) and of uploads.

AES-256-GCM under a key ring: the first key encrypts, every key decrypts, so a key is rotated by
putting a new one first and keeping the old ones until nothing written under them is left. Each
encrypted payload names its key in the metadata (`encryption-key-id`) with the encoding
`binary/encrypted`; the key id is also the AES-GCM associated data, so a ciphertext relabelled
with another key id fails to decrypt.

Keys come from settings: PAYLOAD_KEYS (env) or the file PAYLOAD_KEYS_FILE, entries
`<key id>:<32 bytes, base64>` newest first, separated by newlines, commas or spaces (`#` starts a
comment in the file). `make run` makes one into .data/payload_keys and keeps it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import logging
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from core.settings import Settings

log = logging.getLogger(__name__)

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12
DEMO_KEY_ID = "demo"
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Uploads: this header, the key id's length (1 byte), the key id, the nonce, the ciphertext.
FILE_MAGIC = b"CLENC1\n"


_warned: list[bool] = []  # the DEMO_MODE warning, once per process


class PayloadKeyError(RuntimeError):
    """No usable key ring: the API and the worker refuse to start (a clear message)."""


class UnknownKeyId(ValueError):
    """Data encrypted under a key the ring does not hold (removed too early, or another ring)."""


class DecryptionFailed(ValueError):
    """The ciphertext does not open with its key: tampered with, or the key id was reused."""


@dataclass(frozen=True)
class KeyRing:
    """Keys by id, newest first; the first one encrypts."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise PayloadKeyError("the payload key ring is empty")
        ids = [key_id for key_id, _ in self.keys]
        if len(set(ids)) != len(ids):
            raise PayloadKeyError(f"a key id appears twice in the payload key ring: {ids}")

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    @property
    def ids(self) -> list[str]:
        return [key_id for key_id, _ in self.keys]

    def key(self, key_id: str) -> bytes:
        for known, key in self.keys:
            if known == key_id:
                return key
        raise UnknownKeyId(
            f"data is encrypted with key {key_id!r}, which is not in the payload key ring "
            f"(it holds {', '.join(self.ids)}): put the old key back in PAYLOAD_KEYS, after "
            "the current one"
        )

    @functools.cached_property
    def _ciphers(self) -> dict[str, AESGCM]:
        # One cipher object per key, made once: every payload of every workflow task goes
        # through here, and setting up AES-GCM for a key cost as much as sealing a payload.
        return {key_id: AESGCM(key) for key_id, key in self.keys}

    def _cipher(self, key_id: str) -> AESGCM:
        try:
            return self._ciphers[key_id]
        except KeyError:
            self.key(key_id)  # not in the ring: UnknownKeyId, with what to do
            raise

    def encrypt(self, plain: bytes) -> tuple[str, bytes]:
        """(key id, nonce + ciphertext) under the current key."""
        key_id = self.keys[0][0]
        nonce = os.urandom(NONCE_BYTES)
        return key_id, nonce + self._cipher(key_id).encrypt(nonce, plain, key_id.encode())

    def decrypt(self, key_id: str, sealed: bytes) -> bytes:
        cipher = self._cipher(key_id)
        try:
            return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], key_id.encode())
        except InvalidTag as exc:
            raise DecryptionFailed(f"data under key {key_id!r} does not decrypt") from exc

    # Uploads and other files: a self-describing format, so files written before encryption
    # (no header) still read as they are.
    def seal_file(self, plain: bytes) -> bytes:
        key_id, sealed = self.encrypt(plain)
        raw_id = key_id.encode()
        return FILE_MAGIC + bytes([len(raw_id)]) + raw_id + sealed

    def open_file(self, stored: bytes) -> bytes:
        if not stored.startswith(FILE_MAGIC):
            return stored  # written before uploads were encrypted
        rest = stored[len(FILE_MAGIC) :]
        size = rest[0]
        key_id = rest[1 : 1 + size].decode()
        return self.decrypt(key_id, rest[1 + size :])


def new_key_entry(key_id: str | None = None) -> str:
    """A fresh `<id>:<base64 key>` entry (the id: the date-free random `k-xxxxxxxx`)."""
    key_id = key_id or f"k-{secrets.token_hex(4)}"
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def parse_key_ring(text: str, *, source: str = "PAYLOAD_KEYS") -> KeyRing:
    entries: list[tuple[str, bytes]] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        for entry in re.split(r"[\s,]+", line.strip()):
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep or not _KEY_ID_RE.match(key_id):
                raise PayloadKeyError(
                    f"{source}: an entry is not `<key id>:<base64 key>` (key ids: letters, "
                    "digits, '.', '_' and '-', up to 64)"
                )
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise PayloadKeyError(f"{source}: key {key_id!r} is not valid base64") from exc
            if len(key) != KEY_BYTES:
                raise PayloadKeyError(
                    f"{source}: key {key_id!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}"
                )
            entries.append((key_id, key))
    if not entries:
        raise PayloadKeyError(f"{source} holds no key")
    return KeyRing(tuple(entries))


def key_ring(settings: Settings) -> KeyRing:
    """The ring from PAYLOAD_KEYS, else PAYLOAD_KEYS_FILE; in DEMO_MODE without either, one key
    derived from SECRET_KEY (a throw-away demo). Otherwise PayloadKeyError, with what to do."""
    if settings.payload_keys is not None and settings.payload_keys.get_secret_value().strip():
        return parse_key_ring(settings.payload_keys.get_secret_value())
    path = settings.payload_keys_file
    if path is not None and str(path) not in ("", "."):  # an empty variable counts as unset
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            pass
        else:
            return parse_key_ring(text, source=f"PAYLOAD_KEYS_FILE ({path})")
    if settings.demo_mode:
        if not _warned:
            _warned.append(True)
            log.warning("DEMO_MODE: payload encryption key derived from SECRET_KEY; not for live")
        secret = settings.secret_key.get_secret_value().encode()
        derived = hashlib.sha256(b"caseloop payload key\0" + secret).digest()
        return KeyRing(((DEMO_KEY_ID, derived),))
    raise PayloadKeyError(
        "no payload encryption key: personal data in Temporal is encrypted with AES-256-GCM. "
        "Set PAYLOAD_KEYS to `<key id>:<32 random bytes, base64>` (newest first, comma "
        'separated), e.g. `python -c "from core.payload_crypto import new_key_entry; '
        'print(new_key_entry())"`, or PAYLOAD_KEYS_FILE to a file of such lines '
        "(`make run` makes and keeps .data/payload_keys), or DEMO_MODE=1 for a throw-away demo."
    )


class EncryptionCodec(PayloadCodec):
    """Temporal's payload codec: every outgoing payload encrypted under the ring's current key;
    an incoming payload decrypted with the key its metadata names; a payload that is not
    encrypted (histories recorded before encryption) passes as it is."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id, sealed = self.ring.encrypt(payload.SerializeToString())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id.encode()},
            data=sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID)
        if raw_id is None:
            raise UnknownKeyId(f"an encrypted payload carries no {KEY_ID}")
        return Payload.FromString(self.ring.decrypt(raw_id.decode(), payload.data))
