"""Cross-document rules of the contract (CONTRACT.md rules 1, 3, 5, 6 and 8, and every reference).

Rules 2 and 4 (a field in the wrong kind, access changed outside its Service) and the secret-literal
half of rule 6 are found while each document is validated, in load.py. Rule 7 (exposure) is a gap,
not an error, and lives with the production verdict.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from frontdoor.contract.exposure import exposed_services
from frontdoor.contract.listeners import entrypoint_overlap, shared_listener_tls
from frontdoor.contract.loaded import Contract
from frontdoor.contract.models import OWNER_ROLE, Edge, Upstream
from frontdoor.contract.tree import is_regular_file
from frontdoor.contract.values import SecretRef
from frontdoor.errors import Finding, Location


def check_rules(contract: Contract) -> list[Finding]:
    findings: list[Finding] = []
    for check in (
        _owners,
        _duplicate_routes,
        _references,
        _openapi_files,
        _edge_coverage,
        entrypoint_overlap,
        shared_listener_tls,
        _promotion,
        _environment_wiring,
        _route_conflicts,
    ):
        findings.extend(check(contract))
    return findings


def _a(word: str | None) -> str:
    return "an" if word and word[0] in "aeiou" else "a"


def _team_owner_of(contract: Contract, role: str) -> str:
    """A fix team for a problem no document owns yet: the only team of that role, or the role itself."""
    teams = sorted(n for n, t in contract.teams.items() if t.spec.role == role)
    return teams[0] if len(teams) == 1 else f"{_a(role)} {role} team"


# --- rule 1: owners --------------------------------------------------------------------------------


def _owners(contract: Contract) -> Iterator[Finding]:
    """Checked on every document's envelope, valid or not: ownership is the first thing to get right."""
    for header in contract.headers:
        kind, name = header.kind, header.name
        role = OWNER_ROLE[kind]
        where = header.source.locate(("metadata", "owner"))
        if header.environments and kind != "Edge":
            yield Finding(
                "schema",
                "metadata.environments is only for an Edge",
                header.source.locate(("metadata", "environments")),
                header.owner or name,
            )
        if kind == "Team":
            if header.has_owner_field:
                yield Finding(
                    "owner-role", f"a Team owns itself: remove metadata.owner from Team {name}", where, name
                )
            continue
        owner = header.owner
        if owner is None:
            problem = "names no valid owner" if header.has_owner_field else "names no owner"
            yield Finding(
                "owner-role",
                f"{kind} {name} {problem}: set metadata.owner to the {role} team that owns it",
                where,
                _team_owner_of(contract, role or ""),
            )
        elif owner not in contract.teams:
            if not contract.declared("Team", owner):
                yield Finding(
                    "owner-role",
                    f"{kind} {name} is owned by {owner}, which is not a declared Team",
                    where,
                    owner,
                )
        elif contract.teams[owner].spec.role != role:
            actual = contract.teams[owner].spec.role
            yield Finding(
                "owner-role",
                f"{kind} {name} must be owned by {_a(role)} {role} team; {owner} is "
                f"{_a(actual)} {actual} team",
                where,
                owner,
            )


def _duplicate_routes(contract: Contract) -> Iterator[Finding]:
    for name, service in contract.services.items():
        seen: dict[str, tuple[frozenset[str] | None, int]] = {}
        for index, route in enumerate(service.spec.routes):
            methods = frozenset(route.methods) if route.methods else None
            key = str(route.path)
            if key in seen:
                other, other_index = seen[key]
                if methods is None or other is None or methods & other:
                    yield Finding(
                        "route-duplicate",
                        f"{name} declares {key} twice for the same methods "
                        f"(first at route {other_index + 1})",
                        contract.locate("Service", name, "spec", "routes", index),
                        service.owner,
                    )
                    continue
                methods = None if other is None else other | methods
            seen[key] = (methods, seen.get(key, (None, index))[1])


# --- references between documents -----------------------------------------------------------------


def _references(contract: Contract) -> Iterator[Finding]:
    for edge_name, edge in contract.edges.items():
        owner = edge.owner
        for served in edge.metadata.environments or ():
            if not contract.declared("Environment", served):
                yield Finding(
                    "unknown-reference",
                    f"Edge {edge_name} serves environment {served}, which is not declared",
                    contract.locate("Edge", edge_name, "metadata", "environments"),
                    owner,
                )
        for i, entrypoint in enumerate(edge.spec.entrypoints):
            for j, service in enumerate(entrypoint.services):
                if service != "*" and not contract.declared("Service", service):
                    yield Finding(
                        "unknown-reference",
                        f"entrypoint {entrypoint.name} exposes service {service}, which is not declared",
                        contract.locate("Edge", edge_name, "spec", "entrypoints", i, "services", j),
                        owner,
                    )
        if edge.spec.rate_limits:
            for service in edge.spec.rate_limits.services:
                if not contract.declared("Service", service):
                    yield Finding(
                        "unknown-reference",
                        f"rate limit for service {service}, which is not declared",
                        contract.locate("Edge", edge_name, "spec", "rate_limits", "services", service),
                        owner,
                    )
        if edge.spec.admin:
            for j, team in enumerate(edge.spec.admin.operators):
                if not contract.declared("Team", team):
                    yield Finding(
                        "unknown-reference",
                        f"admin operator {team} is not a declared Team",
                        contract.locate("Edge", edge_name, "spec", "admin", "operators", j),
                        owner,
                    )
    for env_name, env in contract.environments.items():
        for service in env.spec.upstreams:
            if not contract.declared("Service", service):
                yield Finding(
                    "unknown-reference",
                    f"upstreams for service {service}, which is not declared",
                    contract.locate("Environment", env_name, "spec", "upstreams", service),
                    env.owner,
                )


def _openapi_files(contract: Contract) -> Iterator[Finding]:
    for name, service in contract.services.items():
        if service.spec.api is None:
            continue
        source = contract.sources[("Service", name)]
        target = Path(source.file).parent / service.spec.api.openapi
        if not is_regular_file(target):
            yield Finding(
                "openapi-missing",
                f"api.openapi {service.spec.api.openapi[:200]} is not a file (looked for "
                f"{str(target)[:300]})",
                source.locate(("spec", "api", "openapi")),
                service.owner,
                "warning",
            )


# --- rule 8: one Edge per environment, no overlapping entrypoints (listeners.py), no promotion cycle -


def _edge_coverage(contract: Contract) -> Iterator[Finding]:
    if not contract.complete or any(kind == "Edge" for kind, _ in contract.invalid):
        return  # an Edge that could not be read may be the one missing; its own errors say so
    for env_name in contract.environments:
        edges = contract.edges_for(env_name)
        if not edges:
            yield Finding(
                "edge-coverage",
                f"no Edge serves environment {env_name}: clients have no way in; declare an Edge "
                f"whose metadata.environments lists {env_name} (or an Edge without "
                "metadata.environments, which serves every environment), for example "
                f"edges/public.yaml with kind: Edge and metadata: {{name: public, owner: "
                f"{_team_owner_of(contract, 'platform')}, environments: [{env_name}]}}",
                contract.locate("Environment", env_name, "metadata", "name"),
                _team_owner_of(contract, "platform"),
            )
        elif len(edges) > 1:
            names = ", ".join(e.name for e in edges)
            first = contract.locate("Edge", edges[0].name, "metadata", "name")
            for edge in edges[1:]:
                yield Finding(
                    "edge-coverage",
                    f"environment {env_name} is served by several Edges ({names}); "
                    "exactly one may serve it: set metadata.environments",
                    contract.locate("Edge", edge.name, "metadata", "name"),
                    ", ".join(sorted({e.owner for e in edges})),
                    related=(first,) if first else (),
                )


def _promotion(contract: Contract) -> Iterator[Finding]:
    reported: set[str] = set()
    for env_name, env in contract.environments.items():
        source = env.spec.promotes_from
        if source is not None and not contract.declared("Environment", source):
            yield Finding(
                "unknown-reference",
                f"{env_name} promotes from {source}, which is not a declared Environment",
                contract.locate("Environment", env_name, "spec", "promotes_from"),
                env.owner,
            )
        chain = [env_name]
        current = source
        while current is not None and current in contract.environments:
            if current in chain:
                cycle = chain[chain.index(current) :]
                if not reported & set(cycle):
                    reported.update(cycle)
                    path = " -> ".join([*cycle, current])
                    for member in cycle:
                        member_env = contract.environments[member]
                        yield Finding(
                            "promotion-cycle",
                            f"promotes_from forms a cycle: {path}",
                            contract.locate("Environment", member, "spec", "promotes_from"),
                            member_env.owner,
                        )
                break
            chain.append(current)
            current = contract.environments[current].spec.promotes_from


# --- rule 6: every exposed service has upstreams, every secret resolves ----------------------------


def _edge_secrets(edge: Edge) -> Iterator[tuple[SecretRef, tuple[str | int, ...]]]:
    for i, entrypoint in enumerate(edge.spec.entrypoints):
        if entrypoint.tls:
            yield entrypoint.tls.cert, ("spec", "entrypoints", i, "tls", "cert")
            yield entrypoint.tls.key, ("spec", "entrypoints", i, "tls", "key")
            for c, certificate in enumerate(entrypoint.tls.certificates):
                yield certificate.cert, ("spec", "entrypoints", i, "tls", "certificates", c, "cert")
                yield certificate.key, ("spec", "entrypoints", i, "tls", "certificates", c, "key")
            if entrypoint.tls.client_auth:
                yield entrypoint.tls.client_auth.ca, ("spec", "entrypoints", i, "tls", "client_auth", "ca")
    for i, client in enumerate(edge.spec.identity.api_clients):
        if client.key_sha256 is not None:
            yield client.key_sha256, ("spec", "identity", "api_clients", i, "key_sha256")
    for i, provider in enumerate(edge.spec.identity.providers):
        if provider.login is not None:
            where = ("spec", "identity", "providers", i, "login")
            yield provider.login.client_secret, (*where, "client_secret")
            for k, key in enumerate(provider.login.cookie_keys):
                yield key, (*where, "cookie_keys", k)
    if edge.spec.admin and edge.spec.admin.token:
        yield edge.spec.admin.token, ("spec", "admin", "token")
    if edge.spec.rate_limits and edge.spec.rate_limits.store == "redis":
        yield SecretRef("secret", "redis-url"), ("spec", "rate_limits", "store")


def _upstream_secrets(upstream: Upstream) -> Iterator[tuple[str, SecretRef]]:
    tls = upstream.tls
    if tls is not None:
        for field, ref in (("ca", tls.ca), ("cert", tls.cert), ("key", tls.key)):
            if ref is not None:
                yield field, ref


def _environment_wiring(contract: Contract) -> Iterator[Finding]:
    for env_name, env in contract.environments.items():
        edge = contract.edge_for(env_name)
        if edge is None:
            continue
        for i, entrypoint in enumerate(edge.spec.entrypoints):
            for service in exposed_services(contract, entrypoint):
                if service not in env.spec.upstreams:
                    yield Finding(
                        "upstreams-missing",
                        f"{env_name} has no upstreams for {service}, which entrypoint "
                        f"{entrypoint.name} of Edge {edge.name} exposes",
                        contract.locate("Environment", env_name, "spec", "upstreams"),
                        env.owner,
                        related=_loc(contract.locate("Edge", edge.name, "spec", "entrypoints", i)),
                    )
        for ref, path in _edge_secrets(edge):
            if ref.scheme == "secret" and ref.target not in env.spec.secrets:
                yield Finding(
                    "secret-unresolved",
                    f"{env_name} does not resolve secret:{ref.target}, which Edge "
                    f"{edge.name} uses at {'.'.join(map(str, path))}: add it to spec.secrets as env:VAR "
                    "or file:/path",
                    contract.locate("Environment", env_name, "spec", "secrets"),
                    env.owner,
                    related=_loc(contract.locate("Edge", edge.name, *path)),
                )
        for service, pool in env.spec.upstreams.items():
            for u, upstream in enumerate(pool):
                for field, ref in _upstream_secrets(upstream):
                    if ref.scheme == "secret" and ref.target not in env.spec.secrets:
                        yield Finding(
                            "secret-unresolved",
                            f"{env_name} does not resolve secret:{ref.target}, which its upstream "
                            f"{upstream.url} of {service} uses at tls.{field}: add it to spec.secrets as "
                            "env:VAR or file:/path",
                            contract.locate("Environment", env_name, "spec", "upstreams", service, u, "tls"),
                            env.owner,
                        )
        declared = {c.name for c in edge.spec.identity.api_clients}
        logins = {p.name for p in edge.spec.identity.providers if p.login is not None}
        for service_name in sorted(_services_on(contract, edge)):
            for index, route in enumerate(contract.services[service_name].spec.routes):
                if route.access is None:
                    continue
                login = route.access.login
                if login is not None and login not in logins:
                    yield Finding(
                        "login-provider",
                        f"route {route.path} of {service_name} signs browsers in with provider {login}, "
                        f"which Edge {edge.name} ({env_name}) does not declare with a login block in "
                        "identity.providers",
                        contract.locate("Service", service_name, "spec", "routes", index, "access", "login"),
                        contract.services[service_name].owner,
                        environment=env_name,
                        related=_loc(contract.locate("Edge", edge.name, "spec", "identity", "providers")),
                    )
                for client in route.access.clients:
                    if client not in declared:
                        yield Finding(
                            "unknown-client",
                            f"route {route.path} of {service_name} allows API client "
                            f"{client}, which Edge {edge.name} ({env_name}) does not declare in "
                            "identity.api_clients",
                            contract.locate("Service", service_name, "spec", "routes", index, "access"),
                            edge.owner,
                            environment=env_name,
                        )


def _services_on(contract: Contract, edge: Edge) -> set[str]:
    return {s for e in edge.spec.entrypoints for s in exposed_services(contract, e)}


def _loc(location: Location | None) -> tuple[Location, ...]:
    return (location,) if location else ()


# --- rule 5: no two services claim the same host, path and method ----------------------------------


def _route_conflicts(contract: Contract) -> Iterator[Finding]:
    reported: set[tuple[str, int, str, int]] = set()
    for edge_name, edge in contract.edges.items():
        for entrypoint in edge.spec.entrypoints:
            claims: dict[str, list[tuple[str, int, frozenset[str] | None]]] = {}
            for service_name in exposed_services(contract, entrypoint):
                for index, route in enumerate(contract.services[service_name].spec.routes):
                    methods = frozenset(route.methods) if route.methods else None
                    for other_service, other_index, other_methods in claims.get(str(route.path), []):
                        if other_service == service_name:
                            continue
                        if methods is None or other_methods is None or methods & other_methods:
                            key = (other_service, other_index, service_name, index)
                            if key in reported:
                                continue  # the same two routes, met again on another entrypoint
                            reported.add(key)
                            yield _conflict(
                                contract,
                                edge_name,
                                entrypoint.hosts,
                                str(route.path),
                                (other_service, other_index),
                                (service_name, index),
                                methods,
                                other_methods,
                            )
                    claims.setdefault(str(route.path), []).append((service_name, index, methods))


def _conflict(
    contract: Contract,
    edge: str,
    hosts: tuple[str, ...],
    path: str,
    first: tuple[str, int],
    second: tuple[str, int],
    a: frozenset[str] | None,
    b: frozenset[str] | None,
) -> Finding:
    if a is None or b is None:
        overlap = a if b is None else b
    else:
        overlap = a & b
    shared = "every method" if overlap is None else ", ".join(sorted(overlap))
    owners = [contract.services[first[0]].owner, contract.services[second[0]].owner]
    where_first = contract.locate("Service", first[0], "spec", "routes", first[1])
    return Finding(
        "route-conflict",
        f"{path} ({shared}) on {', '.join(hosts)} (Edge {edge}) is claimed by {first[0]} (owner {owners[0]}) "
        f"and by {second[0]} (owner {owners[1]})",
        contract.locate("Service", second[0], "spec", "routes", second[1]),
        ", ".join(dict.fromkeys(owners)),
        related=_loc(where_first),
    )
