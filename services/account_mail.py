"""Mail about a person's own account (an invitation, a password reset), sent at once.

Straight to the configured SMTP server with the delivery code of case mail
(`activities.mail.send`), not through the outbox: the outbox keeps each body for the admin
page, and these bodies hold a key to an account. Nothing is retried: the person asks again
(a reset) or the admin sends the invitation again, which makes a new link.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from activities.mail import MAIL_POLICY, send
from core.settings import Settings

log = logging.getLogger(__name__)


class MailNotSent(RuntimeError):
    """SMTP is not configured, or the server did not take the message."""


def send_account_mail(settings: Settings, to: str, subject: str, body: str) -> None:
    if not settings.smtp_host:
        raise MailNotSent("SMTP is not configured")
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["Subject"] = " ".join(subject.split())
    msg["From"] = settings.mail_from
    msg["To"] = to
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "caseloop.invalid"
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body, subtype="plain", charset="utf-8")
    try:
        refused = send(settings, msg, [to])
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("account mail not sent: %s", type(exc).__name__)
        raise MailNotSent(type(exc).__name__) from exc
    if refused:
        raise MailNotSent("the server refused the recipient")
