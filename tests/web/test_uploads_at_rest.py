"""Uploads are encrypted at rest with the payload key ring, and a case's documents have a quota.

Before, an upload's bytes lay in clear under UPLOAD_DIR, and a case took as many files as anyone
uploaded.
"""

from __future__ import annotations

import asyncio
import html
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlmodel import Session, col, select

from core.payload_crypto import FILE_MAGIC, key_ring, new_key_entry, parse_key_ring
from models.case import Document
from tests.live import eventually
from tests.web.conftest import LiveApp, page_token, sign_in

SECRET_TEXT = "Passport scan of Solveig, number N1234567"


def documents_of(live: LiveApp, case_id: str) -> list[Document]:
    with Session(live.engine) as session:
        return list(session.exec(select(Document).where(col(Document.case_id) == case_id)).all())


@contextmanager
def quota(live: LiveApp, limit: int) -> Iterator[None]:
    """UPLOAD_CASE_QUOTA_BYTES of the running app, for the block (the app reads its settings
    on every upload)."""
    before = live.settings.upload_case_quota_bytes
    live.settings.upload_case_quota_bytes = limit
    try:
        yield
    finally:
        live.settings.upload_case_quota_bytes = before


async def settled(live: LiveApp, case_id: str) -> None:
    def projected() -> bool:
        with Session(live.engine) as session:
            from models.case import Case

            case = session.get(Case, case_id)
            return case is not None and case.version >= 1

    await eventually(projected, what=f"{case_id} projected")


async def test_an_upload_is_stored_encrypted_and_downloads_in_clear(live: LiveApp) -> None:
    case_id = await live.open_case()
    await settled(live, case_id)
    content = f"{SECRET_TEXT} {uuid.uuid4().hex}\n".encode()
    async with sign_in(live, "ole") as ole:
        token = await page_token(ole, f"/cases/{case_id}")
        r = await ole.post(
            f"/cases/{case_id}/documents",
            data={"csrf_token": token},
            files={"file": ("passport.txt", content, "text/plain")},
        )
        assert r.status_code == 303, r.text[:300]
        (doc,) = documents_of(live, case_id)
        stored = await asyncio.to_thread(Path(live.settings.upload_dir, doc.id).read_bytes)
        assert stored.startswith(FILE_MAGIC)
        assert b"Solveig" not in stored and content not in stored
        assert key_ring(live.settings).current_id.encode() in stored[: len(FILE_MAGIC) + 70]
        r = await ole.get(f"/cases/{case_id}/documents/{doc.id}")
        assert r.status_code == 200 and r.content == content
        assert r.headers["content-disposition"] == 'attachment; filename="passport.txt"'
        assert r.headers["content-type"].startswith("text/plain")

        # A file stored before uploads were encrypted (no header) still downloads as it was.
        legacy = b"%PDF-1.7\n% stored in clear by an older version\n%%EOF\n"
        await asyncio.to_thread(Path(live.settings.upload_dir, doc.id).write_bytes, legacy)
        r = await ole.get(f"/cases/{case_id}/documents/{doc.id}")
        assert r.status_code == 200 and r.content == legacy

        # Under a key no longer in PAYLOAD_KEYS: not found (and an error in the log).
        gone = parse_key_ring(new_key_entry("gone")).seal_file(content)
        await asyncio.to_thread(Path(live.settings.upload_dir, doc.id).write_bytes, gone)
        r = await ole.get(f"/cases/{case_id}/documents/{doc.id}")
        assert r.status_code == 404 and content not in r.content


async def test_a_case_past_its_document_quota_refuses_the_next_upload(live: LiveApp) -> None:
    case_id = await live.open_case()
    await settled(live, case_id)
    first = b"%PDF-1.7\n" + b"0" * 3000 + b"\n%%EOF\n"
    async with sign_in(live, "ole") as ole:
        with quota(live, 5000):
            token = await page_token(ole, f"/cases/{case_id}")
            r = await ole.post(
                f"/cases/{case_id}/documents",
                data={"csrf_token": token},
                files={"file": ("one.pdf", first, "application/pdf")},
            )
            assert r.status_code == 303
            r = await ole.post(
                f"/cases/{case_id}/documents",
                data={"csrf_token": token},
                files={"file": ("two.pdf", first, "application/pdf")},
                headers={"HX-Request": "true"},
            )
            assert r.status_code == 413
            text = html.unescape(r.text)
            assert "may take 4.9 KB together" in text and "does not fit" in text, text[:500]
            assert [d.filename for d in documents_of(live, case_id)] == ["one.pdf"]
            # What fits still goes in.
            r = await ole.post(
                f"/cases/{case_id}/documents",
                data={"csrf_token": token},
                files={"file": ("small.txt", b"a short note\n", "text/plain")},
            )
            assert r.status_code == 303
    assert sorted(d.filename for d in documents_of(live, case_id)) == ["one.pdf", "small.txt"]
