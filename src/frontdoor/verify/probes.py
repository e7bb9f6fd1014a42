"""Which requests to send to one entrypoint, and what each must get back, from the contract alone.

Expectations come from the project's own router (policy/routing.py) and path normalization
(http/paths.py), so they follow the routing semantics of docs/contract.md exactly: a path's GET may
fall back to a shorter route, a method no route of the chain lists is 405, a path no route owns 404.
Probes are GET (and, with ``allow_writes``, the routes' own methods with an empty body); a credential
is carried in ``headers`` and never shown (``repr=False``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from frontdoor.contract.loaded import Contract
from frontdoor.contract.models import AccessRule
from frontdoor.errors import Location
from frontdoor.http.paths import PathError, normalize_path
from frontdoor.plan import Plan, PlannedEntrypoint, PlannedRoute
from frontdoor.policy.killswitch import route_id
from frontdoor.policy.routing import Router
from frontdoor.verify.credentials import ApiKey, UserToken
from frontdoor.verify.forge import Forged

#: what an answer must be:
#: challenge     401 with a WWW-Authenticate challenge of the route's scheme (Bearer, or ApiKey)
#: unauthorized  401
#: admitted      anything but 401, 403, 405 (the upstream's own 2xx, 3xx or 404 included)
#: forbidden     403
#: method        405
#: no-route      404
#: not-admitted  anything but a 2xx: the request must not reach the upstream
#: stopped       503 naming the route's owner (a stop in force, read from the admin API)
Expect = Literal[
    "challenge", "unauthorized", "admitted", "forbidden", "method", "no-route", "not-admitted", "stopped"
]

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
TRICK_ANCHOR = "/frontdoor-verify"


@dataclass(frozen=True)
class Probe:
    kind: str  # anonymous, a forged variant, token, api-key, method, no-route, path-trick
    method: str
    target: str  # the request target, sent as is
    expect: Expect
    about: str  # what is sent, in words, e.g. "without credentials"
    route: PlannedRoute | None = None
    where: Location | None = None
    scheme: str = "Bearer"  # the challenge a "challenge" answer must carry
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    certificate: bool = False  # sent with the client certificate of --cert (on its own connection)

    @property
    def label(self) -> str:
        return f"{self.method} {self.target}"


@dataclass(frozen=True)
class Credentials:
    forged: Sequence[Forged] = ()
    user: UserToken | None = None
    keys: Sequence[ApiKey] = ()
    certificate: str | None = None  # the API client the --cert certificate identifies


#: what a request carries for ``answer_for``: a forged token, or the user's
FORGED: Final = "forged"


def answer_for(
    access: AccessRule,
    certificate_clients: frozenset[str],
    certificate: str | None = None,
    key: str | None = None,
    token: UserToken | Literal["forged"] | None = None,
) -> tuple[Expect, str]:
    """What a non-public route must answer a request carrying a client certificate of ``certificate``
    (a client's name), the API key of ``key``, and ``token``, with the challenge scheme: the contract's
    semantics (docs/contract.md, access), in serve's order (access/stage.py): the client first, by its
    certificate before any key, then the user. A route only certificate clients may call answers a
    request without one 403, not a challenge: no header could prove such a client."""
    scheme = "Bearer" if access.requires_user else "ApiKey"
    if access.clients:
        client = certificate or key
        if client is None:
            if set(access.clients) <= certificate_clients:
                return "forbidden", scheme
            return "challenge", scheme
        if client not in access.clients:
            return "forbidden", scheme
    if not access.requires_user:
        return "admitted", scheme
    if token is None:
        return "challenge", "Bearer"
    if token == FORGED:
        return "unauthorized", "Bearer"
    assert isinstance(token, UserToken)
    return ("admitted" if token.allows(access) else "forbidden"), "Bearer"


def route_where(contract: Contract, route: PlannedRoute) -> Location | None:
    return contract.locate("Service", route.service, "spec", "routes", route.index)


def _paths(entrypoint: PlannedEntrypoint) -> list[str]:
    return list(dict.fromkeys(route.path.path for route in entrypoint.routes))


class Planner:
    def __init__(
        self,
        contract: Contract,
        entrypoint: PlannedEntrypoint,
        host: str,
        stopped: frozenset[str] = frozenset(),
        certificate_clients: frozenset[str] = frozenset(),
        presented: str | None = None,
    ) -> None:
        self.contract = contract
        self.entrypoint = entrypoint
        self.host = host
        self.router = Router([entrypoint])
        self.stopped = stopped  # route ids with a stop in force: the kill switch answers before access
        self.certificate_clients = certificate_clients  # the Edge's clients identified by certificate
        #: the client whose certificate every request carries: an entrypoint that requires one (--cert)
        self.presented = presented

    def _stop(self, method: str, path: str, route: PlannedRoute) -> Probe | None:
        if route_id(route) not in self.stopped:
            return None
        return self._probe("stopped", method, path, "stopped", "while the route is stopped", route)

    def _probe(
        self,
        kind: str,
        method: str,
        target: str,
        expect: Expect,
        about: str,
        route: PlannedRoute | None,
        scheme: str = "Bearer",
        headers: Mapping[str, str] | None = None,
        certificate: bool = False,
    ) -> Probe:
        where = route_where(self.contract, route) if route is not None else None
        return Probe(kind, method, target, expect, about, route, where, scheme, headers or {}, certificate)

    def _answer(
        self,
        access: AccessRule,
        certificate: str | None = None,
        key: str | None = None,
        token: UserToken | Literal["forged"] | None = None,
    ) -> tuple[Expect, str]:
        """``answer_for`` with the certificate every request carries, where the entrypoint requires one."""
        return answer_for(access, self.certificate_clients, certificate or self.presented, key, token)

    def _anchor(self) -> str:
        """A public prefix route's path: the tricks that try to reach a protected route through it."""
        for path in _paths(self.entrypoint):
            match = self.router.match(self.host, path, "GET")
            if match.route is not None and match.route.access.is_public and not match.route.path.exact:
                return path.rstrip("/") or TRICK_ANCHOR
        return TRICK_ANCHOR

    def plan(self, credentials: Credentials, allow_writes: bool) -> list[Probe]:
        probes: list[Probe] = []
        anchor = self._anchor()
        for path in _paths(self.entrypoint):
            probes += self._get(path, credentials, anchor)
            if allow_writes:
                probes += self._writes(path)
        unowned = f"/frontdoor-verify-{secrets.token_hex(4)}/no-route"
        if self.router.match(self.host, unowned, "GET").status == 404:
            probes.append(self._probe("no-route", "GET", unowned, "no-route", "a path no route owns", None))
        return probes

    def _get(self, path: str, credentials: Credentials, anchor: str) -> list[Probe]:
        match = self.router.match(self.host, path, "GET")
        if match.status == 405:
            own = next(r for r in self.entrypoint.routes if r.path.path == path)
            allowed = ", ".join(match.allowed)
            return [self._probe("method", "GET", path, "method", f"GET, which only {allowed} may use", own)]
        route = match.route
        if route is None:
            return []
        stop = self._stop("GET", path, route)
        if stop is not None:
            return [stop]
        if route.access.is_public:
            return [self._probe("anonymous", "GET", path, "admitted", "without credentials (public)", route)]
        access = route.access
        expect, scheme = self._answer(access)
        about = (
            "without credentials" if self.presented is None else f"with {self.presented}'s certificate only"
        )
        if expect == "forbidden" and self.presented is None:
            about += " (only certificate clients may call it)"
        probes = [self._probe("anonymous", "GET", path, expect, about, route, scheme=scheme)]
        if route.path.path != path:
            return probes  # GET falls back to a shorter path, whose own probes test the rest
        if access.requires_user and self._answer(access, token=FORGED)[0] == "unauthorized":
            for forged in credentials.forged:  # where the token is what decides, not a missing client
                probes.append(
                    self._probe(
                        forged.variant,
                        "GET",
                        path,
                        "unauthorized",
                        f"with {forged.about}",
                        route,
                        headers={"Authorization": f"Bearer {forged.token}"},
                    )
                )
        user = credentials.user
        if user is not None and access.requires_user:
            expect, scheme = self._answer(access, token=user)
            if not access.clients or expect != self._answer(access)[0]:  # not refused for the client alone
                probes.append(
                    self._probe(
                        "token",
                        "GET",
                        path,
                        expect,
                        "with the token given",
                        route,
                        scheme=scheme,
                        headers={"Authorization": f"Bearer {user.token}"},
                    )
                )
        if access.clients and self.presented is None:  # a certificate carried always decides first
            for key in credentials.keys:
                expect, scheme = self._answer(access, key=key.client)
                probes.append(
                    self._probe(
                        "api-key",
                        "GET",
                        path,
                        expect,
                        f"with the API key of {key.client}",
                        route,
                        scheme=scheme,
                        headers={"X-Api-Key": key.key},
                    )
                )
        client = credentials.certificate
        if access.clients and client is not None and self.presented is None:
            expect, scheme = self._answer(access, certificate=client)
            probes.append(
                self._probe(
                    "certificate",
                    "GET",
                    path,
                    expect,
                    f"with the client certificate of {client}",
                    route,
                    scheme=scheme,
                    certificate=True,
                )
            )
        if probes[0].expect == "admitted":
            return probes  # the certificate carried opens the route: a trick to reach it proves nothing
        probes += self._tricks(path, anchor)
        return probes

    def _tricks(self, path: str, anchor: str) -> list[Probe]:
        """Paths that a careless edge routes to something public, or nowhere, while an upstream that
        normalizes them again serves the protected ``path``: they must never be admitted."""
        rest = path.lstrip("/")
        tricks = [
            (f"{anchor}/../{rest}", "a dot-dot segment"),
            (f"{anchor}/..%2F{rest}", "an encoded slash"),
            (f"{TRICK_ANCHOR}/%252e%252e/{rest}", "a double-encoded dot-dot"),
        ]
        probes = []
        for target, trick in tricks:
            try:
                normalized = normalize_path(target)
            except PathError:
                normalized = None
            if normalized is not None:
                landed = self.router.match(self.host, normalized, "GET").route
                if landed is not None and landed.access.is_public:
                    continue  # the contract itself opens where it lands: nothing to prove
            route = self.router.match(self.host, path, "GET").route
            probes.append(
                self._probe(
                    "path-trick",
                    "GET",
                    target,
                    "not-admitted",
                    f"without credentials, through {trick}",
                    route,
                )
            )
        return probes

    def _writes(self, path: str) -> list[Probe]:
        """With --allow-writes: each write method of the path, without credentials and with an empty
        body, must be refused (401 where a route takes it, 405 where none does)."""
        probes = []
        for method in WRITE_METHODS:
            match = self.router.match(self.host, path, method)
            route = match.route
            if match.status == 405:
                own = next(r for r in self.entrypoint.routes if r.path.path == path)
                allowed = ", ".join(match.allowed)
                probes.append(
                    self._probe(
                        "method", method, path, "method", f"{method}, which only {allowed} may use", own
                    )
                )
            elif route is not None and (stop := self._stop(method, path, route)) is not None:
                probes.append(stop)
            elif route is not None and not route.access.is_public:
                expect, scheme = self._answer(route.access)
                if expect != "admitted":  # never a write the contract lets through
                    about = "without credentials" if self.presented is None else "with a certificate only"
                    probes.append(self._probe("anonymous", method, path, expect, about, route, scheme=scheme))
        return probes


def entrypoint_for(plan: Plan, name: str | None, port: int, host: str | None) -> PlannedEntrypoint:
    """The entrypoint a base URL reaches: the one named, else the only one, else the one on the URL's
    port, else the one serving its host. Raises ValueError naming the choices."""
    entrypoints = plan.entrypoints
    if name is not None:
        for entrypoint in entrypoints:
            if entrypoint.name == name:
                return entrypoint
        raise ValueError(f"no entrypoint named {name} (declared: {', '.join(e.name for e in entrypoints)})")
    if len(entrypoints) == 1:
        return entrypoints[0]
    by_port = [e for e in entrypoints if e.listen.port == port]
    if len(by_port) == 1:
        return by_port[0]
    if host is not None:
        router_hosts = [e for e in entrypoints if host in e.hosts]
        if len(router_hosts) == 1:
            return router_hosts[0]
    raise ValueError(
        f"the base URL could reach several entrypoints ({', '.join(e.name for e in entrypoints)}): "
        "choose one with --entrypoint"
    )
