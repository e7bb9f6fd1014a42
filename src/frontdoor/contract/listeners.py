"""Contract rules about entrypoints that share a listen address (rule 8's listener half).

Entrypoints on one address are virtual hosts of one listening socket, chosen by Host once the TLS
handshake is over. So they may not claim the same hosts, and what the handshake itself decides must
be one thing for all of them: whether there is TLS at all, the TLS version policy (``min_version``:
the version is chosen while the ClientHello is read, before the server name could pick an entrypoint)
and ``client_auth`` (the certificate request belongs to the handshake, before any Host is known).
``hsts`` and the certificates may differ: each request's Host chooses the first (proxy/runtime.py),
the server name the second (proxy/tls.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from frontdoor.contract.loaded import Contract
from frontdoor.contract.models import Entrypoint
from frontdoor.errors import Finding


def entrypoint_overlap(contract: Contract) -> Iterator[Finding]:
    for edge_name, edge in contract.edges.items():
        entrypoints = edge.spec.entrypoints
        for i, a in enumerate(entrypoints):
            for b in entrypoints[:i]:
                if not a.listen.overlaps(b.listen):
                    continue
                shared_hosts = "*" in a.hosts or "*" in b.hosts or set(a.hosts) & set(b.hosts)
                if shared_hosts or (a.tls is None) != (b.tls is None):
                    yield Finding(
                        "entrypoint-overlap",
                        f"entrypoints {b.name} and {a.name} both listen on "
                        f"{a.listen} with overlapping hosts or different TLS: give each its own port",
                        contract.locate("Edge", edge_name, "spec", "entrypoints", i, "listen"),
                        edge.owner,
                    )


def _handshake_differences(a: Entrypoint, b: Entrypoint) -> list[str]:
    """The tls fields two TLS entrypoints on one listener disagree on, of those the handshake decides."""
    if a.tls is None or b.tls is None:
        return []  # TLS on one only is entrypoint-overlap's
    differ = []
    if a.tls.min_version != b.tls.min_version:
        differ.append("min_version")
    if a.tls.client_auth != b.tls.client_auth:
        differ.append("client_auth")
    return differ


def _describe(entrypoint: Entrypoint, field: str) -> str:
    assert entrypoint.tls is not None
    if field == "min_version":
        return f'min_version "{entrypoint.tls.min_version}"'
    client_auth = entrypoint.tls.client_auth
    if client_auth is None:
        return "no client_auth"
    return f"client_auth {client_auth.mode} with ca {client_auth.ca}"


def shared_listener_tls(contract: Contract) -> Iterator[Finding]:
    """Two TLS entrypoints on one listen address with different min_version or client_auth: one
    handshake serves both, so one of them would silently get the other's."""
    for edge_name, edge in contract.edges.items():
        entrypoints = edge.spec.entrypoints
        for i, a in enumerate(entrypoints):
            for j, b in enumerate(entrypoints[:i]):
                if not a.listen.overlaps(b.listen):
                    continue
                for field in _handshake_differences(a, b):
                    # at the field where it is written, else at the entrypoint's tls
                    assert a.tls is not None
                    written = field == "min_version" or a.tls.client_auth is not None
                    path = ("spec", "entrypoints", i, "tls", *((field,) if written else ()))
                    first = contract.locate("Edge", edge_name, "spec", "entrypoints", j, "tls")
                    yield Finding(
                        "listener-tls",
                        f"entrypoints {b.name} ({_describe(b, field)}) and {a.name} ({_describe(a, field)}) "
                        f"share the listener {a.listen}, whose TLS handshake comes before any Host: "
                        f"give them the same tls.{field}, or each its own port",
                        contract.locate("Edge", edge_name, *path),
                        edge.owner,
                        related=(first,) if first else (),
                    )
