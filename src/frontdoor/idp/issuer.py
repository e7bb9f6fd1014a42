"""The local identity provider's HTTP side: OIDC discovery and the JWKS, and the sign-in a browser
goes through (idp/signin.py), for development only.

``GET /.well-known/openid-configuration``, ``GET /keys``, ``GET|POST /authorize``, ``POST /token`` and
``GET /logout``. Bearer tokens for API calls are minted by ``frontdoor token`` with the same keys. Keys
are re-read from the state directory for every JWKS request, so removing a key file and minting again
is a key rotation the gateway sees.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import cast

from frontdoor.http.errors import ProtocolError
from frontdoor.http.h1 import Limits, RequestHead, RequestReader
from frontdoor.http.messages import error_response, status_line
from frontdoor.http.tracing import new_request_id
from frontdoor.idp.keys import ALGORITHMS, jwks, signing_keys
from frontdoor.idp.signin import Desk
from frontdoor.idp.tokens import DEFAULT_AUDIENCE

DISCOVERY = "/.well-known/openid-configuration"


def discovery(issuer: str) -> dict[str, object]:
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "jwks_uri": f"{base}/keys",
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "end_session_endpoint": f"{base}/logout",
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["code", "id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
    }


class IssuerProtocol(asyncio.Protocol):
    def __init__(self, issuer: str, state: Path | None, desk: Desk | None = None) -> None:
        self.issuer = issuer
        self.state = state
        self.desk = desk or Desk(issuer, (DEFAULT_AUDIENCE,), state=state)
        self.transport: asyncio.Transport | None = None
        self.reader = RequestReader(self, Limits(max_header_bytes=8192, max_headers=50, max_body=16 * 1024))
        self.head: RequestHead | None = None
        self.body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)
        except ProtocolError as error:
            self._send(error_response(error.status, error.reason, new_request_id(), close=True), True)

    def on_request_head(self, head: RequestHead) -> None:
        self.head = head
        self.body = b""

    def on_request_body(self, chunk: bytes) -> None:
        self.body += chunk

    def on_request_end(self) -> None:
        head = self.head
        if head is None:
            return
        close = not head.keep_alive
        # the issuer may end in "/": "{issuer}/.well-known/..." then has two slashes
        target, _, query = head.target.partition("?")
        path = "/" + target.lstrip("/")
        if head.method == "POST" and path in ("/authorize", "/token"):
            reply = self._post(path, head)
        elif head.method not in ("GET", "HEAD"):
            extra = ((b"allow", b"GET, HEAD"),)
            reply = error_response(405, "GET only", new_request_id(), close=close, extra_headers=extra)
        elif path == "/authorize":
            reply = self._html(*self.desk.form(query), head)
        elif path == "/logout":
            status, text = self.desk.logout(query)
            reply = self._redirect(text, head) if status == 302 else self._html(status, text, head)
        elif path == DISCOVERY:
            reply = self._json(discovery(self.issuer), head)
        elif path == "/keys":
            reply = self._json(jwks(signing_keys(self.state)), head)
        else:
            reply = error_response(404, "discovery, /keys and sign-in only", new_request_id(), close=close)
        self._send(reply, close)

    def _post(self, path: str, head: RequestHead) -> bytes:
        if path == "/authorize":
            status, text = self.desk.authorize(self.body)
            return self._redirect(text, head) if status == 302 else self._html(status, text, head)
        authorization = next(
            (v.decode("latin-1") for n, v in head.headers if n.lower() == b"authorization"), None
        )
        status, answer = self.desk.token(self.body, authorization)
        return self._json(answer, head, status, b"no-store")

    @staticmethod
    def _html(status: int, text: str, head: RequestHead) -> bytes:
        data = text.encode()
        lines = status_line(status) + b"content-type: text/html; charset=utf-8\r\ncache-control: no-store\r\n"
        lines += b"content-length: %d\r\n" % len(data)
        if not head.keep_alive:
            lines += b"connection: close\r\n"
        return lines + b"\r\n" + (b"" if head.method == "HEAD" else data)

    @staticmethod
    def _redirect(location: str, head: RequestHead) -> bytes:
        lines = status_line(302) + b"location: " + location.encode("ascii") + b"\r\ncontent-length: 0\r\n"
        if not head.keep_alive:
            lines += b"connection: close\r\n"
        return lines + b"\r\n"

    @staticmethod
    def _json(
        body: dict[str, object], head: RequestHead, status: int = 200, cache: bytes = b"max-age=60"
    ) -> bytes:
        data = json.dumps(body).encode()
        lines = status_line(status) + b"content-type: application/json\r\ncache-control: " + cache + b"\r\n"
        lines += b"content-length: %d\r\n" % len(data)
        if not head.keep_alive:
            lines += b"connection: close\r\n"
        return lines + b"\r\n" + (b"" if head.method == "HEAD" else data)

    def _send(self, data: bytes, close: bool) -> None:
        if self.transport is not None:
            self.transport.write(data)
            if close:
                self.transport.close()


async def start_issuer(
    issuer: str, host: str, port: int, state: Path | None = None, desk: Desk | None = None
) -> asyncio.Server:
    """Serve ``issuer``'s discovery, keys and sign-in on host:port (keys created now if they do not
    exist); ``desk`` says what its tokens carry (default: audience shop-api, no extra claims)."""
    signing_keys(state)
    desk = desk or Desk(issuer, (DEFAULT_AUDIENCE,), state=state)
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: IssuerProtocol(issuer, state, desk), host, port)
