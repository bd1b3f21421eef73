"""Uploaded documents: the type comes from the content (magic bytes), never from the name.

Allowed: PDF, PNG, JPEG, GIF and plain UTF-8 text. A name whose extension claims another type
than the content is refused (a "lying extension"), and the bytes are stored under a
server-generated name, so nothing the uploader chose ever becomes a path.

The bytes are encrypted at rest (AES-256-GCM, the payload key ring of core/payload_crypto.py:
a header names the key); files stored before that have no header and are read as they are. All
of one case's documents together stay under UPLOAD_CASE_QUOTA_BYTES.
"""

from __future__ import annotations

import os
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select

from core.payload_crypto import KeyRing
from models.case import Document

# content type -> extensions a file of that type may carry ("" = no extension)
ALLOWED: dict[str, frozenset[str]] = {
    "application/pdf": frozenset({".pdf"}),
    "image/png": frozenset({".png"}),
    "image/jpeg": frozenset({".jpg", ".jpeg", ".jpe", ".jfif"}),
    "image/gif": frozenset({".gif"}),
    "text/plain": frozenset({".txt", ".text", ".log", ".csv", ".md", ""}),
}
ACCEPT = ",".join(sorted({ext for exts in ALLOWED.values() for ext in exts if ext}))
_MARKUP = (b"<!doctype html", b"<html", b"<script", b"<svg", b"<?xml", b"<iframe")


class UploadRefused(ValueError):
    """Why the file cannot be accepted, in words for the uploader."""

    def __init__(self, message: str, status: int = 422, field: str = "file") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field


def sniff(data: bytes) -> str | None:
    """The content type by magic bytes; None when not one of the allowed kinds."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if _is_plain_text(data):
        return "text/plain"
    return None


def _is_plain_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text) or "\x7f" in text:
        return False
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    # Markup saved as .txt is still markup: refuse it rather than keep a page in disguise.
    return not any(marker in head for marker in _MARKUP)


def clean_filename(name: str | None) -> str:
    """The last path component, without control characters, at most 255 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip().strip(".")
    if not base:
        return "document"
    stem, ext = os.path.splitext(base)
    return stem[: 255 - len(ext[:20])] + ext[:20]


@dataclass
class Checked:
    filename: str
    content_type: str
    size: int


def check_upload(filename: str | None, data: bytes, max_bytes: int) -> Checked:
    if not data:
        raise UploadRefused("The file is empty. Choose a file to upload.")
    if len(data) > max_bytes:
        raise UploadRefused(
            f"The file is larger than the limit of {human_size(max_bytes)}.", status=413
        )
    name = clean_filename(filename)
    kind = sniff(data)
    if kind is None:
        raise UploadRefused(
            "This kind of file is not accepted. Upload a PDF, PNG, JPEG, GIF or plain text file."
        )
    ext = os.path.splitext(name)[1].lower()
    if ext not in ALLOWED[kind]:
        raise UploadRefused(
            f"The file name ends in {ext or 'nothing'}, but its content is "
            f"{_kind_name(kind)}. Rename it or upload the right file."
        )
    return Checked(name, kind, len(data))


def check_metadata(filename: str, content_type: str) -> tuple[str, str]:
    """A document described without its bytes (the API): (clean name, allowed type).

    The type must be one of the allowed kinds (parameters such as `; charset=` are dropped) and
    the name's extension must agree with it, as for an upload checked by its content.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind not in ALLOWED:
        raise UploadRefused(
            f"content_type must be one of {', '.join(sorted(ALLOWED))}.", field="content_type"
        )
    name = clean_filename(filename)
    ext = os.path.splitext(name)[1].lower()
    if ext not in ALLOWED[kind]:
        raise UploadRefused(
            f"The file name ends in {ext or 'nothing'}, which does not fit {kind}.",
            field="filename",
        )
    return name, kind


def download_type(content_type: str) -> str:
    """What a download is served as: the stored type if allowed, else opaque bytes."""
    return content_type if content_type in ALLOWED else "application/octet-stream"


def human_size(n: int) -> str:
    """1536 -> "1.5 KB", 10485760 -> "10 MB" (binary units, as file managers show them)."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _kind_name(kind: str) -> str:
    return {
        "application/pdf": "a PDF",
        "image/png": "a PNG image",
        "image/jpeg": "a JPEG image",
        "image/gif": "a GIF image",
        "text/plain": "plain text",
    }[kind]


def new_document_id() -> str:
    return uuid.uuid4().hex


def stored_path(upload_dir: Path, document_id: str) -> Path:
    """Server-generated name only; the id is validated to be hex before it becomes a path."""
    if not document_id or any(c not in "0123456789abcdef" for c in document_id):
        raise ValueError("not a document id")
    return upload_dir / document_id


def store(upload_dir: Path, document_id: str, data: bytes, ring: KeyRing) -> Path:
    """Write the document's bytes, encrypted under the ring's current key."""
    upload_dir.mkdir(parents=True, exist_ok=True)
    path = stored_path(upload_dir, document_id)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(ring.seal_file(data))
    tmp.replace(path)
    return path


def load(upload_dir: Path, document_id: str, ring: KeyRing) -> bytes | None:
    """The document's bytes in clear; None when there is no such file. A file stored before
    encryption (no header) is returned as it is."""
    path = stored_path(upload_dir, document_id)
    try:
        stored = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    return ring.open_file(stored)


def case_total(session: Session, case_id: str) -> int:
    """The bytes of all documents of a case (as recorded with each)."""
    total = session.exec(
        select(func.coalesce(func.sum(Document.size), 0)).where(col(Document.case_id) == case_id)
    ).one()
    return int(total)


def check_quota(session: Session, case_id: str, size: int, quota: int) -> None:
    """UploadRefused (413) when `size` more bytes would take the case past its quota."""
    used = case_total(session, case_id)
    if used + size > quota:
        left = max(quota - used, 0)
        raise UploadRefused(
            f"This case's documents may take {human_size(quota)} together and "
            f"{human_size(left)} is left: this file ({human_size(size)}) does not fit.",
            status=413,
        )
