"""The codec server: /codec/encode and /codec/decode, Temporal's remote codec protocol.

Payloads in Temporal are encrypted (core/payload_crypto.py); the Temporal UI and CLI read a
history in clear only through this endpoint (`--ui-codec-endpoint`, `--codec-endpoint`). The
body both ways is `{"payloads": [{"metadata": {key: base64}, "data": base64}]}`.

Who may: an admin's session (the Temporal UI with "include cross-origin credentials": the
cookie of the app's host goes along, same site) or an API token with the `codec` scope (or
`admin`): `--codec-auth "Bearer <token>"`. Browsers may call it from CODEC_CORS_ORIGINS only (the
Temporal UI; a preflight is answered here); another Origin is refused. `X-Namespace`, when
sent, must be the app's namespace: this server holds that namespace's keys only.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.common.v1 import Payload

from core.payload_crypto import DecryptionFailed, EncryptionCodec, UnknownKeyId, key_ring
from core.settings import Settings
from core.threads import in_thread
from domain.vocabulary import Scope as TokenScope
from services.tokens import allows
from web.api_auth import api_client, bearer
from web.auth import load_viewer
from web.limits import BodyLimit
from web.problems import Problem

PREFIX = "/codec"
MAX_BODY_BYTES = 32 * 1024 * 1024  # a long history's payloads in one request
ALLOWED_HEADERS = "Authorization, Authorization-Extras, Content-Type, X-Namespace"


class CodecPayload(BaseModel):
    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class CodecPayloads(BaseModel):
    payloads: list[CodecPayload]


class CodecCors:
    """CORS for /codec/ only: the allowed origins get their answer (credentials allowed, so
    the UI's cookie goes along); a preflight is answered here, before any auth."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app, self.origins = app, set(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        allowed = origin in self.origins
        cors = [(b"vary", b"Origin")]
        if allowed:
            cors += [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-credentials", b"true"),
            ]
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            if allowed:
                cors += [
                    (b"access-control-allow-methods", b"POST, OPTIONS"),
                    (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
                    (b"access-control-max-age", b"600"),
                ]
            response = Response(status_code=204 if allowed else 403)
            response.raw_headers.extend(cors)
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + cors
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _same_origin(request: Request, origin: str, public_base_url: str) -> bool:
    here = f"{request.url.scheme}://{request.url.netloc}"
    return origin in (here, public_base_url.rstrip("/"))


async def codec_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> None:
    """An admin session or a token with the `codec` scope, from an allowed origin, for the
    app's namespace; else a 401/403 problem."""
    settings: Settings = request.app.state.settings
    origin = request.headers.get("origin")
    if (
        origin
        and origin not in settings.codec_cors_origins
        and not _same_origin(request, origin, settings.public_base_url)
    ):
        raise Problem(
            403,
            "Origin not allowed",
            f"The codec server answers browsers from {', '.join(settings.codec_cors_origins)} "
            "only (CODEC_CORS_ORIGINS)",
            field="Origin",
        )
    namespace = request.headers.get("x-namespace")
    if namespace and namespace != settings.temporal_namespace:
        raise Problem(
            403,
            "Namespace not served",
            f"This codec server holds the keys of namespace {settings.temporal_namespace!r} only",
            field="X-Namespace",
        )
    if credentials is not None and credentials.credentials:
        client = await api_client(request, credentials)
        if not allows(list(client.scopes or []), TokenScope.CODEC):
            raise Problem(
                403,
                "Insufficient scope",
                "The codec server needs a token with the 'codec' scope",
                field="Authorization",
                required_scope=TokenScope.CODEC,
            )
        return

    def admin_session() -> bool:
        with Session(request.app.state.engine) as session:
            viewer = load_viewer(request, session)
        return viewer is not None and viewer.is_admin

    if not await in_thread(admin_session):
        raise Problem(
            401,
            "Authentication required",
            "Sign in as an admin (the Temporal UI: include cross-origin credentials) or send "
            "Authorization: Bearer <token with the 'codec' scope>",
            field="Authorization",
        )


def _payloads(body: CodecPayloads) -> list[Payload]:
    out = []
    for i, p in enumerate(body.payloads):
        try:
            metadata = {k: base64.b64decode(v, validate=True) for k, v in p.metadata.items()}
            data = base64.b64decode(p.data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Problem(
                400,
                "Invalid payload",
                f"payloads.{i}: metadata values and data must be base64",
                field=f"payloads.{i}",
            ) from exc
        out.append(Payload(metadata=metadata, data=data))
    return out


def _json(payloads: list[Payload]) -> JSONResponse:
    return JSONResponse(
        {
            "payloads": [
                {
                    "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                    "data": base64.b64encode(p.data).decode(),
                }
                for p in payloads
            ]
        },
        headers={"Cache-Control": "no-store"},
    )


def install(app: FastAPI, settings: Settings) -> None:
    # Built with the app: a missing or broken key ring stops it at start, not at first use.
    codec = EncryptionCodec(key_ring(settings))
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, prefix=PREFIX + "/")
    app.add_middleware(CodecCors, origins=settings.codec_cors_origins)

    async def run(
        work: Callable[[list[Payload]], Awaitable[list[Payload]]], body: CodecPayloads
    ) -> JSONResponse:
        try:
            return _json(await work(_payloads(body)))
        except (UnknownKeyId, DecryptionFailed) as exc:
            raise Problem(422, "Payload not decodable", str(exc), field="payloads") from exc

    @app.post(f"{PREFIX}/encode", include_in_schema=False)
    async def encode(body: CodecPayloads, _: Annotated[None, Depends(codec_caller)]) -> Response:
        return await run(codec.encode, body)

    @app.post(f"{PREFIX}/decode", include_in_schema=False)
    async def decode(body: CodecPayloads, _: Annotated[None, Depends(codec_caller)]) -> Response:
        return await run(codec.decode, body)
