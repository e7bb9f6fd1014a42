"""The local identity provider's HTTP side: OIDC discovery and the JWKS, for development only.

``GET /.well-known/openid-configuration`` and ``GET /keys``; nothing else (tokens are minted by
``frontdoor token`` with the same keys, no login flow). Keys are re-read from the state directory for
every JWKS request, so removing a key file and minting again is a key rotation the gateway sees.
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

DISCOVERY = "/.well-known/openid-configuration"


def discovery(issuer: str) -> dict[str, object]:
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "jwks_uri": f"{base}/keys",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
    }


class IssuerProtocol(asyncio.Protocol):
    def __init__(self, issuer: str, state: Path | None) -> None:
        self.issuer = issuer
        self.state = state
        self.transport: asyncio.Transport | None = None
        self.reader = RequestReader(self, Limits(max_header_bytes=8192, max_headers=50, max_body=0))
        self.head: RequestHead | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)
        except ProtocolError as error:
            self._send(error_response(error.status, error.reason, new_request_id(), close=True), True)

    def on_request_head(self, head: RequestHead) -> None:
        self.head = head

    def on_request_body(self, chunk: bytes) -> None:
        pass

    def on_request_end(self) -> None:
        head = self.head
        if head is None:
            return
        close = not head.keep_alive
        # the issuer may end in "/": "{issuer}/.well-known/..." then has two slashes
        path = "/" + head.target.partition("?")[0].lstrip("/")
        if head.method not in ("GET", "HEAD"):
            extra = ((b"allow", b"GET, HEAD"),)
            reply = error_response(405, "GET only", new_request_id(), close=close, extra_headers=extra)
        elif path == DISCOVERY:
            reply = self._json(discovery(self.issuer), head)
        elif path == "/keys":
            reply = self._json(jwks(signing_keys(self.state)), head)
        else:
            reply = error_response(404, "discovery and /keys only", new_request_id(), close=close)
        self._send(reply, close)

    @staticmethod
    def _json(body: dict[str, object], head: RequestHead) -> bytes:
        data = json.dumps(body).encode()
        lines = status_line(200) + b"content-type: application/json\r\ncache-control: max-age=60\r\n"
        lines += b"content-length: %d\r\n" % len(data)
        if not head.keep_alive:
            lines += b"connection: close\r\n"
        return lines + b"\r\n" + (b"" if head.method == "HEAD" else data)

    def _send(self, data: bytes, close: bool) -> None:
        if self.transport is not None:
            self.transport.write(data)
            if close:
                self.transport.close()


async def start_issuer(issuer: str, host: str, port: int, state: Path | None = None) -> asyncio.Server:
    """Serve ``issuer``'s discovery and keys on host:port (keys created now if they do not exist)."""
    signing_keys(state)
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: IssuerProtocol(issuer, state), host, port)
