"""The policy stages every routed request passes, in order, before it goes upstream.

Each stage is built once from the Plan and answers ``None`` (go on), a Denial, or, only when it must
wait on the network (a JWKS refresh, a shared rate-limit store), an awaitable of either. The common
case stays a few synchronous calls: the gateway creates a task only for a request whose answer is
really pending. The order is the contract's: an operator's kill switch first, then who the caller is,
then how much they may send, then whether the service can take more.

``serve`` and ``authz`` run the same Pipeline on an Admission; only how they build the Admission (the
request itself, or the original request an ingress asks about) and what they do with the answer differ.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from frontdoor.http.h1 import RequestHead
from frontdoor.plan import Plan, PlannedRoute

if TYPE_CHECKING:
    from frontdoor.access.tokens import TokenVerifier, VerifiedToken

Header = tuple[bytes, bytes]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Denial:
    status: int
    reason: str  # safe to show the client: never a secret, never an internal detail
    rule: str  # the stage and clause that denied, for the log and the admin view
    headers: tuple[Header, ...] = ()
    kind: str = ""  # a short machine name for the deny (e.g. "rate-limit"); the stage's name if empty


class SeenToken:
    """The Authorization field one client connection sent last, what its token verified as, and by
    which verifier (a reload brings a new one, which believes nothing of the old one's). A keep-alive
    client sends the same field request after request: comparing it with the last one costs less than
    parsing and hashing it for the shared cache. The access stage checks what it remembers as it checks
    a cache entry (expiry, signing key still held) before believing it.
    """

    __slots__ = ("value", "verified", "verifier")

    def __init__(self) -> None:
        self.value = b""
        self.verified: VerifiedToken | None = None
        self.verifier: TokenVerifier | None = None


class Admission:
    """One request being decided, and what the stages learn about it on the way.

    ``method`` and ``path`` are the request's (normalized path, no query): for ``authz`` they are the
    original request's, taken from the ingress's headers, while ``head`` is the check request whose
    other headers (Authorization, X-Api-Key) the ingress copied from the original.
    """

    __slots__ = (
        "_client",
        "api_client",
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
        "seen",
        "subject",
        "trusted_proxies",
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
        seen: SeenToken | None = None,
    ) -> None:
        self.head = head
        self.route = route
        self.method = method
        self.path = path
        self.peer = peer  # the socket's peer address
        self.trusted_proxies = trusted_proxies  # the peer and these are believed about X-Forwarded-For
        self.now = now  # time.monotonic() when the decision started
        self._client: str | None = None  # client_address(), once worked out
        self.seen = seen  # the connection's last token, when it has one connection to one client
        # Filled in by the access stage:
        self.subject: str | None = None  # the verified token's ``sub``
        self.scopes: frozenset[str] = frozenset()
        self.issuer: str | None = None
        self.api_client: str | None = None  # the API client's name from the Edge
        # Filled in by any stage, allocated only when used:
        self.upstream_headers: list[Header] | None = None  # X-Frontdoor-* identity for the upstream
        # header lines for the response, CRLF included (e.g. RateLimit on an allowed response), as one
        # piece: a stage often hands the same bytes object every time, and no list is made for it
        self.response_head = b""
        self.finishers: list[Callable[[int], None]] | None = None  # called once with the final status

    def add_upstream_header(self, name: bytes, value: bytes) -> None:
        if self.upstream_headers is None:
            self.upstream_headers = []
        self.upstream_headers.append((name, value))

    def add_response_header(self, name: bytes, value: bytes) -> None:
        self.add_response_lines(b"%b: %b\r\n" % (name, value))

    def add_response_lines(self, lines: bytes) -> None:
        """Whole header lines for the response, each with its CRLF."""
        self.response_head = self.response_head + lines if self.response_head else lines

    def response_fields(self) -> list[Header]:
        """The response header lines as (name, value) pairs."""
        fields: list[Header] = []
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
        if not _within(self.peer, self.trusted_proxies):
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
            if not _within(hop, self.trusted_proxies):
                break
        return client


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


Verdict = Denial | None | Awaitable[Denial | None]


class Stage(Protocol):
    name: str

    def check(self, admission: Admission) -> Verdict: ...


class Pipeline:
    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)
        # the stages' bound checks, looked up once: calling one skips finding "check" by name
        self._checks: tuple[Callable[[Admission], Verdict], ...] = tuple(stage.check for stage in stages)

    def check(self, admission: Admission) -> Verdict:
        """The first Denial, or None to admit; an awaitable when a stage has to wait."""
        checks = self._checks
        for index, check in enumerate(checks):
            verdict = check(admission)
            if verdict is None:
                continue
            if isinstance(verdict, Denial):
                return verdict
            if index + 1 == len(checks):
                return verdict  # the last stage: its awaitable as is (a future needs no task)
            return self._resume(verdict, index + 1, admission)
        return None

    async def _resume(
        self, pending: Awaitable[Denial | None], start: int, admission: Admission
    ) -> Denial | None:
        verdict = await pending
        if verdict is not None:
            return verdict
        for check in self._checks[start:]:
            step = check(admission)
            if step is None:
                continue
            if isinstance(step, Denial):
                return step
            step = await step
            if step is not None:
                return step
        return None


@dataclass(frozen=True)
class StageContext:
    """What stages need beyond the plan, from the process that runs them (serve or authz)."""

    workers: int = 1  # processes sharing the deployment's load on this machine (a local limit divides)
    state_dir: Path | None = None  # where state that outlives a restart is kept (stops, the audit log)


def build_pipeline(plan: Plan, context: StageContext | None = None) -> Pipeline:
    # here, not at the top: the stages import Admission and Denial from this module
    from frontdoor.access.stage import AccessStage
    from frontdoor.policy.killswitch import KillSwitchStage, store_for
    from frontdoor.protection import protection_stages

    context = context or StageContext()
    return Pipeline(
        [
            KillSwitchStage(plan, store_for(plan, context)),
            AccessStage(plan),
            *protection_stages(plan, context),
        ]
    )
