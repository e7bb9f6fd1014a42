"""The entrypoint TLS policy (tlspolicy.py) in each Kubernetes target's vocabulary: the same suites and
groups serve and the rendered nginx use, spelled as Envoy Gateway, Traefik and ingress-nginx want them.

The TLS 1.3 suites are never listed for Envoy and Traefik: BoringSSL and Go enable exactly Mozilla's
three and cannot change them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from frontdoor.tlspolicy import GROUPS, policy


def envoy_gateway(min_version: str) -> dict[str, Any]:
    """ClientTrafficPolicy ``spec.tls``."""
    chosen = policy(min_version)
    settings: dict[str, Any] = {"minVersion": chosen.min_version}
    if chosen.tls12_suites:
        settings["ciphers"] = [s.openssl for s in chosen.tls12_suites]  # BoringSSL names, as nginx's
    settings["ecdhCurves"] = [g.envoy for g in GROUPS]
    return settings


def traefik(min_version: str) -> dict[str, Any]:
    """TLSOption ``spec``."""
    chosen = policy(min_version)
    settings: dict[str, Any] = {"minVersion": "VersionTLS" + chosen.min_version.replace(".", "")}
    if chosen.tls12_suites:
        settings["cipherSuites"] = [s.iana for s in chosen.tls12_suites]  # Go's crypto/tls names
    settings["curvePreferences"] = [g.go for g in GROUPS]
    return settings


def ingress_nginx(min_versions: Iterable[str]) -> dict[str, str]:
    """The controller ConfigMap's TLS keys. ingress-nginx sets versions and groups for the whole
    controller, not per Ingress: with entrypoints that ask for different floors, the controller gets the
    lowest (the one every entrypoint's clients can reach), and a "1.3" entrypoint accepts TLS 1.2 with
    the intermediate suites too (a documented exception, docs/render.md)."""
    chosen = policy(min(min_versions))
    settings = {"ssl-protocols": " ".join(chosen.protocols), "ssl-ecdh-curve": chosen.openssl_groups}
    if chosen.tls12_suites:
        settings["ssl-ciphers"] = chosen.openssl_ciphers
    return settings
