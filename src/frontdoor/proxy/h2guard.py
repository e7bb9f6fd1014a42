"""The HTTP/2 attacks peers have been hit by, counted per client connection.

Each is cheap for the client and dear for the server, so each gets a budget per connection; a client
that spends it gets GOAWAY with ENHANCE_YOUR_CALM and the connection closes:

- rapid reset (CVE-2023-44487): streams opened and reset at once start upstream work and never wait for it;
- SETTINGS and PING floods: each frame forces an acknowledgement the client need not read;
- CONTINUATION flood (CVE-2024-27316): a header block that never ends, held in memory as it grows.

A stream the gateway answers to its end earns back one unit of each budget, so a long-lived connection
that now and then cancels a request (a browser navigating away) never runs out; only a connection whose
resets or control frames outnumber its answered streams by the budget does.

The HPACK bomb (a small block that decodes to huge fields) is refused by the h2 library's decoder, whose
limit the connection sets from ``max_header_bytes``; the concurrent streams by the library too, from the
SETTINGS the connection advertises.
"""

from __future__ import annotations

from typing import Final

from h2.exceptions import DenialOfServiceError
from h2.frame_buffer import FrameBuffer
from hyperframe.frame import ContinuationFrame, Frame, HeadersFrame, PushPromiseFrame

#: per connection: resets, SETTINGS frames and PINGs a client may send beyond the streams it was answered
RESET_BUDGET: Final = 200
SETTINGS_BUDGET: Final = 100
PING_BUDGET: Final = 100


class FloodGuard:
    """The budgets of one connection; ``spend`` says whether the client is still within them."""

    __slots__ = ("pings", "resets", "settings")

    def __init__(self) -> None:
        self.resets = 0
        self.settings = 0
        self.pings = 0

    def reset(self) -> bool:
        self.resets += 1
        return self.resets <= RESET_BUDGET

    def setting(self) -> bool:
        self.settings += 1
        return self.settings <= SETTINGS_BUDGET

    def ping(self) -> bool:
        self.pings += 1
        return self.pings <= PING_BUDGET

    def answered(self) -> None:
        """A stream was answered to its end: one unit of each budget back."""
        if self.resets:
            self.resets -= 1
        if self.settings:
            self.settings -= 1
        if self.pings:
            self.pings -= 1


class BoundedFrames(FrameBuffer):
    """The h2 library's frame reader, with a header block (HEADERS and its CONTINUATIONs) limited to
    ``limit`` bytes as received, before it is decoded: the library alone would hold up to 64 frames of
    any size allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(server=True)
        self.limit = limit
        self.block = 0

    def _update_header_buffer(self, f: Frame | None) -> Frame | None:
        if isinstance(f, HeadersFrame | PushPromiseFrame):
            self.block = len(f.data)
        elif isinstance(f, ContinuationFrame):
            self.block += len(f.data)
        if self.block > self.limit:
            msg = "the header block is larger than max_header_bytes"
            raise DenialOfServiceError(msg)
        return super()._update_header_buffer(f)
