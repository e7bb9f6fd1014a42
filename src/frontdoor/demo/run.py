"""``frontdoor demo``: demo upstreams for every loopback upstream of the environment, then the gateway."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from frontdoor.demo.upstream import start_upstream
from frontdoor.errors import FrontdoorError
from frontdoor.proxy.runtime import Runtime
from frontdoor.proxy.server import Gateway, serve
from frontdoor.report.check import run_check


def _tries(gateway: Gateway) -> list[str]:
    plan = gateway.runtime.plan
    lines = []
    for entrypoint in plan.entrypoints:
        base = f"{'https' if entrypoint.tls else 'http'}://{entrypoint.listen}"
        for route in entrypoint.routes:
            path = route.path.path
            method = "" if route.allows("GET") else f"-X {sorted(route.methods or ['POST'])[0]} "
            note = "public" if route.access.is_public else f"needs {route.access.describe()}: 401 for now"
            lines.append(f"  curl -i {method}{base}{path}    # {route.service}, {note}")
    admin = plan.edge.spec.admin
    if admin is not None:
        lines.append(f"  curl -i http://{admin.listen}/readyz    # the gateway's own probe")
    return lines


def run_demo(directory: Path, environment: str, access_log: TextIO | None) -> int:
    report = run_check(directory, environment)
    if report.errors:
        raise FrontdoorError("the contract is invalid: run frontdoor check " + str(directory))
    servers: list[asyncio.Server] = []

    async def start_upstreams(runtime: Runtime) -> None:
        for service, balancer in runtime.balancers.items():
            for endpoint in balancer.endpoints:
                if endpoint.host not in ("127.0.0.1", "localhost", "::1"):
                    raise FrontdoorError(
                        f"the demo only starts loopback upstreams; {service} is at {endpoint.label}"
                    )
                servers.append(await start_upstream(service, endpoint.host, endpoint.port))

    def ready(gateway: Gateway) -> None:
        verdict = report.environments[0]
        print(
            f"\nfrontdoor is serving {environment} (Edge {verdict.edge}); Ctrl-C stops everything.",
            file=sys.stderr,
        )
        print("Try:", file=sys.stderr)
        for line in _tries(gateway):
            print(line, file=sys.stderr)
        print(
            f"  frontdoor who {directory} --env {environment} GET http://127.0.0.1:8080/orders/7\n",
            file=sys.stderr,
        )

    return serve(directory, environment, access_log, on_ready=ready, before_start=start_upstreams)
