"""API clients: machine callers that present ``X-Api-Key``, or a client certificate (mutual TLS).

The contract holds only a reference to each key's SHA-256 (hex), resolved through the Environment when
the gateway starts; a presented key is hashed and compared in constant time with every client's hash.
A hash that cannot be read stops the gateway from starting: the error names the reference, never a value.
A certificate client is matched, after the TLS layer verified the chain, by a subjectAltName URI or by
its whole subject.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from frontdoor.contract.models import Environment, Identity
from frontdoor.errors import FrontdoorError
from frontdoor.policy.clientcert import ClientCertificate, canonical_subject
from frontdoor.secretstore import SecretUnavailable, read_secret

_HEX_SHA256 = re.compile(rb"[0-9a-f]{64}")


class ApiClientError(FrontdoorError):
    pass


class ApiClients:
    def __init__(
        self,
        clients: Sequence[tuple[str, bytes]],
        by_uri: dict[str, str] | None = None,
        by_subject: dict[str, str] | None = None,
    ) -> None:
        self.clients = tuple(clients)  # (name, lowercase hex SHA-256 of its key)
        self.by_uri = by_uri or {}  # subjectAltName URI -> client name
        self.by_subject = by_subject or {}  # canonical subject DN -> client name
        self.certificate_clients = frozenset((*self.by_uri.values(), *self.by_subject.values()))

    def recognize(self, certificate: ClientCertificate) -> str | None:
        """The name of the client this verified certificate is, or None."""
        for uri in certificate.san_uris:
            name = self.by_uri.get(uri)
            if name is not None:
                return name
        return self.by_subject.get(certificate.subject)

    def identify(self, key: bytes) -> str | None:
        """The name of the client whose key this is, or None. Every client's hash is compared, so
        the time taken does not depend on which one (if any) matched."""
        if not key:
            return None
        digest = hashlib.sha256(key).hexdigest().encode("ascii")
        found = None
        for name, expected in self.clients:
            if hmac.compare_digest(digest, expected) and found is None:
                found = name
        return found

    def __len__(self) -> int:
        return len(self.clients) + len(self.certificate_clients)


def load_api_clients(identity: Identity, environment: Environment) -> ApiClients:
    clients = []
    by_uri: dict[str, str] = {}
    by_subject: dict[str, str] = {}
    for client in identity.api_clients:
        ref = client.key_sha256
        if ref is None:
            match = client.certificate
            assert match is not None  # the model requires one of the two
            if match.san_uri is not None:
                by_uri[match.san_uri] = client.name
            elif match.subject is not None:
                by_subject[canonical_subject(match.subject)] = client.name
            continue
        try:
            value = read_secret(ref, environment).strip().lower()
        except SecretUnavailable as exc:
            raise ApiClientError(f"API client {client.name}: its key hash cannot be read: {exc}") from None
        if not _HEX_SHA256.fullmatch(value):
            raise ApiClientError(
                f"API client {client.name}: {ref} does not hold a SHA-256 hex digest (64 hex digits)"
            )
        clients.append((client.name, value))
    return ApiClients(clients, by_uri, by_subject)
