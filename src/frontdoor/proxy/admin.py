"""The admin listener: the gateway's own probes (the rest of the admin API comes with operations)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, cast

from frontdoor.http.errors import ProtocolError
from frontdoor.http.h1 import Limits, RequestHead, RequestReader
from frontdoor.http.messages import error_response, status_line
from frontdoor.http.tracing import new_request_id

if TYPE_CHECKING:
    from frontdoor.proxy.server import Gateway


class AdminProtocol(asyncio.Protocol):
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.transport: asyncio.Transport | None = None
        self.reader = RequestReader(self, Limits(max_header_bytes=8192, max_headers=50, max_body=64 * 1024))
        self.head: RequestHead | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)
        except ProtocolError as error:
            self._send(error_response(error.status, error.reason, new_request_id(), close=True), close=True)

    def on_request_head(self, head: RequestHead) -> None:
        self.head = head

    def on_request_body(self, chunk: bytes) -> None:
        pass

    def on_request_end(self) -> None:
        head = self.head
        if head is None:
            return
        path = head.target.partition("?")[0]
        if head.method not in ("GET", "HEAD"):
            reply = error_response(
                405,
                "the probes answer GET",
                new_request_id(),
                close=not head.keep_alive,
                extra_headers=((b"allow", b"GET, HEAD"),),
            )
        elif path == "/healthz":
            reply = self._json(200, {"status": "ok"}, head)
        elif path == "/readyz":
            ready = self.gateway.ready and not self.gateway.draining
            reply = self._json(200 if ready else 503, {"ready": ready}, head)
        else:
            reply = error_response(404, "no such admin endpoint", new_request_id(), close=not head.keep_alive)
        self._send(reply, close=not head.keep_alive)

    @staticmethod
    def _json(status: int, body: dict[str, object], head: RequestHead) -> bytes:
        data = json.dumps(body).encode()
        lines = status_line(status) + b"content-type: application/json\r\ncontent-length: %d\r\n" % len(data)
        if not head.keep_alive:
            lines += b"connection: close\r\n"
        return lines + b"\r\n" + (b"" if head.method == "HEAD" else data)

    def _send(self, data: bytes, close: bool) -> None:
        if self.transport is not None:
            self.transport.write(data)
            if close:
                self.transport.close()
