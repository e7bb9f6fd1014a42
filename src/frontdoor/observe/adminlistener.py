"""The admin listener: an HTTP/1.1 pump in front of the admin API (frontdoor.observe.adminapi), the same
for ``serve`` and ``authz`` (each is an AdminHost).

Requests are small and rare, so each is read whole (head and a body of at most 64 KiB) and answered
synchronously; a slow answer (a reload) briefly holds the process's loop, as SIGHUP does. A stop or
start that waits on the stop store (Redis) is answered when the store has answered; the connection
reads nothing more until then, so answers keep the order of the requests.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import Any, Protocol, cast

from frontdoor.http.errors import ProtocolError
from frontdoor.http.h1 import Limits, RequestHead, RequestReader
from frontdoor.http.messages import error_response, status_line
from frontdoor.http.probes import probe
from frontdoor.http.tracing import new_request_id
from frontdoor.observe.adminapi import AdminApi, Reply, error
from frontdoor.observe.control import Operations

MAX_BODY = 64 * 1024


class AdminHost(Protocol):
    """The process the admin listener belongs to: serve's Gateway or authz's AuthzService."""

    @property
    def ops(self) -> Operations[Any] | None: ...

    @property
    def ready(self) -> bool: ...

    @property
    def draining(self) -> bool: ...

    def report_error(self, what: str, error: BaseException | None) -> None: ...


class AdminProtocol(asyncio.Protocol):
    def __init__(self, gateway: AdminHost) -> None:
        self.gateway = gateway
        self.transport: asyncio.Transport | None = None
        self.reader = RequestReader(self, Limits(max_header_bytes=8192, max_headers=50, max_body=MAX_BODY))
        self.head: RequestHead | None = None
        self.body: list[bytes] = []
        self.peer = ""
        self.busy = False  # an answer waits on the stop store: requests read meanwhile wait their turn
        self.waiting: list[tuple[RequestHead, bytes]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else ""

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)
        except ProtocolError as failure:
            self._send(
                error_response(failure.status, failure.reason, new_request_id(), close=True), close=True
            )

    def on_request_head(self, head: RequestHead) -> None:
        self.head = head
        self.body = []

    def on_request_body(self, chunk: bytes) -> None:
        self.body.append(chunk)

    def on_request_end(self) -> None:
        head = self.head
        if head is None:
            return
        self.head = None
        body, self.body = b"".join(self.body), []
        if self.busy:
            self.waiting.append((head, body))
            return
        self._answer(head, body)

    def _answer(self, head: RequestHead, body: bytes) -> None:
        gateway = self.gateway
        ops = gateway.ops
        answer: Reply | Awaitable[Reply]
        try:
            if ops is None:  # a gateway run without operations (benchmarks): the probes only
                answer = self._probe(head)
            else:
                api = AdminApi(ops, lambda: gateway.ready and not gateway.draining)
                answer = api.handle(head.method, head.target, head.headers, body, self.peer)
        except Exception as failure:  # an admin bug must answer 500, never take the gateway down
            answer = self._failed(failure)
        if isinstance(answer, Reply):
            self._send(self._serialize(answer, head), close=not head.keep_alive)
            return
        assert inspect.isawaitable(answer)
        self.busy = True
        if self.transport is not None:
            self.transport.pause_reading()
        task = asyncio.ensure_future(answer)
        task.add_done_callback(lambda done: self._answered(head, done))

    def _answered(self, head: RequestHead, done: asyncio.Future[Reply]) -> None:
        if done.cancelled():
            reply = error(503, "the gateway is stopping")
        else:
            failure = done.exception()
            reply = self._failed(failure) if failure is not None else done.result()
        self.busy = False
        self._send(self._serialize(reply, head), close=not head.keep_alive)
        while self.waiting and not self.busy and self._open():
            self._answer(*self.waiting.pop(0))
        if not self.busy and self.transport is not None and self._open():
            self.transport.resume_reading()

    def _open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def _failed(self, failure: BaseException) -> Reply:
        self.gateway.report_error("the admin API failed", failure)
        return error(500, "the admin API failed; see the gateway's log")

    def _probe(self, head: RequestHead) -> Reply:
        answered = probe(head.target.partition("?")[0], self.gateway.ready and not self.gateway.draining)
        return error(404, "no such admin endpoint") if answered is None else Reply(*answered)

    @staticmethod
    def _serialize(reply: Reply, head: RequestHead) -> bytes:
        lines = [
            status_line(reply.status),
            b"content-type: %s\r\ncontent-length: %d\r\ncache-control: no-store\r\n"
            % (reply.content_type.encode("ascii"), len(reply.body)),
        ]
        lines.extend(f"{name}: {value}\r\n".encode("latin-1") for name, value in reply.headers)
        if not head.keep_alive:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        if head.method != "HEAD":
            lines.append(reply.body)
        return b"".join(lines)

    def _send(self, data: bytes, close: bool) -> None:
        if self.transport is not None:
            self.transport.write(data)
            if close:
                self.transport.close()
