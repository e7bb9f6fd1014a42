"""OIDC discovery (OpenID Connect Discovery 1.0, section 4): where a provider's sign-in, token and
sign-out endpoints are. Fetched once on first use and kept (the document changes when the provider is
reconfigured, and a restart or reload of the gateway fetches it again); a failed fetch is not kept, so
the next sign-in tries again."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from frontdoor.access.keys import FETCH_TIMEOUT_S, GetJson, KeyFetchError, discovery_url


class DiscoveryError(Exception):
    """The provider's discovery document could not be fetched or is unusable; safe to log."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorization: str
    token: str
    end_session: str | None


def parse_discovery(document: object, issuer: str) -> Endpoints:
    if not isinstance(document, dict):
        raise DiscoveryError("the discovery document is not a JSON object")
    # section 4.3: the issuer in the document must be exactly the one it was fetched for
    if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise DiscoveryError("the discovery document names another issuer")
    endpoints = []
    for member in ("authorization_endpoint", "token_endpoint"):
        value = document.get(member)
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise DiscoveryError(f"the discovery document has no usable {member}")
        endpoints.append(value)
    end = document.get("end_session_endpoint")
    end_session = end if isinstance(end, str) and end.startswith(("https://", "http://")) else None
    return Endpoints(endpoints[0], endpoints[1], end_session)


class Discovery:
    """One provider's endpoints, fetched in a thread (the event loop never waits on the network)."""

    def __init__(self, issuer: str, get_json: GetJson) -> None:
        self.issuer = issuer
        self.get_json = get_json
        self.endpoints: Endpoints | None = None
        self._pending: asyncio.Future[Endpoints] | None = None

    async def get(self) -> Endpoints:
        if self.endpoints is not None:
            return self.endpoints
        if self._pending is None or self._pending.done():
            # one fetch shared by every sign-in that starts while it runs
            self._pending = asyncio.ensure_future(self._fetch())
        return await asyncio.shield(self._pending)

    async def _fetch(self) -> Endpoints:
        loop = asyncio.get_running_loop()
        try:
            document = await loop.run_in_executor(
                None, self.get_json, discovery_url(self.issuer), FETCH_TIMEOUT_S
            )
        except KeyFetchError as exc:
            raise DiscoveryError(str(exc)) from None
        self.endpoints = parse_discovery(document, self.issuer)
        return self.endpoints
