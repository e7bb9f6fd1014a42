"""Which header fields a proxy must treat specially (RFC 9110 7.6.1), shared by the reader and the
forwarding code: every other field is copied upstream as it came, so the reader prepares its line once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from frontdoor.memo import Memo

# One field of an HTTP message as (name, value) bytes, as the reader gives it and the writers take it.
# (A contract document's envelope is contract.loaded.DocumentHeader: another meaning, another name.)
Field = tuple[bytes, bytes]


def field_lines(fields: Sequence[Field]) -> bytes:
    """The header lines of ``fields``, each ``name: value`` and its CRLF, as one piece."""
    return b"".join([b"%b: %b\r\n" % (name, value) for name, value in fields])


HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-authenticate",
    }
)
# Recomputed by the gateway from what it saw itself, unless the peer is a trusted proxy.
FORWARDING: Final = frozenset(
    {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded", b"x-real-ip"}
)
OWN_PREFIX: Final = b"x-frontdoor-"
RESTATED: Final = frozenset({b"expect", b"content-length"})  # answered or re-stated by the gateway itself
# Read by the access stage and forwarded as they came: sorted out while reading, so that finding them
# does not mean lowering every name of the request again.
CREDENTIALS: Final = frozenset({b"authorization", b"x-api-key"})
# Connection tokens that name no field: a Connection header of only these drops nothing more
PLAIN_CONNECTION_TOKENS: Final = frozenset({b"keep-alive", b"close", b""})
# of a response: the framing (restated by the gateway) and the fields the gateway sets itself
RESPONSE_NOT_FORWARDED: Final = HOP_BY_HOP | {b"content-length", b"x-request-id", b"traceparent"}
# every name the forwarding code does more with than copy
HANDLED: Final = HOP_BY_HOP | FORWARDING | RESTATED | CREDENTIALS | {b"x-request-id", b"traceparent", b"host"}

# Field names, as sent, and lowered: requests and responses repeat a few dozen names, and a dict hit
# costs less than bytes.lower() (a method call, and a new object, for every field of every message).
# A memo: short names only, emptied when full (a client inventing names costs a miss per name, no more).
_LOWERED: Final[Memo[bytes, bytes]] = Memo(2048)
_LOWERED_LONGEST: Final = 40


def lowered(name: bytes) -> bytes:
    """``name.lower()``, remembered for the names a gateway keeps seeing."""
    low = _LOWERED.get(name)
    if low is None:
        low = name.lower()
        if len(name) <= _LOWERED_LONGEST:
            _LOWERED.keep(name, low)
    return low
