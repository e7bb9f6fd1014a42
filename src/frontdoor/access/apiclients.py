"""API clients: machine callers that present ``X-Api-Key``.

The contract holds only a reference to each key's SHA-256 (hex), resolved through the Environment when
the gateway starts; a presented key is hashed and compared in constant time with every client's hash.
A hash that cannot be read stops the gateway from starting: the error names the reference, never a value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from frontdoor.contract.models import Environment, Identity
from frontdoor.errors import FrontdoorError
from frontdoor.secretstore import SecretUnavailable, read_secret

_HEX_SHA256 = re.compile(rb"[0-9a-f]{64}")


class ApiClientError(FrontdoorError):
    pass


class ApiClients:
    def __init__(self, clients: Sequence[tuple[str, bytes]]) -> None:
        self.clients = tuple(clients)  # (name, lowercase hex SHA-256 of its key)

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
        return len(self.clients)


def load_api_clients(identity: Identity, environment: Environment) -> ApiClients:
    clients = []
    for client in identity.api_clients:
        ref = client.key_sha256
        try:
            value = read_secret(ref, environment).strip().lower()
        except SecretUnavailable as exc:
            raise ApiClientError(f"API client {client.name}: its key hash cannot be read: {exc}") from None
        if not _HEX_SHA256.fullmatch(value):
            raise ApiClientError(
                f"API client {client.name}: {ref} does not hold a SHA-256 hex digest (64 hex digits)"
            )
        clients.append((client.name, value))
    return ApiClients(clients)
