"""`python -m cli inbound-smtp`: the SMTP server customers' answers and intake mail arrive at.

A process of its own (not part of the worker): it must be reachable from the mail exchanger
while workers scale and restart freely. Recipients are checked at RCPT — a case's reply address
with a valid tag, the bare reply address, or a program's intake mailbox; anyone else is refused
with 550 — and messages above INBOUND_MAX_BYTES at DATA (552, aiosmtpd's size limit). What is
accepted is handled by services/inbound.py before the 250: a failure answers 451, so the
sending server tries again (the same Message-ID is stored once).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP
from sqlalchemy import Engine
from temporalio.client import Client

from core.settings import Settings
from core.threads import in_thread
from services.inbound import receive, target_of

log = logging.getLogger(__name__)


class InboundHandler:
    """aiosmtpd handler: RCPT answers who is here, DATA hands the message to the service."""

    def __init__(self, engine: Engine, client: Client, settings: Settings) -> None:
        self.engine, self.client, self.settings = engine, client, settings

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        target = await in_thread(target_of, self.engine, self.settings, address)
        if target is None:
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        try:
            await receive(self.engine, self.client, self.settings, data, list(envelope.rcpt_tos))
        except Exception:
            log.exception("inbound message not taken; the sender will retry")
            return "451 4.3.0 Temporary failure, please try again later"
        return "250 2.0.0 Message accepted"


async def start_server(
    engine: Engine, client: Client, settings: Settings, host: str, port: int
) -> asyncio.Server:
    """The server on the running loop (the Temporal client's), listening at host:port."""
    handler = InboundHandler(engine, client, settings)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(
            handler,
            data_size_limit=settings.inbound_max_bytes,
            hostname=settings.reply_domain or None,
            enable_SMTPUTF8=True,
        ),
        host=host,
        port=port,
    )


async def serve(settings: Settings) -> None:
    from core.temporal import connect
    from models.db import make_engine

    client = await connect(settings)
    engine = make_engine(settings.database_url)
    server = await start_server(
        engine, client, settings, settings.inbound_smtp_host, settings.inbound_smtp_port
    )
    log.info(
        "inbound SMTP listening on %s:%s", settings.inbound_smtp_host, settings.inbound_smtp_port
    )
    async with server:
        await server.serve_forever()
