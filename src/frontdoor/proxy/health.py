"""Active health checks: each endpoint's readiness path (the Service's ``health.readiness``), probed
every ``interval`` seconds. Two failures in a row take an endpoint out of the balancer; one success
brings it back. Endpoints start healthy, so a gateway that just started does not refuse traffic."""

from __future__ import annotations

import asyncio
import logging

from frontdoor.policy.balancing import Endpoint
from frontdoor.proxy.runtime import Runtime

log = logging.getLogger("frontdoor.health")
FAILURES_TO_EJECT = 2


class HealthChecker:
    def __init__(self, runtime: Runtime, interval: float, loop: asyncio.AbstractEventLoop) -> None:
        self.runtime = runtime
        self.interval = interval
        self.loop = loop
        self.timeout = min(runtime.timeouts.connect + 1.0, max(interval, 1.0))
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if self.interval <= 0:
            return
        for service, balancer in self.runtime.balancers.items():
            path = self.runtime.plan.health_paths.get(service)
            if path is None:
                continue
            for endpoint in balancer.endpoints:
                self.tasks.append(self.loop.create_task(self._watch(service, endpoint, path)))

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()

    async def _watch(self, service: str, endpoint: Endpoint, path: str) -> None:
        failures = 0
        while True:
            healthy = await self.probe(endpoint, path)
            failures = 0 if healthy else failures + 1
            if healthy and not endpoint.healthy:
                endpoint.healthy = True
                log.info("%s endpoint %s is healthy again", service, endpoint.label)
            elif failures >= FAILURES_TO_EJECT and endpoint.healthy:
                endpoint.healthy = False
                log.warning(
                    "%s endpoint %s failed %d health checks on %s", service, endpoint.label, failures, path
                )
            await asyncio.sleep(self.interval)

    async def probe(self, endpoint: Endpoint, path: str) -> bool:
        try:
            pool = self.runtime.pools.get(endpoint)  # verified as requests are (proxy/upstreamtls.py)
            tls = pool.tls if pool is not None else None
            name = pool.server_name if pool is not None and tls is not None else None
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(endpoint.host, endpoint.port, ssl=tls, server_hostname=name),
                self.timeout,
            )
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {endpoint.host}:{endpoint.port}\r\n"
                "User-Agent: frontdoor-health\r\nConnection: close\r\n\r\n".encode("latin-1")
            )
            line = await asyncio.wait_for(reader.readline(), self.timeout)
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()
        parts = line.split()
        return len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1][:1] in (b"2", b"3")
