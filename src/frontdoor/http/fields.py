"""Which header fields a proxy must treat specially (RFC 9110 7.6.1), shared by the reader and the
forwarding code: every other field is copied upstream as it came, so the reader prepares its line once.
"""

from __future__ import annotations

from typing import Final

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
# every name the forwarding code does more with than copy
HANDLED: Final = HOP_BY_HOP | FORWARDING | RESTATED | CREDENTIALS | {b"x-request-id", b"traceparent", b"host"}
