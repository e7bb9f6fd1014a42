"""A contract compiled for one environment: the immutable plan every data-plane command reads.

``check``'s verdict, ``who``, ``diff``, and later ``serve``, ``authz`` and ``render`` all decide from
the same Plan, so that what the contract says and what the edge does cannot drift apart.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping  # at run time too: the compiled build evaluates the dataclasses' fields
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from frontdoor.contract.exposure import exposed_services
from frontdoor.contract.load import load_valid_contract
from frontdoor.contract.models import AccessRule, Edge, Environment, RateLimit, Tls, Upstream
from frontdoor.contract.values import ListenAddress, RoutePath
from frontdoor.errors import FrontdoorError, UnknownEnvironment

if TYPE_CHECKING:
    from frontdoor.contract.loaded import Contract


class PlanError(FrontdoorError):
    pass


@dataclass(frozen=True, slots=True)
class PlannedRoute:
    service: str
    index: int  # position in the Service's routes, to point back at the contract
    path: RoutePath
    methods: frozenset[str] | None  # None: every method
    access: AccessRule
    strip_prefix: bool
    owner: str  # the app team that owns the Service

    def allows(self, method: str) -> bool:
        if self.methods is None:
            return True
        # RFC 9110 9.3.2: HEAD is GET without the body, so a GET route answers HEAD too.
        return method in self.methods or (method == "HEAD" and "GET" in self.methods)

    @property
    def method_text(self) -> str:
        return "*" if self.methods is None else ",".join(sorted(self.methods))


@dataclass(frozen=True, slots=True)
class PlannedEntrypoint:
    name: str
    listen: ListenAddress
    hosts: tuple[str, ...]
    tls: Tls | None
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    services: tuple[str, ...]
    routes: tuple[PlannedRoute, ...]

    @property
    def sends_hsts(self) -> bool:
        """Its answers carry Strict-Transport-Security: ``tls.hsts``, which plain HTTP never sends
        (RFC 6797 7.2). One definition for serve, verify and every render target."""
        return self.tls is not None and self.tls.hsts


@dataclass(frozen=True)
class Plan:
    environment: str
    production: bool
    edge: Edge
    environment_doc: Environment
    entrypoints: tuple[PlannedEntrypoint, ...]
    upstreams: Mapping[str, tuple[Upstream, ...]]
    service_owners: Mapping[str, str]
    health_paths: Mapping[str, str] = field(default_factory=dict)  # service -> health.readiness

    @property
    def platform_team(self) -> str:
        return self.edge.owner

    @property
    def delivery_team(self) -> str:
        return self.environment_doc.owner

    def rate_limit_for(self, service: str) -> RateLimit | None:
        limits = self.edge.spec.rate_limits
        if limits is None:
            return None
        return limits.services.get(service, limits.default)

    def routes(self) -> list[tuple[PlannedEntrypoint, PlannedRoute]]:
        return [(e, r) for e in self.entrypoints for r in e.routes]


def compile_plan(contract: Contract, environment: str) -> Plan:
    """Compile ``environment``; the contract must be valid (load_contract reported no error)."""
    env = contract.environments.get(environment)
    if env is None:
        known = ", ".join(contract.promotion_order()) or "none"
        raise UnknownEnvironment(f"no Environment named {environment} (declared: {known})")
    edge = contract.edge_for(environment)
    if edge is None:
        raise PlanError(f"environment {environment} is not served by exactly one Edge")
    entrypoints = []
    for entrypoint in edge.spec.entrypoints:
        services = tuple(exposed_services(contract, entrypoint))
        routes = tuple(
            PlannedRoute(
                service=name,
                index=index,
                path=route.path,
                methods=frozenset(route.methods) if route.methods else None,
                access=route.access,
                strip_prefix=route.strip_prefix,
                owner=contract.services[name].owner,
            )
            for name in services
            for index, route in enumerate(contract.services[name].spec.routes)
            if route.access is not None
        )
        entrypoints.append(
            PlannedEntrypoint(
                entrypoint.name,
                entrypoint.listen,
                entrypoint.hosts,
                entrypoint.tls,
                entrypoint.trusted_proxies,
                services,
                routes,
            )
        )
    return Plan(
        environment=environment,
        production=env.spec.production,
        edge=edge,
        environment_doc=env,
        entrypoints=tuple(entrypoints),
        upstreams=MappingProxyType(dict(env.spec.upstreams)),
        service_owners=MappingProxyType({name: s.owner for name, s in contract.services.items()}),
        health_paths=MappingProxyType(
            {
                name: s.spec.health.readiness
                for name, s in contract.services.items()
                if s.spec.health is not None and s.spec.health.readiness is not None
            }
        ),
    )


def load_plan(directory: Path, environment: str) -> Plan:
    """The contract in ``directory``, validated and compiled for ``environment``; raises FrontdoorError
    with every error if it is invalid. What serve, authz and the demo start from."""
    return compile_plan(load_valid_contract(directory), environment)
