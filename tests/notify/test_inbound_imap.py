"""Customers' answers fetched from a mailbox over IMAP: a private Dovecot, the real worker.

Dovecot runs as a subprocess with its own configuration in a temporary directory (plain IMAP
on 127.0.0.1, one user from a passwd file, Maildir). The mail goes in with IMAP APPEND, as a
mail server would deliver it, and one `poll_once` cycle hands it to services/inbound.py.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from activities.mail import case_reply_address
from cli.inbound_imap import backoff, message_id_hash, parse_imap_url, poll_forever, poll_once
from core.settings import Settings
from models.case import Case, Document
from models.inbound import InboundMessage
from services.case_actions import run_update
from services.inbound import polled_recipients
from tests.conftest import unavailable
from tests.factories import seed
from tests.live import eventually, free_port
from tests.notify.conftest import SmtpSink, notify_worker, open_test_case
from tests.notify.test_inbound_mail import INTAKE, OLE, PDF, events, mail, until
from workflows.case import CaseWorkflow
from workflows.messages import SendReply

USER, PASSWORD = "caseloop", "s3cret-imap"
PROCESSED = "Caseloop/Processed"


def _accounts() -> tuple[str, str, str]:
    """(login user, internal user, mail user): Dovecot refuses to run its processes as root."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid()).pw_name
        return me, me, me
    for name in ("dovenull", "dovecot"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            unavailable(f"user {name} missing (apt-get install dovecot-imapd creates it)")
    return "dovenull", "dovecot", "dovecot"


@pytest.fixture
def dovecot() -> Iterator[int]:
    """A private Dovecot on a free port; yields the port."""
    path = shutil.which("dovecot", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if path is None:
        unavailable("dovecot not installed (apt-get install dovecot-imapd)")
    assert path is not None
    login, internal, mail_user = _accounts()
    home = Path(tempfile.mkdtemp(prefix="caseloop-dovecot-"))
    home.chmod(0o755)  # Dovecot's own users reach the mail and the sockets in here
    (home / "mail").mkdir()
    shutil.chown(home / "mail", mail_user, mail_user)
    (home / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    port = free_port()
    (home / "dovecot.conf").write_text(
        f"""protocols = imap
listen = 127.0.0.1
base_dir = {home}/run
state_dir = {home}/state
log_path = {home}/dovecot.log
ssl = no
disable_plaintext_auth = no
default_login_user = {login}
default_internal_user = {internal}
login_trusted_networks = 127.0.0.0/8
first_valid_uid = 0
mail_location = maildir:{home}/mail/%u
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {home}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={home}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""
    )
    proc = subprocess.Popen([path, "-F", "-c", str(home / "dovecot.conf")])
    try:
        for _ in range(300):  # until it accepts connections (or has died)
            if proc.poll() is not None:
                log = home / "dovecot.log"
                pytest.fail(f"dovecot exited: {log.read_text() if log.exists() else ''}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def mailbox(port: int) -> IMAPClient:
    imap = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=30)
    imap.login(USER, PASSWORD)
    return imap


def append(port: int, *messages: EmailMessage) -> None:
    """What the mail server does on delivery."""
    with mailbox(port) as imap:
        for msg in messages:
            imap.append("INBOX", msg.as_bytes())


def count(port: int, folder: str) -> int:
    with mailbox(port) as imap:
        if not imap.folder_exists(folder):
            return 0
        return int(imap.folder_status(folder, ["MESSAGES"])[b"MESSAGES"])


async def test_polled_answers_land_on_the_case_once(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    mail_settings: Settings,
    smtp: SmtpSink,
    dovecot: int,
) -> None:
    settings = mail_settings.model_copy(
        update={
            "reply_domain": "reply.example",
            "imap_url": SecretStr(f"imap://{USER}:{PASSWORD}@127.0.0.1:{dovecot}/INBOX"),
        }
    )
    seed(engine)
    async with notify_worker(ts_env, engine, settings):
        case_id = await open_test_case(ts_env, engine, settings)
        await run_update(
            ts_env.client,
            case_id,
            CaseWorkflow.send_reply,
            SendReply(OLE, "ask", "About your room", "Could you send us the receipt?"),
        )
        [sent] = await smtp.wait_for(r"^About your room")
        reply_to = case_reply_address(settings, case_id)
        assert reply_to is not None
        away = mail(reply_to, "Out of office", "I am away.", Auto_Submitted="auto-replied")
        answer = mail(
            "Guest Recovery <support@hotel.example>",  # the mailbox polled: not our address
            "Re: About your room",
            "Here is the receipt.\nKari\n\n> Could you send us the receipt?\n",
            Delivered_To=reply_to,
        )
        answer.add_attachment(PDF, maintype="application", subtype="pdf", filename="receipt.pdf")
        append(dovecot, away, answer)

        polled = await poll_once(settings, engine, ts_env.client)
        assert polled.outcomes == {"threaded": 2}
        [reply] = await eventually(until(engine, case_id, "customer_reply"), what="the answer")
        assert reply.data["text"] == "Here is the receipt.\nKari"
        [auto] = await eventually(until(engine, case_id, "auto_reply"), what="the auto-reply")
        assert auto.summary == "Automatic reply received"
        [doc_event] = await eventually(until(engine, case_id, "document"), what="the receipt")
        with Session(engine) as s:
            doc = s.get(Document, doc_event.data["document_id"])
        assert doc is not None and doc.filename == "receipt.pdf" and doc.case_id == case_id
        assert count(dovecot, "INBOX") == 0 and count(dovecot, PROCESSED) == 2

        # Nothing new: nothing happens.
        assert (await poll_once(settings, engine, ts_env.client)).total == 0

        # The same message again (a crash after handling, before the move): stored once.
        append(dovecot, answer)
        assert (await poll_once(settings, engine, ts_env.client)).outcomes == {"duplicate": 1}
        with Session(engine) as s:
            same = s.exec(
                select(InboundMessage).where(
                    col(InboundMessage.message_id) == str(answer["Message-ID"])
                )
            ).all()
        assert len(same) == 1
        assert len(events(engine, case_id, "customer_reply")) == 1
        assert count(dovecot, "INBOX") == 0 and count(dovecot, PROCESSED) == 3
        assert str(sent.message["Reply-To"]) == reply_to


async def test_a_shared_mailbox_polled_for_a_program_opens_cases(
    ts_env: WorkflowEnvironment,
    engine: Engine,
    mail_settings: Settings,
    smtp: SmtpSink,
    dovecot: int,
) -> None:
    """The mailbox's own address is nobody's here: IMAP_RECIPIENT names the intake mailbox."""
    settings = mail_settings.model_copy(
        update={
            "imap_url": SecretStr(f"imap://{USER}:{PASSWORD}@127.0.0.1:{dovecot}/INBOX"),
            "imap_recipient": INTAKE,
        }
    )
    seed(engine, intake={"email": INTAKE, "unit": "4723"})
    async with notify_worker(ts_env, engine, settings):
        append(dovecot, mail("frontdesk@hotel.example", "Broken shower", "Room 412."))
        assert (await poll_once(settings, engine, ts_env.client)).outcomes == {"opened": 1}

        def opened() -> Case | None:
            with Session(engine) as s:
                return s.exec(select(Case).where(col(Case.channel) == "email")).first()

        case = await eventually(opened, what="a case from the polled mailbox")
        assert case.reason == "Broken shower" and case.contact_email == "kari@example.com"
        assert count(dovecot, PROCESSED) == 1


async def test_without_a_folder_polled_mail_is_flagged_seen(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings, dovecot: int
) -> None:
    """IMAP_MOVE_TO empty: the message stays where it is, seen, and is not taken again."""
    settings = settings.model_copy(
        update={
            "imap_url": SecretStr(f"imap://{USER}:{PASSWORD}@127.0.0.1:{dovecot}"),
            "imap_move_to": "",
        }
    )
    seed(engine)
    append(dovecot, mail("nobody@elsewhere.example", "Hello", "Is anyone there?"))
    assert (await poll_once(settings, engine, ts_env.client)).outcomes == {"unmatched": 1}
    assert (await poll_once(settings, engine, ts_env.client)).total == 0
    with mailbox(dovecot) as imap:
        imap.select_folder("INBOX")
        assert len(imap.search(["SEEN"])) == 1
        assert imap.folder_exists(PROCESSED) is False


async def test_a_wrong_password_raises_and_leaves_the_mail(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings, dovecot: int
) -> None:
    settings = settings.model_copy(
        update={"imap_url": SecretStr(f"imap://{USER}:wrong@127.0.0.1:{dovecot}/INBOX")}
    )
    append(dovecot, mail("nobody@elsewhere.example", "Hello", "Hi"))
    with pytest.raises(LoginError):
        await poll_once(settings, engine, ts_env.client)
    assert count(dovecot, "INBOX") == 1


class Stop(Exception):
    pass


async def test_the_poller_backs_off_while_the_server_is_away_and_recovers(
    ts_env: WorkflowEnvironment, engine: Engine, settings: Settings, dovecot: int
) -> None:
    """Connection refused twice (nobody on the port), then the real server: the pauses grow,
    then fall back to the interval once a cycle works."""
    away = free_port()
    settings = settings.model_copy(
        update={
            "imap_url": SecretStr(f"imap://{USER}:{PASSWORD}@127.0.0.1:{away}/INBOX"),
            "imap_poll_seconds": 1.0,
        }
    )
    seed(engine)
    append(dovecot, mail("nobody@elsewhere.example", "Hello", "Hi"))
    pauses: list[float] = []
    live = settings.model_copy(
        update={"imap_url": SecretStr(f"imap://{USER}:{PASSWORD}@127.0.0.1:{dovecot}/INBOX")}
    )

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 2:  # the server is back
            settings.imap_url = live.imap_url
        if len(pauses) == 3:
            raise Stop

    with pytest.raises(Stop):
        await poll_forever(settings, engine, ts_env.client, sleep=pause)
    assert pauses == [5.0, 10.0, 1.0]
    assert count(dovecot, "INBOX") == 0 and count(dovecot, PROCESSED) == 1


def test_the_imap_url_taken_apart() -> None:
    box = parse_imap_url("imaps://support%40hotel.example:p%2Fw@mail.example")
    assert (box.host, box.port, box.tls, box.folder) == ("mail.example", 993, True, "INBOX")
    assert (box.user, box.password) == ("support@hotel.example", "p/w")
    box = parse_imap_url("imap://u:p@127.0.0.1:1143/Customers/Replies")
    assert (box.port, box.tls, box.folder) == (1143, False, "Customers/Replies")
    for wrong in ("", "https://mail.example/", "imaps:///INBOX"):
        with pytest.raises(ValueError):
            parse_imap_url(wrong)


def test_backoff_grows_to_five_minutes_and_never_below_the_interval() -> None:
    assert [backoff(n, 1.0) for n in range(5)] == [1.0, 5.0, 10.0, 20.0, 40.0]
    assert backoff(30, 1.0) == 300.0
    assert backoff(1, 60.0) == 60.0 and backoff(0, 60.0) == 60.0


def test_the_log_names_a_message_by_a_hash_only() -> None:
    raw = mail("kari@example.com", "Private", "Secret").as_bytes()
    logged = message_id_hash(raw)
    assert len(logged) == 12 and logged not in raw.decode()
    assert message_id_hash(raw) == logged


def test_the_recipient_comes_from_the_headers_else_the_setting(
    engine: Engine, settings: Settings
) -> None:
    settings = settings.model_copy(update={"reply_domain": "reply.example"})
    seed(engine, intake={"email": INTAKE, "unit": "4723"})
    ours = case_reply_address(settings, "C-000001")
    assert ours is not None
    raw = mail("Support <support@hotel.example>", "Re", "Hi", Delivered_To=ours).as_bytes()
    assert polled_recipients(engine, settings, raw) == [ours]
    both = mail("a@hotel.example, Help <HELP@recovery.example>", "Hi", "Hi", Cc=ours).as_bytes()
    assert polled_recipients(engine, settings, both) == ["HELP@recovery.example", ours]
    plain = mail("support@hotel.example", "Hi", "Hello").as_bytes()
    assert polled_recipients(engine, settings, plain) == []
    fallback = settings.model_copy(update={"imap_recipient": "cases@reply.example"})
    assert polled_recipients(engine, fallback, plain) == ["cases@reply.example"]
    assert polled_recipients(engine, fallback, raw) == [ours]
