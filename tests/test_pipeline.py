"""The policy pipeline: stages in order, the first denial wins, and a pending stage resumes the rest."""

from __future__ import annotations

import asyncio
import ipaddress

from frontdoor.contract.models import AccessRule
from frontdoor.contract.values import parse_route_path
from frontdoor.http.h1 import RequestHead
from frontdoor.plan import PlannedRoute
from frontdoor.policy.admission import Admission, Denial, Verdict
from frontdoor.policy.pipeline import Pipeline

ROUTE = PlannedRoute("orders", 0, parse_route_path("/orders"), None, AccessRule(mode="public"), False, "app")


def admission(
    headers: list[tuple[bytes, bytes]] | None = None, peer: str = "192.0.2.7", trusted: str = ""
) -> Admission:
    head = RequestHead("GET", "/orders", "1.1", headers or [], "shop", None, False, True)
    networks = (ipaddress.ip_network(trusted),) if trusted else ()
    return Admission(head, ROUTE, "GET", "/orders", peer, networks, 0.0)


class Recording:
    def __init__(
        self, name: str, log: list[str], verdict: Verdict = None, pending: Denial | str | None = ""
    ) -> None:
        self.name, self.log, self.verdict, self.pending = name, log, verdict, pending

    def check(self, admission: Admission) -> Verdict:
        self.log.append(self.name)
        if self.pending != "":
            result = self.pending

            async def later() -> Denial | None:
                await asyncio.sleep(0)
                return result  # type: ignore[return-value]

            return later()
        return self.verdict


def test_first_denial_stops_the_rest() -> None:
    log: list[str] = []
    denial = Denial(429, "slow down", "rate-limit: default")
    pipeline = Pipeline([Recording("a", log), Recording("b", log, denial), Recording("c", log)])
    assert pipeline.check(admission()) is denial
    assert log == ["a", "b"]


def test_all_pass_is_none() -> None:
    log: list[str] = []
    assert Pipeline([Recording("a", log), Recording("b", log)]).check(admission()) is None
    assert log == ["a", "b"]


def test_pending_stage_resumes_the_following_ones() -> None:
    log: list[str] = []
    denial = Denial(403, "no", "access")
    pipeline = Pipeline(
        [Recording("a", log, pending=None), Recording("b", log, pending=denial), Recording("c", log)]
    )
    verdict = pipeline.check(admission())
    assert log == ["a"]
    assert not isinstance(verdict, Denial) and verdict is not None
    assert asyncio.run(_wait(verdict)) is denial
    assert log == ["a", "b"]


async def _wait(verdict: Verdict) -> Denial | None:
    assert verdict is not None and not isinstance(verdict, Denial)
    return await verdict


def test_finishers_run_once_with_the_status() -> None:
    seen: list[int] = []
    request = admission()
    request.on_finish(seen.append)
    request.finish(200)
    request.finish(500)
    assert seen == [200]


def test_client_address_ignores_forwarded_for_from_untrusted_peer() -> None:
    request = admission([(b"X-Forwarded-For", b"203.0.113.9")])
    assert request.client_address() == "192.0.2.7"


def test_client_address_walks_trusted_proxies_from_the_right() -> None:
    headers = [(b"X-Forwarded-For", b"198.51.100.1, 203.0.113.9"), (b"x-forwarded-for", b"10.0.0.5")]
    request = admission(headers, peer="10.0.0.2", trusted="10.0.0.0/8")
    assert request.client_address() == "203.0.113.9"


def test_client_address_all_trusted_gives_the_leftmost() -> None:
    request = admission([(b"x-forwarded-for", b"10.1.1.1, 10.0.0.5")], peer="10.0.0.2", trusted="10.0.0.0/8")
    assert request.client_address() == "10.1.1.1"
