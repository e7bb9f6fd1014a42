"""`frontdoor authz` in pieces: the dialects (sans-IO), the answers per dialect, the Checker on a compiled
plan with stand-in stages, and the connection on a real socket (ordering, waiting stages, probes)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable
from pathlib import Path

import pytest

from frontdoor.authz.answers import allow, answer_status, deny
from frontdoor.authz.decide import LOOPBACK, Checker, Outcome, parse_networks
from frontdoor.authz.dialects import BadCheck, read_original
from frontdoor.authz.runtime import AuthzRuntime, Settings, build_authz_runtime
from frontdoor.authz.service import AuthzService
from frontdoor.contract.models import Timeouts
from frontdoor.contract.values import parse_listen
from frontdoor.http.h1 import Limits, RequestHead, RequestReader
from frontdoor.observe.accesslog import AccessLog
from frontdoor.plan import Plan, load_plan
from frontdoor.policy.admission import Admission, Denial, Verdict
from frontdoor.policy.pipeline import Pipeline

from .authz_support import AccessContract
from .harness import free_port


class _Heads:
    def __init__(self) -> None:
        self.heads: list[RequestHead] = []

    def on_request_head(self, head: RequestHead) -> None:
        self.heads.append(head)

    def on_request_body(self, chunk: bytes) -> None:
        pass

    def on_request_end(self) -> None:
        pass


def head(target: str = "/auth", method: str = "GET", **headers: str) -> RequestHead:
    sink = _Heads()
    fields = {"Host": "authz.local", **{k.replace("_", "-"): v for k, v in headers.items()}}
    raw = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    RequestReader(sink, Limits()).feed(raw.encode("latin-1"))
    return sink.heads[0]


# --- dialects --------------------------------------------------------------------------------------------


def test_nginx_reads_method_uri_and_host() -> None:
    original = read_original(head(Host="shop.test", X_Original_URI="/orders/7?x=1", X_Original_Method="POST"))
    assert (original.dialect, original.method, original.host, original.target) == (
        "nginx",
        "POST",
        "shop.test",
        "/orders/7?x=1",
    )


def test_ingress_nginx_full_url_gives_host_and_path() -> None:
    check = head(X_Original_Url="https://Shop.Test:8443/orders?id=3", X_Original_Method="GET")
    original = read_original(check)
    assert (original.host, original.target) == ("Shop.Test:8443", "/orders?id=3")


def test_absolute_form_request_uri_is_reduced_to_its_path() -> None:
    check = head(X_Original_URI="http://shop.test/orders/1", X_Original_Method="GET")
    assert read_original(check).target == "/orders/1"


@pytest.mark.parametrize(
    "headers",
    [
        {"X_Original_URI": "/a"},  # no method
        {"X_Original_Method": "GET"},  # no path
        {"X_Original_URI": "/a", "X_Original_Method": "get"},  # not a method
        {"X_Original_URI": "/a", "X_Original_Url": "http://h/b", "X_Original_Method": "GET"},  # which one?
        {"X_Original_Url": "ftp://h/b", "X_Original_Method": "GET"},
        {"X_Original_URI": "a/b", "X_Original_Method": "GET"},
        {"X_Original_URI": "/a", "X_Original_Method": "GET", "X_Forwarded_Uri": "/b"},  # two dialects
        {"X_Forwarded_Uri": "/a", "X_Forwarded_Method": "GET"},  # Traefik without the host
        {"X_Forwarded_Uri": "/a", "X_Forwarded_Host": "bad host", "X_Forwarded_Method": "GET"},
    ],
)
def test_a_check_that_does_not_describe_a_request_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(BadCheck):
        read_original(head(**headers))


def test_a_repeated_dialect_header_is_refused() -> None:
    sink = _Heads()
    raw = b"GET /auth HTTP/1.1\r\nHost: h\r\nX-Original-Method: GET\r\nX-Original-URI: /a\r\nX-Original-URI: /b\r\n\r\n"
    RequestReader(sink, Limits()).feed(raw)
    with pytest.raises(BadCheck, match="more than one"):
        read_original(sink.heads[0])


def test_traefik_reads_the_forwarded_headers() -> None:
    check = head(X_Forwarded_Method="DELETE", X_Forwarded_Host="shop.test", X_Forwarded_Uri="/orders/1")
    original = read_original(check)
    assert (original.dialect, original.method, original.host, original.target) == (
        "traefik",
        "DELETE",
        "shop.test",
        "/orders/1",
    )


def test_a_pinned_dialect_reads_only_its_own_headers() -> None:
    check = head(
        "/orders",
        "PUT",
        Host="shop.test",
        X_Original_URI="/shop",
        X_Original_Method="GET",
        X_Forwarded_Uri="/x",
    )
    assert read_original(check, "envoy").target == "/orders"
    assert read_original(check, "nginx").target == "/shop"


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/auth/orders/7", "/orders/7"), ("/auth", "/"), ("/auth?x=1", "/?x=1"), ("/auth/", "/")],
)
def test_envoy_path_prefix_is_removed(target: str, expected: str) -> None:
    assert read_original(head(target, "PATCH", Host="shop.test"), "envoy", "/auth").target == expected


@pytest.mark.parametrize("target", ["/authx/orders", "/orders", "/"])
def test_envoy_path_outside_the_prefix_is_refused(target: str) -> None:
    with pytest.raises(BadCheck, match="prefix"):
        read_original(head(target), "envoy", "/auth")


def test_envoy_is_the_request_itself() -> None:
    original = read_original(head("/orders/7?a=b", "POST", Host="shop.test"))
    assert (original.dialect, original.method, original.host, original.target) == (
        "envoy",
        "POST",
        "shop.test",
        "/orders/7?a=b",
    )


# --- the Checker on a compiled plan, and the answers -------------------------------------------------------


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    contract = AccessContract(idp_port=free_port(), upstream_port=free_port())
    return load_plan(contract.write(tmp_path_factory.mktemp("authz") / "contract"), "dev")


class Limited:
    """A stand-in rate limiter: denies with 429 and Retry-After, as the real stage will."""

    name = "rate-limit"

    def check(self, admission: Admission) -> Verdict:
        return Denial(429, "slow down", "rate_limits.default", ((b"retry-after", b"7"),), "rate-limit")


class Identifying:
    """A stand-in access stage that admits everyone as alice and counts finished requests."""

    name = "access"

    def __init__(self) -> None:
        self.finished: list[int] = []

    def check(self, admission: Admission) -> Verdict:
        admission.subject = "alice"
        admission.add_upstream_header(b"x-frontdoor-subject", b"alice")
        admission.add_upstream_header(b"x-frontdoor-scopes", b"orders:read")
        admission.add_response_header(b"ratelimit-remaining", b"9")
        admission.on_finish(self.finished.append)
        return None


class Waiting:
    """A stage that must wait (a JWKS refresh, say): denies ``/orders`` after a short wait."""

    name = "access"

    def check(self, admission: Admission) -> Verdict:
        async def later() -> Denial | None:
            await asyncio.sleep(0.05)
            if admission.path.startswith("/orders"):
                return Denial(401, "no token", "access: scopes", ((b"www-authenticate", b"Bearer"),))
            return None

        return later()


def nginx_check(path: str, method: str = "GET", host: str = "shop.test") -> RequestHead:
    return head(Host=host, X_Original_URI=path, X_Original_Method=method)


def test_nginx_gets_403_with_the_kind_where_others_get_the_real_status(plan: Plan) -> None:
    checker = Checker(plan, Pipeline([Limited()]))
    outcome = checker.check(nginx_check("/shop"), "127.0.0.1", True)
    assert isinstance(outcome, Outcome) and outcome.status == 429
    for dialect, status in (("nginx", 403), ("traefik", 429), ("envoy", 429)):
        assert answer_status(outcome, dialect) == status
        data = deny(outcome, dialect, "rid", close=False, head_only=False)
        assert data.startswith(b"HTTP/1.1 %d " % status)
        assert b"\r\nx-frontdoor-deny: rate-limit\r\n" in data
        assert b"\r\nretry-after: 7\r\n" in data
        assert b"rate_limits.default" not in data  # the clause is for the log, not the client


def test_an_allow_carries_every_identity_header_and_the_stage_response_headers(plan: Plan) -> None:
    stage = Identifying()
    outcome = Checker(plan, Pipeline([stage])).check(nginx_check("/orders/1"), "127.0.0.1", True)
    assert isinstance(outcome, Outcome) and outcome.status == 200
    data = allow(outcome, close=False)
    assert data.startswith(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n")
    assert b"\r\nX-Frontdoor-Subject: alice\r\n" in data
    assert b"\r\nX-Frontdoor-Scopes: orders:read\r\n" in data
    assert b"\r\nX-Frontdoor-Client: \r\n" in data and b"\r\nX-Frontdoor-Issuer: \r\n" in data
    assert b"\r\nratelimit-remaining: 9\r\n" in data
    assert stage.finished == [200]  # authz never learns when the request ends: finished at once


class Refreshing:
    """A stand-in access stage that admits a browser whose session (two cookies) it resealed."""

    name = "access"

    def check(self, admission: Admission) -> Verdict:
        for line in (b"frontdoor-session-p=AAA; Path=/", b"frontdoor-session-p.1=BBB; Path=/"):
            admission.add_response_header(b"set-cookie", line)
        admission.add_response_header(b"ratelimit-remaining", b"9")
        return None


def test_an_allow_gives_back_the_cookies_without_the_session_and_nginx_each_set_cookie(plan: Plan) -> None:
    checker = Checker(plan, Pipeline([Refreshing()]))
    cookie = "theme=dark; frontdoor-session-p=old; frontdoor-session-p.1=old1; lang=en"
    checks = {
        "nginx": head(Host="shop.test", X_Original_URI="/shop", X_Original_Method="GET", Cookie=cookie),
        "traefik": head(
            X_Forwarded_Uri="/shop", X_Forwarded_Method="GET", X_Forwarded_Host="shop.test", Cookie=cookie
        ),
    }
    answers = {}
    for dialect, check in checks.items():
        outcome = checker.check(check, "127.0.0.1", True)
        assert isinstance(outcome, Outcome) and outcome.status == 200
        answers[dialect] = allow(outcome, close=False)
        assert b"\r\ncookie: theme=dark; lang=en\r\n" in answers[dialect]  # the session never upstream
        assert b"old" not in answers[dialect]
    nginx, traefik = answers["nginx"], answers["traefik"]
    # nginx reads one Set-Cookie (the first): every one is numbered too, for the rendered nginx.conf
    assert nginx.count(b"\r\nset-cookie: ") == 1 and b"\r\nset-cookie: frontdoor-session-p=AAA" in nginx
    assert b"\r\nx-frontdoor-set-cookie-1: frontdoor-session-p=AAA; Path=/\r\n" in nginx
    assert b"\r\nx-frontdoor-set-cookie-2: frontdoor-session-p.1=BBB; Path=/\r\n" in nginx
    assert b"\r\nratelimit-remaining: 9\r\n" in nginx
    # Traefik copies every Set-Cookie it is told to (addAuthCookiesToResponse)
    assert traefik.count(b"\r\nset-cookie: ") == 2 and b"x-frontdoor-set-cookie" not in traefik

    # only the session: no Cookie at all, which removes the header upstream; none sent, none answered
    only = head(
        Host="shop.test", X_Original_URI="/shop", X_Original_Method="GET", Cookie="frontdoor-session-p=x"
    )
    none = nginx_check("/shop")
    for check in (only, none):
        outcome = checker.check(check, "127.0.0.1", True)
        assert isinstance(outcome, Outcome) and b"\r\ncookie:" not in allow(outcome, close=False)


def test_an_anonymous_allow_blanks_every_identity_header(plan: Plan) -> None:
    outcome = Checker(plan, Pipeline([])).check(nginx_check("/shop", host="eu.shop.test"), "127.0.0.1", True)
    assert isinstance(outcome, Outcome)
    data = allow(outcome, close=True)
    for name in (b"Subject", b"Scopes", b"Client", b"Issuer"):
        assert b"\r\nX-Frontdoor-" + name + b": \r\n" in data
    assert data.endswith(b"connection: close\r\n\r\n")


@pytest.mark.parametrize(
    ("path", "method", "host", "status", "kind"),
    [
        ("/nowhere", "GET", "shop.test", 404, "no-route"),
        ("/shop", "GET", "other.test", 404, "no-route"),
        ("/exact", "POST", "shop.test", 405, "method-not-allowed"),
        ("/shop/%2e%2e/%2e%2e/x", "GET", "shop.test", 400, "bad-request"),
        ("/shop/a%2Fb", "GET", "shop.test", 400, "bad-request"),
    ],
)
def test_routing_outcomes(plan: Plan, path: str, method: str, host: str, status: int, kind: str) -> None:
    outcome = Checker(plan, Pipeline([])).check(nginx_check(path, method, host), "127.0.0.1", True)
    assert isinstance(outcome, Outcome)
    assert (outcome.status, outcome.kind) == (status, kind)
    assert answer_status(outcome, "nginx") == 403


def test_nginx_is_told_the_route_serve_chose_and_the_path_it_sends(plan: Plan) -> None:
    """nginx proxies where the allow says: the service of serve's route (a method falling back to a
    shorter path) and serve's normalized path; the query is nginx's own ($args)."""
    checker = Checker(plan, Pipeline([]))
    outcome = checker.check(nginx_check("/%73hop/./a/../b?x=1"), "127.0.0.1", True)
    assert isinstance(outcome, Outcome) and outcome.status == 200
    data = allow(outcome, close=False)
    assert b"\r\nx-frontdoor-service: shop\r\nx-frontdoor-path: /shop/b\r\n" in data
    settle = checker.check(nginx_check("/orders/settle", "PUT"), "127.0.0.1", True)
    assert (
        isinstance(settle, Outcome)
        and settle.route is not None
        and str(settle.route.path) == "=/orders/settle"
    )
    # other dialects route themselves: no such headers
    envoy = checker.check(head("/shop", Host="shop.test"), "127.0.0.1", True)
    assert isinstance(envoy, Outcome) and b"x-frontdoor-path" not in allow(envoy, close=False)


def test_nginx_gets_serves_json_body_in_a_header(plan: Plan) -> None:
    outcome = Checker(plan, Pipeline([])).check(nginx_check("/orders/settle", "DELETE"), "127.0.0.1", True)
    assert isinstance(outcome, Outcome) and outcome.status == 405
    data = deny(outcome, "nginx", "rid", close=False, head_only=False)
    body = (
        b'{"status":405,"error":"Method Not Allowed","reason":"DELETE is not allowed here",'
        b'"request_id":"rid","owner":"edge"}'
    )
    assert b"\r\nx-frontdoor-body: " + body + b"\r\n" in data
    assert b"\r\nallow: GET, HEAD, POST, PUT\r\n" in data
    assert data.endswith(body.replace(b"405", b"403", 1).replace(b"Method Not Allowed", b"Forbidden"))
    assert b"x-frontdoor-body" not in deny(outcome, "envoy", "rid", close=False, head_only=False)


def test_only_trusted_peers_may_ask(plan: Plan) -> None:
    checker = Checker(plan, Pipeline([]), parse_networks(["10.0.0.0/8"]))
    assert checker.trusts("10.1.2.3") and not checker.trusts("127.0.0.1") and not checker.trusts("nonsense")
    assert checker.trusts("::ffff:10.1.2.3")  # an IPv4 peer on a dual-stack listener
    outcome = checker.check(nginx_check("/shop"), "192.0.2.1", checker.trusts("192.0.2.1"))
    assert isinstance(outcome, Outcome) and (outcome.status, outcome.kind) == (403, "untrusted-peer")


def test_the_client_address_is_walked_past_the_ingress(plan: Plan) -> None:
    stage = Identifying()
    checker = Checker(plan, Pipeline([stage]), LOOPBACK)
    check = head(
        Host="shop.test",
        X_Original_URI="/shop",
        X_Original_Method="GET",
        X_Forwarded_For="6.6.6.6, 198.51.100.7",
    )
    outcome = checker.check(check, "127.0.0.1", True)
    assert isinstance(outcome, Outcome) and outcome.admission is not None
    # 127.0.0.1 (the ingress) and the entrypoint's trusted_proxies are believed; 198.51.100.7 is the client
    assert outcome.admission.client_address() == "198.51.100.7"


def test_probes_never_shadow_a_routed_path(plan: Plan) -> None:
    auto = Checker(plan, Pipeline([]))
    assert auto.is_probe(head("/healthz"))  # the contract has no route for it on host authz.local
    assert not auto.is_probe(head("/healthz", X_Original_URI="/x", X_Original_Method="GET"))
    assert not auto.is_probe(head("/readyz", "POST"))
    # an Envoy check of a routed /healthz (here on the catch-all host of this contract: shop.test) is a check
    assert (
        not auto.is_probe(head("/healthz", Host="shop.test"))
        or auto.router.match("shop.test", "/healthz", "GET").status == 404
    )


def test_a_routed_healthz_is_decided_not_probed(tmp_path: Path) -> None:
    contract = AccessContract(idp_port=free_port(), upstream_port=free_port(), hosts='["*"]')
    root = contract.write(tmp_path / "c")
    services = root / "services.yaml"
    services.write_text(
        services.read_text().replace(
            "- {path: /me,", "- {path: /healthz, access: authenticated}\n    - {path: /me,"
        )
    )
    plan = load_plan(root, "dev")
    auto = Checker(plan, Pipeline([]))
    assert not auto.is_probe(head("/healthz"))  # an Envoy check of the app's own /healthz, on any host
    assert auto.is_probe(head("/readyz"))  # not routed: the probe
    outcome = auto.check(head("/healthz"), "127.0.0.1", True)
    assert (
        isinstance(outcome, Outcome) and outcome.route is not None and outcome.route.path.path == "/healthz"
    )
    # with a path prefix the two can never be confused
    assert Checker(plan, Pipeline([]), dialect="envoy", path_prefix="/auth").is_probe(head("/healthz"))


def test_settings_are_checked_at_start(plan: Plan) -> None:
    listen = parse_listen("127.0.0.1:1")
    with pytest.raises(Exception, match="no such entrypoint"):
        build_authz_runtime(plan, Settings(listen, entrypoint="nope"))
    with pytest.raises(Exception, match="path-prefix"):
        build_authz_runtime(plan, Settings(listen, dialect="envoy", path_prefix="auth/"))
    with pytest.raises(ValueError, match="not an IP network"):
        parse_networks(["10.0.0.0/33"])
    assert parse_networks(["10.1.2.3/8"]) == (ipaddress.ip_network("10.0.0.0/8"),)


# --- the connection, on a real socket -------------------------------------------------------------------


async def _exchange(runtime: AuthzRuntime, data: bytes, responses: int) -> list[bytes]:
    loop = asyncio.get_running_loop()
    service = AuthzService(loop, runtime, AccessLog(None))
    address = parse_listen(f"127.0.0.1:{free_port()}")
    await service.start(address)
    try:
        reader, writer = await asyncio.open_connection(address.host, address.port)
        writer.write(data)
        answers = []
        for _ in range(responses):
            status = await asyncio.wait_for(reader.readline(), 5)
            length = 0
            while (line := await reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            answers.append(status.split(b" ")[1])
        writer.close()
        return answers
    finally:
        await service.drain(1)


def _runtime(plan: Plan, pipeline: Pipeline) -> AuthzRuntime:
    return AuthzRuntime(plan, Checker(plan, pipeline), Limits(), Timeouts())


def _check(path: str) -> bytes:
    return f"GET /auth HTTP/1.1\r\nHost: shop.test\r\nX-Original-URI: {path}\r\nX-Original-Method: GET\r\n\r\n".encode()


def test_pipelined_checks_are_answered_in_order_when_a_stage_waits(plan: Plan) -> None:
    runtime = _runtime(plan, Pipeline([Waiting()]))
    data = (
        _check("/orders/1")
        + _check("/shop")
        + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        + _check("/nowhere")
    )
    assert asyncio.run(_exchange(runtime, data, 4)) == [b"401", b"200", b"200", b"403"]


def test_a_failing_stage_is_a_503_not_a_crash(plan: Plan) -> None:
    class Broken:
        name = "broken"

        def check(self, admission: Admission) -> Awaitable[Denial | None]:
            async def later() -> Denial | None:
                raise RuntimeError("boom")

            return later()

    runtime = _runtime(plan, Pipeline([Broken()]))
    envoy = b"GET /shop HTTP/1.1\r\nHost: shop.test\r\n\r\n"
    # Envoy gets the 503 serve would answer; nginx, which would turn it into a 500, a 403
    assert asyncio.run(_exchange(runtime, envoy + _check("/shop"), 2)) == [b"503", b"403"]


def test_bad_bytes_after_a_pending_check_are_answered_after_it(plan: Plan) -> None:
    runtime = _runtime(plan, Pipeline([Waiting()]))
    data = _check("/orders/1") + _check("/shop") + b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
    assert asyncio.run(_exchange(runtime, data, 3)) == [b"401", b"200", b"400"]


def test_malformed_bytes_get_a_400_and_a_close(plan: Plan) -> None:
    runtime = _runtime(plan, Pipeline([]))
    assert asyncio.run(_exchange(runtime, b"GET /auth HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 1)) == [b"400"]


def test_a_check_with_a_body_is_answered_and_the_body_dropped(plan: Plan) -> None:
    runtime = _runtime(plan, Pipeline([]))
    envoy = b"POST /shop HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\n\r\nhello"
    assert asyncio.run(_exchange(runtime, envoy + _check("/nowhere"), 2)) == [b"200", b"403"]


def test_a_head_that_never_completes_is_closed(plan: Plan) -> None:
    runtime = AuthzRuntime(plan, Checker(plan, Pipeline([])), Limits(), Timeouts(header=0.2, idle=0.2))

    async def stalled() -> bytes:
        loop = asyncio.get_running_loop()
        service = AuthzService(loop, runtime, AccessLog(None))
        address = parse_listen(f"127.0.0.1:{free_port()}")
        await service.start(address)
        try:
            reader, writer = await asyncio.open_connection(address.host, address.port)
            writer.write(b"GET /auth HTTP/1.1\r\nHost: sh")
            data = await asyncio.wait_for(reader.read(), 5)  # returns at the close
            writer.close()
            return data
        finally:
            await service.drain(1)

    assert asyncio.run(stalled()).startswith(b"HTTP/1.1 408 ")


def test_a_check_pending_past_the_idle_timeout_is_answered_then_the_idle_connection_closed(
    plan: Plan,
) -> None:
    class Slow:
        """Decides only after both timeouts have passed: the connection must wait for its answer."""

        name = "access"

        def check(self, admission: Admission) -> Verdict:
            async def later() -> Denial | None:
                await asyncio.sleep(0.5)
                return None

            return later()

    runtime = AuthzRuntime(plan, Checker(plan, Pipeline([Slow()])), Limits(), Timeouts(header=0.1, idle=0.1))

    async def slow_then_idle() -> bytes:
        loop = asyncio.get_running_loop()
        service = AuthzService(loop, runtime, AccessLog(None))
        address = parse_listen(f"127.0.0.1:{free_port()}")
        await service.start(address)
        try:
            reader, writer = await asyncio.open_connection(address.host, address.port)
            writer.write(_check("/shop"))
            data = await asyncio.wait_for(reader.read(), 5)  # the answer, then the idle timeout's close
            writer.close()
            return data
        finally:
            await service.drain(1)

    data = asyncio.run(slow_then_idle())
    assert data.startswith(b"HTTP/1.1 200 ") and b" 408 " not in data  # idle, not a head cut short
