"""Which header fields a proxy must treat specially (RFC 9110 7.6.1), shared by the reader and the
forwarding code: every other field is copied upstream as it came, so the reader prepares its line once.
"""

from __future__ import annotations

HOP_BY_HOP = frozenset(
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
FORWARDING = frozenset(
    {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded", b"x-real-ip"}
)
OWN_PREFIX = b"x-frontdoor-"
RESTATED = frozenset({b"expect", b"content-length"})  # answered or re-stated by the gateway itself
# every name the forwarding code does more with than copy
HANDLED = HOP_BY_HOP | FORWARDING | RESTATED | {b"x-request-id", b"traceparent", b"host"}
