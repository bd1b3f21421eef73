"""Small pure pieces of the web layer: content sniffing, file names, the login limiter."""

from __future__ import annotations

import pytest

from services.documents import UploadRefused, check_upload, clean_filename, sniff, stored_path
from web.auth import LoginLimiter
from web.templating import options


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"%PDF-1.7\n...", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n\x00", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        ("Grüße, plain text\n\ttabbed".encode(), "text/plain"),
        (b"MZ\x90\x00", None),  # a Windows executable
        (b"\x7fELF\x02\x01", None),
        (b"PK\x03\x04", None),  # zip, docx
        (b"\xef\xbb\xbf<!DOCTYPE html><p>", None),  # markup posing as text
        (b"  <svg onload=alert(1)>", None),
        (b"text with a \x00 NUL", None),
        (b"\xff\xfe\x00\x00 not utf-8", None),
    ],
)
def test_sniff_by_content(data: bytes, kind: str | None) -> None:
    assert sniff(data) == kind


def test_extension_must_match_content_and_size_is_limited() -> None:
    assert check_upload("Scan.JPG", b"\xff\xd8\xff\xe0", 100).content_type == "image/jpeg"
    assert check_upload("notes", b"hello", 100).content_type == "text/plain"
    for name, data in (("photo.png", b"%PDF-1.4"), ("run.exe", b"hello"), ("a.pdf", b"hi")):
        with pytest.raises(UploadRefused):
            check_upload(name, data, 100)
    with pytest.raises(UploadRefused) as too_big:
        check_upload("a.txt", b"x" * 101, 100)
    assert too_big.value.status == 413


def test_file_names_and_storage_paths(tmp_path: object) -> None:
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert clean_filename("a\x00b\u202e.txt") == "ab.txt"
    assert clean_filename("...") == "document"
    assert len(clean_filename("x" * 400 + ".pdf")) == 255
    with pytest.raises(ValueError):
        stored_path(tmp_path, "../secret")  # type: ignore[arg-type]


def test_login_limiter_window() -> None:
    limiter = LoginLimiter(max_failures=3, per_ip_failures=5, window_seconds=60)
    for t in range(3):
        assert limiter.retry_after("Ole", "10.0.0.1", now=t) == 0
        limiter.failed("ole", "10.0.0.1", now=t)
    assert limiter.retry_after("OLE", "10.0.0.1", now=3) == 58  # first failure + 60 s
    assert limiter.retry_after("ole", "10.0.0.2", now=3) == 0  # another address
    assert limiter.retry_after("ole", "10.0.0.1", now=61) == 0  # the window slid on
    for t in range(5):
        limiter.failed(f"user{t}", "10.0.0.1", now=61)
    assert limiter.retry_after("someone", "10.0.0.1", now=61) > 0  # the address' wider cap
    limiter.succeeded("ole", "10.0.0.2")


def test_person_options_escape() -> None:
    html = options([("a", "<b>Ann</b>"), ("b", "Bob")], "b", ["x"])
    assert html == (
        '<option value="a">&lt;b&gt;Ann&lt;/b&gt; (a)</option>'
        '<option value="b" selected>Bob (b)</option>'
    )
