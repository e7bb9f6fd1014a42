"""The gateway's own CPU cost per request, without sockets: a client request and an upstream response
driven through the real protocol objects with stand-in transports, many times over.

This isolates the Python work (CPU time of this process, so that other processes on a busy machine
count less) of the request path from the kernel and from the peers, so a change to
the hot path can be measured in seconds and repeatably (the median of several runs is printed):

    .venv/bin/python bench/hotpath.py            # microseconds per request, access log on
    .venv/bin/python bench/hotpath.py --no-log   # without the access log
    .venv/bin/python bench/hotpath.py --profile  # and the top of a cProfile
    .venv/bin/python bench/hotpath.py --count    # Python calls and bytecodes per request: unlike time,
                                                 # the same on a busy machine as on an idle one
    .venv/bin/python bench/hotpath.py --token    # a route that needs a bearer token (cached after the first)
    .venv/bin/python bench/hotpath.py --ratelimit  # a local rate limit on the route, never reached
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from frontdoor.demo.documents import join, service, team
from frontdoor.lifecycle import install_event_loop
from frontdoor.observe.accesslog import AccessLog
from frontdoor.proxy.downstream import Downstream
from frontdoor.proxy.server import Gateway, load_runtime
from frontdoor.proxy.upstream import UpstreamConnection

CONTRACT = {
    "teams.yaml": join(team("shop", "app"), team("edge", "platform"), team("delivery", "delivery")),
    "service.yaml": service(
        "shop", "shop", "- {path: /shop, access: public}\n- {path: /secure, access: {scopes: [shop:read]}}"
    ),
    "edge.yaml": """
        apiVersion: frontdoor/v1
        kind: Edge
        metadata: {name: edge, owner: edge}
        spec:
          entrypoints: [{name: main, listen: "127.0.0.1:18080", hosts: ["*"], services: ["*"]}]
          identity: IDENTITY
          rate_limits: LIMITS
          # a log line and a traceparent per request, as before these blocks decided them
          observability: {access_log: {}, tracing: {propagate: w3c}}
    """,
    "env.yaml": """
        apiVersion: frontdoor/v1
        kind: Environment
        metadata: {name: dev, owner: delivery}
        spec: {upstreams: {shop: ["http://127.0.0.1:19000"]}}
    """,
}
NEVER_REACHED = "{requests: 1000000000, per: 1s, burst: 1000000000, key: client}"
REQUEST = b"GET /shop/items HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 26 Nov 2026 10:58:00 GMT\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 48\r\nConnection: keep-alive\r\n\r\n" + b"x" * 48
)


def signing_key() -> tuple[str, str, dict[str, Any]]:
    """An RSA key: the identity the Edge needs to trust it, a token it signed with the scope the secure
    route requires, and its JWKS (handed to the key set directly: no server, no thread running while
    the requests are measured)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "hotpath-1", "use": "sig"}
    issuer = "http://127.0.0.1:9/"
    now = int(time.time())
    claims = {"iss": issuer, "aud": "hotpath", "sub": "hotpath-user", "scope": "shop:read", "iat": now}
    token = jwt.encode({**claims, "exp": now + 86400}, key, algorithm="RS256", headers={"kid": "hotpath-1"})
    identity = (
        f'{{providers: [{{name: idp, issuer: "{issuer}", audiences: [hotpath], algorithms: [RS256], '
        f'jwks_uri: "{issuer}keys"}}]}}'
    )
    return identity, token, {"keys": [jwk]}


class StandInTransport:
    """Enough of an asyncio transport for the protocols: writes are kept, nothing is sent."""

    def __init__(self) -> None:
        self.written = 0
        self.last = b""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.last = data

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None: ...


def count_work(one: Any, requests: int) -> tuple[float, float]:
    """Python function calls and bytecode instructions per request, traced (slow, but exact)."""
    calls = opcodes = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal calls, opcodes
        if event == "call":
            calls += 1
            frame.f_trace_opcodes = True
        elif event == "opcode":
            opcodes += 1
        return tracer

    sys.settrace(tracer)
    try:
        for _ in range(requests):
            one()
    finally:
        sys.settrace(None)
    return calls / requests, opcodes / requests


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-log", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--count", action="store_true")
    parser.add_argument("--token", action="store_true", help="the route that needs a bearer token")
    parser.add_argument("--ratelimit", action="store_true", help="a local rate limit, never reached")
    args = parser.parse_args()

    identity, request = "{}", REQUEST
    jwks: dict[str, Any] = {}
    if args.token:
        identity, token, jwks = signing_key()
        request = REQUEST.replace(b"/shop/items", b"/secure/items").replace(
            b"\r\n\r\n", f"\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        )
    root = Path(tempfile.mkdtemp(prefix="frontdoor-hotpath-"))
    limits = f"{{store: local, default: {NEVER_REACHED}}}" if args.ratelimit else "{}"
    for name, template in CONTRACT.items():
        text = textwrap.dedent(template).replace("IDENTITY", identity).replace("LIMITS", limits)
        (root / name).write_text(text)
    loop = install_event_loop()
    asyncio.set_event_loop(loop)
    runtime = load_runtime(root, "dev", loop)
    gateway = Gateway(loop, runtime, AccessLog(None if args.no_log else io.StringIO()))
    listener = next(iter(runtime.listeners.values()))
    downstream = Downstream(gateway, listener)
    client = StandInTransport()
    downstream.connection_made(client)  # type: ignore[arg-type]
    endpoint = runtime.balancers["shop"].endpoints[0]
    pool = runtime.pool(endpoint)
    upstream = UpstreamConnection(pool)
    upstream.connection_made(StandInTransport())  # type: ignore[arg-type]
    pool.idle.append(upstream)
    for stage in runtime.pipeline.stages if args.token else ():
        for keyset in getattr(stage, "keysets", ()):  # the access stage's: its first fetch, awaited here
            keyset._get_json = lambda url, timeout: jwks  # the provider, stood in for
            for _ in range(2):  # the fetch started with the stage (refused: no server), then one here
                pending = keyset.refresh()
                if pending is not None:
                    pending.result(timeout=60)
            assert keyset.keys, "the hot path's identity provider served no keys"

    def one() -> None:
        downstream.data_received(request)
        upstream.data_received(RESPONSE)
        if gateway.access_log.stream is not None:
            gateway.access_log.stream.seek(0)

    for _ in range(2000):
        one()
    assert client.last.startswith(b"HTTP/1.1 200 ") and pool.idle, (
        f"the request did not go through: {client.last!r}"
    )
    results = []
    for _ in range(args.runs):
        start = time.process_time()
        for _ in range(args.requests):
            one()
        results.append((time.process_time() - start) / args.requests * 1e6)
    print(
        f"hot path: {statistics.median(results):.1f} us per request (median of {args.runs} runs of "
        f"{args.requests}; min {min(results):.1f}; access log {'off' if args.no_log else 'on'})"
    )
    if args.count:
        calls, opcodes = count_work(one, 2_000)
        print(f"per request: {calls:.1f} Python calls, {opcodes:.1f} bytecodes")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20_000):
            one()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
