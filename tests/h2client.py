"""A blocking HTTP/2 client over a real TLS socket (ALPN h2), built on the h2 library, for the tests: it
sends well-formed requests, and also the raw frames an attacker would (sharing the connection's HPACK
encoder, so that what follows still decodes)."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)
from h2.settings import SettingCodes
from hyperframe.frame import ContinuationFrame, Frame, HeadersFrame, PingFrame, SettingsFrame

Fields = Sequence[tuple[bytes, bytes]]


class Closed(Exception):
    """The gateway closed the connection."""


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reset: int | None = None  # the RST_STREAM error code, when the stream was reset


def tls_context(ca: trustme.CA, alpn: Sequence[str] = ("h2",)) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.set_alpn_protocols(list(alpn))
    return context


class H2Client:
    def __init__(
        self,
        port: int,
        ca: trustme.CA,
        host: str = "shop.test",
        window: int | None = None,
        read_body: bool = True,
        client_certificate: tuple[Path, Path] | None = None,  # (cert, key) for mutual TLS
    ) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        context = tls_context(ca)
        if client_certificate is not None:
            context.load_cert_chain(*client_certificate)
        self.sock = context.wrap_socket(raw, server_hostname=host)
        assert self.sock.selected_alpn_protocol() == "h2"
        self.host = host
        self.read_body = read_body  # False: received DATA is not acknowledged (a client that stalls)
        config = H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self.conn = H2Connection(config)
        self.conn.initiate_connection()
        if window is not None:
            self.conn.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.flush()
        self.terminated: ConnectionTerminated | None = None
        self.answers: dict[int, Answer] = {}
        self.ended: set[int] = set()

    def close(self) -> None:
        self.sock.close()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def read(self) -> list[Event]:
        """One read's events (raises Closed at the end of the connection)."""
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError) as error:
            raise Closed from error
        if not data:
            raise Closed
        events = self.conn.receive_data(data)
        for event in events:
            self._note(event)
        self.flush()
        return events

    def _note(self, event: Event) -> None:
        if isinstance(event, ResponseReceived):
            answer = self.answers.setdefault(event.stream_id, Answer())
            for name, value in event.headers:
                if name == b":status":
                    answer.status = int(value)
                else:
                    answer.headers[name.decode()] = value.decode("latin-1")
        elif isinstance(event, DataReceived):
            self.answers.setdefault(event.stream_id, Answer()).body += event.data
            if self.read_body:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, StreamEnded):
            self.ended.add(event.stream_id)
        elif isinstance(event, StreamReset):
            self.answers.setdefault(event.stream_id, Answer()).reset = event.error_code
            self.ended.add(event.stream_id)
        elif isinstance(event, ConnectionTerminated):
            self.terminated = event

    def until(self, done: Callable[[], bool]) -> None:
        while not done():
            self.read()

    def until_closed(self) -> ConnectionTerminated:
        """Read until the gateway closes; its GOAWAY."""
        try:
            while True:
                self.read()
        except Closed:
            pass
        assert self.terminated is not None, "the connection closed without GOAWAY"
        return self.terminated

    # --- well-formed requests ------------------------------------------------------------------------

    def fields(self, method: str, path: str, headers: Fields = ()) -> list[tuple[bytes, bytes]]:
        return [
            (b":method", method.encode()),
            (b":scheme", b"https"),
            (b":authority", self.host.encode()),
            (b":path", path.encode()),
            *headers,
        ]

    def start(self, method: str, path: str, headers: Fields = (), body: bytes | None = None) -> int:
        stream_id: int = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, self.fields(method, path, headers), end_stream=body is None)
        self.flush()
        if body is not None:
            self.send_body(stream_id, body)
        return stream_id

    def send_body(self, stream_id: int, body: bytes) -> None:
        """Send ``body`` as the gateway's windows allow, then end the stream."""
        sent = 0
        while sent < len(body):
            room = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
            if room <= 0:
                self.read()
                if stream_id in self.ended:
                    return  # answered (and reset) before the whole body went
                continue
            self.conn.send_data(stream_id, body[sent : sent + room])
            sent += room
            self.flush()
        self.conn.end_stream(stream_id)
        self.flush()

    def request(self, method: str, path: str, headers: Fields = (), body: bytes | None = None) -> Answer:
        stream_id = self.start(method, path, headers, body)
        self.until(lambda: stream_id in self.ended)
        return self.answers[stream_id]

    # --- raw frames ----------------------------------------------------------------------------------

    def raw_headers(
        self, stream_id: int, fields: Fields, end_stream: bool = True, end_headers: bool = True
    ) -> bytes:
        """A HEADERS frame encoded with the connection's own HPACK context."""
        flags = [flag for flag, on in (("END_STREAM", end_stream), ("END_HEADERS", end_headers)) if on]
        frame = HeadersFrame(stream_id, data=self.conn.encoder.encode(list(fields)), flags=flags)
        return bytes(frame.serialize())

    @staticmethod
    def continuation(stream_id: int, data: bytes, end_headers: bool = False) -> bytes:
        return bytes(
            ContinuationFrame(stream_id, data=data, flags=["END_HEADERS"] if end_headers else []).serialize()
        )

    @staticmethod
    def ping(n: int) -> bytes:
        return bytes(PingFrame(0, opaque_data=n.to_bytes(8, "big")).serialize())

    @staticmethod
    def settings() -> bytes:
        return bytes(SettingsFrame(0, settings={SettingCodes.ENABLE_PUSH: 0}).serialize())

    def frames_until_closed(self) -> list[Frame]:
        """Every frame until the gateway closes, read without the library (which, once it has a GOAWAY,
        refuses the frames of the streams the GOAWAY lets finish)."""
        data = b""
        with contextlib.suppress(ConnectionResetError, ssl.SSLError):
            while chunk := self.sock.recv(65536):
                data += chunk
        frames = []
        while len(data) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(data[:9]))
            frame.parse_body(memoryview(data[9 : 9 + length]))
            frames.append(frame)
            data = data[9 + length :]
        return frames

    def send_raw(self, data: bytes) -> None:
        # the gateway may close first: what it said is read next
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.sock.sendall(data)
