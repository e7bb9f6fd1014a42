"""What every policy stage works on and answers: the request being decided (Admission), a refusal
(Denial), the answer type (Verdict), the Stage interface and what a stage is built with (StageContext).

Stages import these from here, never from the Pipeline that runs them nor from the composition root
(frontdoor.assembly) that builds them: a new stage depends only on this module and the Plan.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from frontdoor.http.fields import Field
from frontdoor.http.h1 import RequestHead
from frontdoor.networks import Network, within
from frontdoor.plan import PlannedRoute
from frontdoor.policy.clientcert import ClientCertificate

# the scopes of a request no token came with: one shared empty set, not a new one per request
_NO_SCOPES: Final[frozenset[str]] = frozenset()


@dataclass(frozen=True, slots=True)
class Denial:
    status: int
    reason: str  # safe to show the client: never a secret, never an internal detail
    rule: str  # the stage and clause that denied, for the log and the admin view
    headers: tuple[Field, ...] = ()
    kind: str = ""  # a short machine name for the deny (e.g. "rate-limit"); the stage's name if empty


class Admission:
    """One request being decided, and what the stages learn about it on the way.

    ``method`` and ``path`` are the request's (normalized path, no query): for ``authz`` they are the
    original request's, taken from the ingress's headers, while ``head`` is the check request whose
    other headers (Authorization, X-Api-Key) the ingress copied from the original.
    """

    __slots__ = (
        "_client",
        "api_client",
        "certificate",
        "finishers",
        "head",
        "issuer",
        "method",
        "now",
        "path",
        "peer",
        "response_head",
        "route",
        "scopes",
        "secure",
        "seen",
        "subject",
        "target",
        "trusted_proxies",
        "upstream_head",
        "upstream_headers",
    )

    def __init__(
        self,
        head: RequestHead,
        route: PlannedRoute,
        method: str,
        path: str,
        peer: str,
        trusted_proxies: tuple[Network, ...],
        now: float,
        seen: object | None = None,
        certificate: ClientCertificate | None = None,
    ) -> None:
        self.head = head
        self.route = route
        self.method = method
        self.path = path
        self.peer = peer  # the socket's peer address
        self.trusted_proxies = trusted_proxies  # the peer and these are believed about X-Forwarded-For
        self.now = now  # time.monotonic() when the decision started
        self._client: str | None = None  # client_address(), once worked out
        # the connection's memory for the access stage (access/tokens.py's SeenToken), when there is one
        # connection to one client: opaque here, so that deciding does not depend on how a token is checked
        self.seen = seen
        # the client certificate the TLS layer verified (serve's handshake, or the ingress's for authz)
        self.certificate = certificate
        # set by the process when it knows them: whether the client came over TLS (a cookie the gateway
        # sets is then Secure), and the original target with its query (where sign-in returns to)
        self.secure = False
        self.target = ""
        # Filled in by the access stage:
        self.subject: str | None = None  # the verified token's ``sub``
        self.scopes: frozenset[str] = _NO_SCOPES
        self.issuer: str | None = None
        self.api_client: str | None = None  # the API client's name from the Edge
        # Filled in by any stage, allocated only when used:
        # X-Frontdoor-* identity for the upstream, allocated only when used: as fields (what authz
        # answers with) and as the same fields' header lines, CRLF included (what serve forwards), both
        # written only by add_upstream_fields, so they always say the same
        self.upstream_headers: Sequence[Field] | None = None
        self.upstream_head = b""
        # header lines for the response, CRLF included (e.g. RateLimit on an allowed response), as one
        # piece: a stage often hands the same bytes object every time, and no list is made for it
        self.response_head = b""
        self.finishers: list[Callable[[int], None]] | None = None  # called once with the final status

    def add_upstream_header(self, name: bytes, value: bytes) -> None:
        self.add_upstream_fields(((name, value),), b"%b: %b\r\n" % (name, value))

    def add_upstream_fields(self, fields: Sequence[Field], lines: bytes) -> None:
        """Fields for the upstream, with ``lines`` = ``field_lines(fields)``, which a stage may have made
        once for many requests (a verified token's identity)."""
        if self.upstream_headers is None:
            # kept as given, not copied: never changed in place (a token's are shared by its requests)
            self.upstream_headers = fields
            self.upstream_head = lines
        else:
            self.upstream_headers = [*self.upstream_headers, *fields]
            self.upstream_head += lines

    def add_response_header(self, name: bytes, value: bytes) -> None:
        self.add_response_lines(b"%b: %b\r\n" % (name, value))

    def add_response_lines(self, lines: bytes) -> None:
        """Whole header lines for the response, each with its CRLF."""
        self.response_head = self.response_head + lines if self.response_head else lines

    def response_fields(self) -> list[Field]:
        """The response header lines as (name, value) pairs."""
        fields: list[Field] = []
        for line in self.response_head.split(b"\r\n")[:-1]:
            name, _, value = line.partition(b":")
            fields.append((name, value.strip()))
        return fields

    def on_finish(self, callback: Callable[[int], None]) -> None:
        """Run ``callback(status)`` once the request is over (answered, denied later, or abandoned)."""
        if self.finishers is None:
            self.finishers = []
        self.finishers.append(callback)

    def finish(self, status: int) -> None:
        finishers, self.finishers = self.finishers, None
        if finishers:
            for callback in finishers:
                callback(status)

    def client_address(self) -> str:
        """The client's address: the peer, or, when the peer is a trusted proxy, the nearest address in
        X-Forwarded-For that is not itself a trusted proxy (walking from the right, RFC 7239 style)."""
        if not self.trusted_proxies:
            return self.peer
        if self._client is None:
            # asked by the rate limit's key and by the access log: worked out once per request
            self._client = self._forwarded_client()
        return self._client

    def _forwarded_client(self) -> str:
        if not within(self.peer, self.trusted_proxies):
            return self.peer
        hops: list[str] = []
        for name, value in self.head.headers:
            if name.lower() == b"x-forwarded-for":
                hops.extend(part.strip() for part in value.decode("latin-1").split(","))
        client = self.peer
        for hop in reversed(hops):
            if not hop:
                continue
            client = hop
            if not within(hop, self.trusted_proxies):
                break
        return client


Verdict = Denial | None | Awaitable[Denial | None]


class Stage(Protocol):
    name: str

    def check(self, admission: Admission) -> Verdict: ...


@dataclass(frozen=True)
class StageContext:
    """What stages need beyond the plan, from the process that runs them (serve or authz)."""

    workers: int = 1  # processes sharing the deployment's load on this machine (a local limit divides)
    state_dir: Path | None = None  # where state that outlives a restart is kept (stops, the audit log)
