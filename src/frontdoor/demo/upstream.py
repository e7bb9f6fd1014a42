"""A small upstream service for the demo and the end-to-end tests: it answers on real sockets with
what it received, and misbehaves on request (slow, silent, big, chunked) so the gateway can be tried.

Query parameters: ``status=N`` answers N; ``delay_ms=N`` waits first; ``bytes=N`` sends N bytes
(``chunked=1`` in chunks); ``close=1`` closes without answering; ``/readyz``-like paths answer 200
unless the service was told to be unready. Otherwise the body is JSON: the service name, the method,
path, the forwarding headers it saw, and the size and SHA-256 of the request body it read.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import parse_qs

from frontdoor.demo.accountpage import account_page, wants_page
from frontdoor.http.errors import ProtocolError
from frontdoor.http.h1 import Limits, RequestHead, RequestReader
from frontdoor.http.messages import status_line

_SEEN_HEADERS = (
    b"host",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-request-id",
    b"traceparent",
    b"connection",
    b"upgrade",
    b"x-frontdoor-subject",
    b"x-frontdoor-scopes",
    b"x-frontdoor-client",
    b"x-frontdoor-issuer",
    b"x-frontdoor-email",
    b"cookie",  # what of the browser's cookies reached the upstream (the sign-in tests)
    b"forwarded",
)
_HEALTH = ("/readyz", "/livez", "/health/ready", "/health/live", "/ready", "/healthz")


@dataclass
class UpstreamState:
    """Shared by the connections of one demo upstream; tests read what it saw and can make it unready."""

    ready: bool = True
    seen: list[str] = field(default_factory=list)  # "METHOD target" of every request read
    connections: int = 0


class DemoUpstream(asyncio.Protocol):
    def __init__(self, name: str, state: UpstreamState) -> None:
        self.name = name
        self.state = state
        self.transport: asyncio.Transport | None = None
        self.reader = RequestReader(
            self, Limits(max_header_bytes=64 * 1024, max_headers=200, max_body=1 << 40)
        )
        self.head: RequestHead | None = None
        self.digest = hashlib.sha256()
        self.received = 0
        self.tunnel = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.state.connections += 1

    def data_received(self, data: bytes) -> None:
        if self.tunnel:
            if self.transport is not None:
                self.transport.write(data)
            return
        try:
            tunnel = self.reader.feed(data)
        except ProtocolError as error:
            if self.transport is not None:
                self.transport.write(
                    status_line(error.status) + b"content-length: 0\r\nconnection: close\r\n\r\n"
                )
                self.transport.close()
            return
        if tunnel is not None:
            self.tunnel = True  # a WebSocket tunnel: frames are echoed back as they are
            if tunnel and self.transport is not None:
                self.transport.write(tunnel)

    def on_request_head(self, head: RequestHead) -> None:
        self.head = head
        self.state.seen.append(f"{head.method} {head.target}")
        self.digest = hashlib.sha256()
        self.received = 0
        if head.upgrade == "websocket":
            self.reader.accept_upgrade()

    def on_request_body(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.received += len(chunk)

    def on_request_end(self) -> None:
        head = self.head
        if head is None or self.transport is None:
            return
        if head.upgrade == "websocket":
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n"
            )
            return
        asyncio.get_running_loop().create_task(self._answer(head, self.received, self.digest.hexdigest()))

    async def _answer(self, head: RequestHead, received: int, sha256: str) -> None:
        transport = self.transport
        assert transport is not None
        path, _, query = head.target.partition("?")
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        if "delay_ms" in params:
            await asyncio.sleep(int(params["delay_ms"]) / 1000)
        if params.get("close") == "1":
            transport.abort()
            return
        keep = head.keep_alive
        content_type = b"application/json"
        framing = b"" if keep else b"connection: close\r\n"
        if path in _HEALTH:
            ready = self.state.ready
            body = json.dumps({"service": self.name, "ready": ready}).encode()
            status = 200 if ready else 503
        elif "bytes" in params:
            size = int(params["bytes"])
            status = int(params.get("status", 200))
            if params.get("chunked") == "1":
                transport.write(status_line(status) + b"transfer-encoding: chunked\r\n" + framing + b"\r\n")
                step = 65536
                for start in range(0, size, step):
                    part = b"x" * min(step, size - start)
                    transport.write(b"%x\r\n%b\r\n" % (len(part), part))
                    await asyncio.sleep(0)
                transport.write(b"0\r\n\r\n")
                self._done(keep)
                return
            body = b"x" * size
        else:
            status = int(params.get("status", 200))
            seen = {
                n.decode().lower(): v.decode("latin-1") for n, v in head.headers if n.lower() in _SEEN_HEADERS
            }
            accept = b", ".join(v for n, v in head.headers if n.lower() == b"accept").decode("latin-1")
            if wants_page(path, accept):
                body = account_page(seen)
                content_type = b"text/html; charset=utf-8"
            else:
                body = self._echo(head, seen, received, sha256)
        if status in (204, 304) or 100 <= status < 200:
            transport.write(status_line(status) + framing + b"\r\n")
        else:
            transport.write(
                status_line(status)
                + b"content-type: %b\r\ncontent-length: %d\r\n%b\r\n%b"
                % (content_type, len(body), framing, b"" if head.method == "HEAD" else body)
            )
        self._done(keep)

    def _echo(self, head: RequestHead, seen: dict[str, str], received: int, sha256: str) -> bytes:
        return json.dumps(
            {
                "service": self.name,
                "method": head.method,
                "path": head.target,
                "headers": seen,
                "header_names": sorted({n.decode().lower() for n, _ in head.headers}),
                # every X-Frontdoor-* field as received, repeats included: what the gateway vouches for
                "frontdoor_headers": [
                    [n.decode().lower(), v.decode("latin-1")]
                    for n, v in head.headers
                    if n.lower().startswith(b"x-frontdoor-")
                ],
                "body_bytes": received,
                "body_sha256": sha256,
            }
        ).encode()

    def _done(self, keep: bool) -> None:
        if not keep and self.transport is not None:
            self.transport.close()


async def start_upstream(
    name: str, host: str, port: int, state: UpstreamState | None = None
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    shared = state if state is not None else UpstreamState()
    return await loop.create_server(lambda: DemoUpstream(name, shared), host, port, reuse_address=True)
