"""Inbound mail, the pure part: reply addresses, what a message is, and the customer's own words.

A case's reply address is `<local>+<case id>.<tag>@<domain>`: the tag is a short HMAC of the
case id under the server's secret, so nobody can write into a case by guessing its number.
An automatic answer (RFC 3834 `Auto-Submitted`, `X-Autoreply`, `Precedence: bulk`, ...) or a
delivery report (RFC 3464) is never taken for the customer's words.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from domain.vocabulary import InboundKind

TAG_LENGTH = 10  # hex digits of the HMAC: 40 bits, enough against guessing over SMTP
_CASE_ID = re.compile(r"^[A-Za-z0-9-]{1,20}$")


def reply_tag(secret: bytes, case_id: str) -> str:
    return hmac.new(secret, f"reply:{case_id}".encode(), hashlib.sha256).hexdigest()[:TAG_LENGTH]


def reply_address(secret: bytes, local: str, domain: str, case_id: str) -> str:
    """The address a customer's answer to this case is sent to."""
    return f"{local}+{case_id}.{reply_tag(secret, case_id)}@{domain}"


@dataclass(frozen=True)
class Recipient:
    """What a recipient address at the reply domain means: a case (by plus address), or the
    bare base address (threaded by In-Reply-To/References only)."""

    case_id: str | None


def parse_reply_address(secret: bytes, local: str, domain: str, address: str) -> Recipient | None:
    """The case a reply address names; None when it is not ours or its tag is wrong."""
    box, _, host = address.strip().strip("<>").rpartition("@")
    if not box or host.lower() != domain.lower():
        return None
    base, plus, detail = box.partition("+")
    if base.lower() != local.lower():
        return None
    if not plus:
        return Recipient(None)
    case_id, dot, tag = detail.rpartition(".")
    if not dot or not _CASE_ID.match(case_id):
        return None
    if not hmac.compare_digest(tag.lower(), reply_tag(secret, case_id)):
        return None
    return Recipient(case_id)


# ---------------------------------------------------------------- classification

_AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-response-suppress-this")


def classify(headers: Mapping[str, str], content_type: str, report_type: str = "") -> InboundKind:
    """A person's answer, an automatic reply, or a bounce (headers lower-cased as keys)."""
    if content_type.lower() == "multipart/report" and report_type.lower() == "delivery-status":
        return InboundKind.BOUNCE
    sender = headers.get("return-path", "").strip()
    daemon = headers.get("from", "").lower().startswith(("mailer-daemon", "postmaster"))
    if sender in ("<>", "") and daemon:
        return InboundKind.BOUNCE
    auto = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return InboundKind.AUTO_REPLY
    if any(headers.get(h) for h in _AUTO_HEADERS):
        return InboundKind.AUTO_REPLY
    if headers.get("precedence", "").strip().lower() in _AUTO_PRECEDENCE:
        return InboundKind.AUTO_REPLY
    if headers.get("x-auto-response-suppress", "").strip().lower() in ("all", "oof"):
        return InboundKind.AUTO_REPLY
    return InboundKind.CUSTOMER


# ---------------------------------------------------------------- the customer's own words

# "On Tue, 3 Dec 2026 at 10:00, Caseloop <x@y> wrote:" (may wrap over two lines), and the
# Norwegian "Den tir. 3. des. 2026 kl. 10:00 skrev Caseloop <x@y>:".
_ATTRIBUTION = re.compile(
    r"^(on\s.{0,300}\swrote:|den\s.{0,300}\sskrev\s.{0,200}:|.{0,200}\sskrev:)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_FORWARD = re.compile(
    r"^-{2,}\s*(original message|opprinnelig melding|forwarded message)\s*-{2,}$", re.I
)
_OUTLOOK = re.compile(r"^(from|fra):\s.+", re.IGNORECASE)
_SIGNATURE = re.compile(
    r"^(--\s?|_{5,}|sent from my .{1,40}|sendt fra min .{1,40}|get outlook for .{1,30})$",
    re.IGNORECASE,
)


def strip_quotes(text: str) -> str:
    """The new text of a reply: quoted lines, the "On ... wrote:" block below them, forwarded
    originals and the signature are cut; what is left is trimmed. Never empty when the message
    had words but all of them looked quoted: then the text is kept as it was."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(">"):
            break
        two = f"{stripped} {lines[i + 1].strip()}" if i + 1 < len(lines) else stripped
        if _ATTRIBUTION.match(stripped) or (
            stripped.lower().startswith(("on ", "den ")) and _ATTRIBUTION.match(two)
        ):
            break
        if _FORWARD.match(stripped) or _SIGNATURE.match(stripped):
            break
        if _OUTLOOK.match(stripped) and _outlook_header(lines[i:]):
            break
        kept.append(line.rstrip())
    result = "\n".join(kept).strip()
    return result or text.strip()


def _outlook_header(lines: list[str]) -> bool:
    """Outlook's quoted header: From:, then Sent:/Date:/To:/Subject: lines right below."""
    names = ("sent:", "date:", "to:", "subject:", "sendt:", "dato:", "til:", "emne:")
    following = [x.strip().lower() for x in lines[1:4]]
    return sum(1 for x in following if x.startswith(names)) >= 2


def message_ids(*values: str | None) -> list[str]:
    """The Message-IDs in In-Reply-To / References headers, in order, each once."""
    found: list[str] = []
    for value in values:
        for mid in re.findall(r"<[^<>\s]{1,250}>", value or ""):
            if mid not in found:
                found.append(mid)
    return found
