"""The TLS policy of an entrypoint: one table, read by serve (proxy/tls.py) and by every renderer.

``tls.min_version`` picks a Mozilla server-side profile (https://wiki.mozilla.org/Security/Server_Side_TLS,
version 5.7): "1.2" is "intermediate", "1.3" is "modern". frontdoor keeps intermediate's ECDHE + AEAD
suites only (Mozilla also lists three DHE suites; finite-field DHE costs more and adds nothing a client of
the last ten years needs), and the key-exchange groups X25519, P-256 and P-384.

The TLS 1.3 suites are not a choice: OpenSSL, BoringSSL (Envoy) and Go (Traefik) enable exactly the three
Mozilla lists, and Python's ssl and Go cannot change them. They are listed here so that the targets that
can name them (nginx, ingress-nginx) name the same three.

Each target spells the same suite and group in its own vocabulary; the spellings live here, side by side,
so that a suite added or removed changes every target at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Version = Literal["1.2", "1.3"]


@dataclass(frozen=True)
class Suite:
    openssl: str  # nginx, ingress-nginx, Python's ssl, Envoy (BoringSSL names)
    iana: str  # Go's crypto/tls constants (Traefik), and sslyze's reports


@dataclass(frozen=True)
class Group:
    openssl: str  # SSL_CTX_set1_groups_list, nginx ssl_ecdh_curve
    envoy: str
    go: str  # Traefik curvePreferences


#: TLS 1.2 suites (ECDHE key exchange, AEAD ciphers), in Mozilla's order
TLS12_SUITES: Final = (
    Suite("ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    Suite("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    Suite("ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    Suite("ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    Suite("ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    Suite("ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
)
#: TLS 1.3 suites (the same names everywhere)
TLS13_SUITES: Final = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
#: key-exchange groups, in order of preference
GROUPS: Final = (
    Group("X25519", "X25519", "X25519"),
    Group("P-256", "P-256", "CurveP256"),
    Group("P-384", "P-384", "CurveP384"),
)


@dataclass(frozen=True)
class TlsPolicy:
    min_version: Version
    mozilla_profile: Literal["intermediate", "modern"]
    #: the TLS 1.2 suites accepted (none when TLS 1.2 is off)
    tls12_suites: tuple[Suite, ...]

    @property
    def protocols(self) -> tuple[str, ...]:
        """The versions on, as nginx names them."""
        return ("TLSv1.2", "TLSv1.3") if self.min_version == "1.2" else ("TLSv1.3",)

    @property
    def openssl_ciphers(self) -> str:
        """An OpenSSL cipher string for TLS 1.2 (nginx ``ssl_ciphers``, Python ``set_ciphers``)."""
        return ":".join(s.openssl for s in self.tls12_suites)

    @property
    def openssl_groups(self) -> str:
        """An OpenSSL group list (``SSL_CTX_set1_groups_list``, nginx ``ssl_ecdh_curve``)."""
        return ":".join(g.openssl for g in GROUPS)


POLICIES: Final[dict[str, TlsPolicy]] = {
    "1.2": TlsPolicy("1.2", "intermediate", TLS12_SUITES),
    "1.3": TlsPolicy("1.3", "modern", ()),
}


def policy(min_version: str) -> TlsPolicy:
    return POLICIES[min_version]
