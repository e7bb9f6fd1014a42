"""What every target reads: the compiled Plan plus the parts of the contract the Plan does not carry
(teams' on-call, services' SLOs, health paths and event contracts), and the render options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from frontdoor import __version__
from frontdoor.errors import FrontdoorError
from frontdoor.render.authz_api import PRIVATE_NETWORKS
from frontdoor.render.naming import UniqueNames

if TYPE_CHECKING:
    from frontdoor.contract.load import Contract
    from frontdoor.contract.models import Service, Team, Upstream
    from frontdoor.contract.values import SecretRef
    from frontdoor.plan import Plan, PlannedEntrypoint, PlannedRoute


class RenderError(FrontdoorError):
    """The contract is valid, but the chosen target cannot express part of it faithfully."""


AUTH_NATIVE, AUTH_EXTERNAL = "native", "external"


@dataclass(frozen=True)
class RenderOptions:
    namespace: str = "frontdoor"  # where frontdoor's objects go (the kustomization sets it)
    image: str = f"frontdoor:{__version__}"  # the image that runs `frontdoor authz`
    auth: str | None = None  # gateway-api: native (Envoy Gateway JWT) or external (frontdoor authz)
    edge_namespace: str | None = None  # where the edge controller's proxies run; per-target default
    gateway_class: str = "eg"  # gateway-api: the GatewayClass of the Envoy Gateway installation
    kafka_cluster: str = "kafka"  # Strimzi: the Kafka cluster the topics and users belong to
    authz_url: str = "http://127.0.0.1:9191"  # nginx: where `frontdoor authz` listens on the VM
    #: Kubernetes: the peers the authz believes (its --trusted); a NetworkPolicy admits only the edge
    authz_trusted: tuple[str, ...] = PRIVATE_NETWORKS


@dataclass
class Site:
    """One environment of one contract, ready to render."""

    contract: Contract
    plan: Plan
    options: RenderOptions
    names: UniqueNames = field(default_factory=UniqueNames)

    @property
    def environment(self) -> str:
        return self.plan.environment

    @property
    def platform_team(self) -> str:
        return self.plan.platform_team

    def sign_in_providers(self) -> list[str]:
        """The providers some exposed route signs browsers in with (``access.login``), sorted: their
        /_frontdoor/ paths go to the authz, which keeps the sessions (docs/access.md)."""
        return sorted({r.access.login for _, r in self.plan.routes() if r.access.login})

    def sign_in_entrypoints(self) -> list[PlannedEntrypoint]:
        """The entrypoints with a route that signs browsers in: they route the /_frontdoor/ paths."""
        return [e for e in self.plan.entrypoints if any(r.access.login for r in e.routes)]

    def exposed_services(self) -> list[str]:
        """Every service some entrypoint exposes, sorted: these get routes, policies and alerts."""
        return sorted({name for e in self.plan.entrypoints for name in e.services})

    def service(self, name: str) -> Service:
        return self.contract.services[name]

    def team(self, name: str) -> Team | None:
        return self.contract.teams.get(name)

    def upstreams(self, service: str) -> tuple[Upstream, ...]:
        pool = self.plan.upstreams.get(service)
        if not pool:  # a valid contract has them (rule 6); a renderer must still not guess
            raise RenderError(f"service {service} has no upstreams in environment {self.environment}")
        return pool

    def routes_of(self, entrypoint: PlannedEntrypoint, service: str) -> list[PlannedRoute]:
        return [r for r in entrypoint.routes if r.service == service]

    def resolve(self, reference: SecretRef) -> SecretRef:
        """``secret:NAME`` as the Environment resolves it (``env:VAR`` or ``file:/path``)."""
        if reference.scheme != "secret":
            return reference
        resolved = self.plan.environment_doc.spec.secret(reference.target)
        if resolved is None:
            raise RenderError(f"{reference} is not resolved by environment {self.environment}")
        return resolved
