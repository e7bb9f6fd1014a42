"""``frontdoor demo``: demo upstreams for every loopback upstream of the environment, the local identity
provider for every loopback issuer of the Edge, then the gateway."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import TextIO

from frontdoor.demo.ports import moved_contract
from frontdoor.demo.upstream import start_upstream
from frontdoor.errors import FrontdoorError
from frontdoor.idp.issuer import start_issuer
from frontdoor.idp.running import announce, withdraw
from frontdoor.idp.signin import Desk
from frontdoor.idp.tokens import DEFAULT_AUDIENCE
from frontdoor.plan import Plan, load_plan
from frontdoor.proxy.runtime import Runtime
from frontdoor.proxy.server import Gateway, serve
from frontdoor.report.check import run_check
from frontdoor.secretstore import resolve


def demo_api_keys(plan: Plan) -> dict[str, str]:
    """Demo keys for the Edge's API clients whose key hash comes from an unset environment variable:
    the variable is set to the hash of ``demo-<client>-key`` (dev only; the key is printed to try)."""
    keys = {}
    for client in plan.edge.spec.identity.api_clients if plan.edge.spec.identity else ():
        if client.key_sha256 is None:
            continue  # a certificate client has no key to make up
        try:
            reference = resolve(client.key_sha256, plan.environment_doc)
        except FrontdoorError:
            continue
        if reference.scheme == "env" and reference.target not in os.environ:
            key = f"demo-{client.name}-key"
            os.environ[reference.target] = hashlib.sha256(key.encode()).hexdigest()
            keys[client.name] = key
    return keys


DEMO_ADMIN_TOKEN = "demo-admin-token"
DEMO_CLIENT_SECRET = "demo-client-secret"  # the local identity provider accepts any secret


def demo_login_secrets(plan: Plan) -> None:
    """Browser sign-in's secrets, when they come from unset environment variables: the client secret a
    demo value, each cookie key a fresh random one (dev only: sessions end when the demo does)."""
    for provider in plan.edge.spec.identity.providers if plan.edge.spec.identity else ():
        login = provider.login
        if login is None:
            continue
        wanted = [(login.client_secret, DEMO_CLIENT_SECRET)]
        wanted += [(key, secrets.token_urlsafe(32)) for key in login.cookie_keys]
        for ref, value in wanted:
            try:
                reference = resolve(ref, plan.environment_doc)
            except FrontdoorError:
                continue
            if reference.scheme == "env" and reference.target not in os.environ:
                os.environ[reference.target] = value


def demo_admin_token(plan: Plan) -> str | None:
    """The admin token, when the Edge reads it from an unset environment variable: set to a demo value
    (dev only; printed with the dashboard's address), so that the admin API and dashboard can be tried."""
    admin = plan.edge.spec.admin
    if admin is None or admin.token is None:
        return None
    try:
        reference = resolve(admin.token, plan.environment_doc)
    except FrontdoorError:
        return None
    if reference.scheme != "env" or reference.target in os.environ:
        return None
    os.environ[reference.target] = DEMO_ADMIN_TOKEN
    return DEMO_ADMIN_TOKEN


def local_issuers(plan: Plan) -> list[tuple[str, str, int]]:
    """(issuer, host, port) of every provider the demo can run itself: http on loopback."""
    identity = plan.edge.spec.identity
    return [
        (provider.issuer.text, provider.issuer.host, provider.issuer.port)
        for provider in (identity.providers if identity else ())
        if provider.issuer.scheme == "http" and provider.issuer.is_loopback
    ]


def _first_local_provider_audiences(plan: Plan) -> tuple[str, list[str]] | None:
    identity = plan.edge.spec.identity
    for provider in identity.providers if identity else ():
        if provider.issuer.scheme == "http" and provider.issuer.is_loopback:
            return provider.issuer.text, list(provider.audiences)
    return None


def _tries(gateway: Gateway, keys: dict[str, str]) -> list[str]:
    plan = gateway.runtime.plan
    lines = []
    for entrypoint in plan.entrypoints:
        base = f"{'https' if entrypoint.tls else 'http'}://{entrypoint.listen}"
        for route in entrypoint.routes:
            if not route.access.is_public:
                continue
            path = route.path.path
            method = "" if route.allows("GET") else f"-X {sorted(route.methods or ['POST'])[0]} "
            lines.append(f"  curl -i {method}{base}{path}    # {route.service}, public")
        if any(r.path.path == "/orders" and r.allows("GET") for r in entrypoint.routes) and local_issuers(
            plan
        ):
            token = "$(frontdoor token --sub alice --scope {scope})"
            lines += [
                f"  curl -i {base}/orders/7    # 401: no token",
                f'  curl -i {base}/orders/7 -H "Authorization: Bearer {token.format(scope="catalog:write")}"'
                "    # 403: the token lacks orders:read",
                f'  curl -i {base}/orders/7 -H "Authorization: Bearer {token.format(scope="orders:read")}"'
                "    # 200, the upstream sees X-Frontdoor-Subject: alice",
            ]
        for route in entrypoint.routes:
            if route.access.login and route.allows("GET"):
                page = f"{base}{route.path.path.lstrip('=')}"
                lines.append(
                    f"  open {page} in a browser    # {route.service}: sign in at {route.access.login} "
                    f"(any user name), sign out at {base}/_frontdoor/logout"
                )
        for route in entrypoint.routes:
            for client in route.access.clients:
                if client in keys:
                    path = route.path.path.lstrip("=")
                    method = "" if route.allows("GET") else f"-X {sorted(route.methods or ['POST'])[0]} "
                    key = f"-H 'X-Api-Key: {keys[client]}'"
                    lines.append(f"  curl -i {method}{base}{path} {key}    # API client {client}")
    admin = plan.edge.spec.admin
    if admin is not None:
        lines.append(f"  curl -i http://{admin.listen}/readyz    # the gateway's own probe")
    return lines


def start_issuers(issuers: list[tuple[str, str, int]], plan: Plan | None = None) -> None:
    """The local identity providers, on a loop of their own in a daemon thread: up before the gateway
    starts (it fetches their keys as it starts), gone when the demo exits. Each signs access tokens
    for its provider's audiences in ``plan``."""
    if not issuers:
        return
    audiences = {}
    for provider in plan.edge.spec.identity.providers if plan is not None else ():
        audiences[provider.issuer.text] = tuple(provider.audiences)
    loop = asyncio.new_event_loop()
    for issuer, host, port in issuers:
        desk = Desk(issuer, audiences.get(issuer, (DEFAULT_AUDIENCE,)))
        try:
            loop.run_until_complete(start_issuer(issuer, host, port, desk=desk))
        except OSError as exc:
            where = f"{host}:{port}"
            raise FrontdoorError(f"the local identity provider cannot listen on {where}: {exc}") from None
    threading.Thread(target=loop.run_forever, name="frontdoor-demo-idp", daemon=True).start()


def run_demo(
    directory: Path, environment: str, access_log: TextIO | None, port_base: int | None = None
) -> int:
    """The demo of ``directory``'s ``environment``; with ``port_base``, on a copy of the contract whose
    local addresses are moved to port_base, port_base+1, ... (see demo/ports.py)."""
    report = run_check(directory, environment)
    if report.errors:
        raise FrontdoorError("the contract is invalid: run frontdoor check " + str(directory))
    if port_base is None:
        return _run(directory, directory, environment, access_log)
    scratch = Path(tempfile.mkdtemp(prefix="frontdoor-demo-"))
    try:
        return _run(
            moved_contract(directory, environment, port_base, scratch), directory, environment, access_log
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(served: Path, shown: Path, environment: str, access_log: TextIO | None) -> int:
    """Serve the contract in ``served``; the commands printed to try name ``shown``, the user's own."""
    plan = load_plan(served, environment)
    keys = demo_api_keys(plan)  # before the gateway reads the secrets
    admin_token = demo_admin_token(plan)
    servers: list[asyncio.Server] = []

    demo_login_secrets(plan)
    start_issuers(local_issuers(plan), plan)
    provider = _first_local_provider_audiences(plan)
    if provider is not None:  # `frontdoor token` signs for this issuer, whatever its port
        announce(*provider)

    async def start_helpers(runtime: Runtime) -> None:
        for service, balancer in runtime.balancers.items():
            for endpoint in balancer.endpoints:
                if endpoint.host not in ("127.0.0.1", "localhost", "::1"):
                    raise FrontdoorError(
                        f"the demo only starts loopback upstreams; {service} is at {endpoint.label}"
                    )
                servers.append(await start_upstream(service, endpoint.host, endpoint.port))

    def ready(gateway: Gateway) -> None:
        plan = gateway.runtime.plan
        edge = plan.edge.metadata.name
        print(
            f"\nfrontdoor is serving {environment} (Edge {edge}); Ctrl-C stops everything.", file=sys.stderr
        )
        for issuer, _, _ in local_issuers(plan):
            print(f"Local identity provider: {issuer} (tokens: frontdoor token --help)", file=sys.stderr)
        print("Try:", file=sys.stderr)
        for line in _tries(gateway, keys):
            print(line, file=sys.stderr)
        if plan.entrypoints:
            entrypoint = plan.entrypoints[0]
            scheme = "https" if entrypoint.tls else "http"
            print(
                f"  frontdoor who {shown} --env {environment} GET {scheme}://{entrypoint.listen}/orders/7",
                file=sys.stderr,
            )
        admin = plan.edge.spec.admin
        if admin is not None and admin_token is not None:
            base = f"http://{admin.listen}"
            print(
                f"  curl -i {base}/admin/routes -H 'Authorization: Bearer {admin_token}'    # the admin API\n"
                f"Dashboard: {base}/ (admin token: {admin_token})\n",
                file=sys.stderr,
            )

    try:
        return serve(served, environment, access_log, on_ready=ready, before_start=start_helpers)
    finally:
        if provider is not None:
            withdraw(provider[0])
