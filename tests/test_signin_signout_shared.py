"""Sign-out holds across processes: real `frontdoor serve` and `frontdoor authz` processes sharing one
store of signed-out sessions (a state directory, or a real redis-server with no shared directory).

A browser's session cookie is sealed here with the contract's cookie key (the sealing is the gateway's
own code; tests/test_signin_e2e.py gets one from a real provider). Signing out through one process makes
a copy of the old cookie useless on the other, within the store's re-read interval: each test polls
for that with a generous deadline, never a fixed sleep. Also the store itself: sign-outs appended and
read incrementally, a rewrite that drops only expired ones, and the Redis stream read from where it
stopped.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from frontdoor.access.sealing import Sealer
from frontdoor.access.session import Session
from frontdoor.access.signedout import FAILURES, FileSignedOut
from frontdoor.access.signedout_redis import RedisSignedOut, signed_out_key
from frontdoor.demo.documents import join, service
from frontdoor.observe.exposition import exposition

from .authz_support import Process, start_authz
from .harness import ContractSpec, Gateway, RedisServer, Upstreams, request

COOKIE_KEY = "shared-signout-cookie-key-0123456789"
ROUTES = "- {path: /app, access: {login: corp}}"
POLL_TIMEOUT = 20.0  # the store is re-read every half second; the machine may be busy


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + POLL_TIMEOUT
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen in {POLL_TIMEOUT:.0f} s"
        time.sleep(0.1)


def contract(root: Path, upstreams: Upstreams, redis: bool = False) -> tuple[ContractSpec, Path]:
    (root / "web-secret").parent.mkdir(parents=True, exist_ok=True)
    (root / "web-secret").write_text("web-secret-0123456789")
    (root / "cookie-key").write_text(COOKIE_KEY)
    # an issuer nothing listens on: the sessions here are sealed by the test, no sign-in reaches it
    login = (
        "{client_id: shop-web, client_secret: secret:web-secret, scopes: [openid], "
        "session: {ttl: 1h, idle: 30m}, cookie_keys: [secret:cookie-key]}"
    )
    provider = f'{{name: corp, issuer: "http://127.0.0.1:9", audiences: [shop-api], login: {login}}}'
    secrets = {"web-secret": f"file:{root / 'web-secret'}", "cookie-key": f"file:{root / 'cookie-key'}"}
    if redis:
        secrets["redis-url"] = "env:TEST_REDIS_URL"
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)],
        other=[upstreams.start("other")],
        services=join(
            service("shop", "shop", ROUTES), service("other", "shop", "- {path: /other, access: public}")
        ),
        identity=f"{{providers: [{provider}]}}",
        secrets=secrets,
        rate_limits="{store: redis}" if redis else "",
    )
    return spec, spec.write(root / "contract")


def sealed_session(subject: str) -> str:
    """A session cookie as the gateway seals it after a sign-in with provider corp."""
    now = time.time()
    session = Session(
        "corp", subject, "http://127.0.0.1:9", frozenset(), {}, None, now, now, os.urandom(12).hex()
    )
    value = Sealer([COOKIE_KEY.encode()], "session corp").seal(session.to_json())
    return f"frontdoor-session-corp={value}"


def via_serve(port: int, cookie: str, path: str = "/app") -> int:
    status, _, _ = request(port, "GET", path, {"Cookie": cookie, "Accept": "application/json"})
    return status


def via_authz(port: int, cookie: str) -> int:
    headers = {
        "X-Forwarded-Uri": "/app",
        "X-Forwarded-Method": "GET",
        "X-Forwarded-Host": "shop.test",
        "Cookie": cookie,
        "Accept": "application/json",
    }
    status, _, _ = request(port, "GET", "/auth", headers)
    return status


def sign_out(port: int, cookie: str) -> None:
    status, fields, _ = request(port, "GET", "/_frontdoor/logout", {"Cookie": cookie})
    assert status == 302, status
    assert fields.get("set-cookie", "").startswith("frontdoor-session-corp")  # cleared in the browser


def serve_and_authz(
    root: Path, spec: ContractSpec, contract_dir: Path, serve_state: Path, authz_state: Path
) -> tuple[Gateway, Process, int]:
    serve = Gateway(contract_dir, spec, root / "serve.log", "--state-dir", str(serve_state), "--no-watch")
    authz, port = start_authz(
        contract_dir,
        {**os.environ},
        root / "authz.log",
        "--dialect",
        "traefik",
        "--state-dir",
        str(authz_state),
    )
    return serve, authz, port


def signing_out_on_either_holds_on_the_other(spec: ContractSpec, authz_port: int) -> None:
    first, second = sealed_session("alice"), sealed_session("bob")
    assert via_serve(spec.port, first) == 200 and via_authz(authz_port, first) == 200
    assert via_serve(spec.port, second) == 200 and via_authz(authz_port, second) == 200

    sign_out(spec.port, first)  # through serve: refused there at once, by authz within the interval
    assert via_serve(spec.port, first) == 401
    eventually(lambda: via_authz(authz_port, first) == 401, "authz refusing the session serve signed out")
    assert via_authz(authz_port, second) == 200  # another person's session is untouched

    sign_out(authz_port, second)  # through authz's sign-in path (as the ingress passes it on)
    assert via_authz(authz_port, second) == 401
    eventually(lambda: via_serve(spec.port, second) == 401, "serve refusing the session authz signed out")


def test_a_sign_out_through_serve_or_authz_holds_on_the_other_with_one_state_directory(
    tmp_path: Path, upstreams: Upstreams
) -> None:
    spec, root = contract(tmp_path, upstreams)
    state = tmp_path / "state"
    serve, authz, port = serve_and_authz(tmp_path, spec, root, state, state)
    try:
        signing_out_on_either_holds_on_the_other(spec, port)
        recorded = (state / "edge" / "dev" / "signed-out").read_text()
        assert len(recorded.splitlines()) == 2  # ids and times only: nothing of the cookies
        assert COOKIE_KEY not in recorded
    finally:
        authz.stop()
        serve.stop()


def test_a_sign_out_holds_across_processes_through_redis_without_a_shared_directory(
    tmp_path: Path, upstreams: Upstreams, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_REDIS_URL", redis_server.url)
    spec, root = contract(tmp_path, upstreams, redis=True)
    serve, authz, port = serve_and_authz(
        tmp_path, spec, root, tmp_path / "serve-state", tmp_path / "authz-state"
    )
    try:
        signing_out_on_either_holds_on_the_other(spec, port)
        assert not (tmp_path / "serve-state" / "edge" / "dev" / "signed-out").exists()
    finally:
        authz.stop()
        serve.stop()


def test_a_sign_out_holds_on_every_worker_of_one_serve(tmp_path: Path, upstreams: Upstreams) -> None:
    """serve --workers 2: the kernel spreads new connections over both workers, so a sign-out answered
    by one must be refused by the other too (without the shared store, about half the requests below
    would still be admitted)."""
    spec, root = contract(tmp_path, upstreams)
    serve = Gateway(root, spec, tmp_path / "serve.log", "--workers", "2", "--no-watch")
    try:
        cookie = sealed_session("carol")
        assert [via_serve(spec.port, cookie) for _ in range(8)] == [200] * 8
        sign_out(spec.port, cookie)
        eventually(
            lambda: all(via_serve(spec.port, cookie) == 401 for _ in range(16)),
            "both workers refusing the signed-out session",
        )
        assert via_serve(spec.port, sealed_session("dave")) == 200
    finally:
        serve.stop()


# --- the stores -----------------------------------------------------------------------------------------


def test_the_file_store_reads_what_others_append_and_a_rewrite_keeps_the_live_sign_outs(
    tmp_path: Path,
) -> None:
    one, other = FileSignedOut(tmp_path), FileSignedOut(tmp_path)
    now = time.time()
    asyncio.run(one.sign_out("live", now + 3600, now))
    assert "live" in one.ids and "live" not in other.ids
    other.refresh()
    assert other.ids.keys() == {"live"}
    # an expired line, a damaged line and a line still being written are not taken
    with open(tmp_path / "signed-out", "ab") as file:
        file.write(b"old 1.0\nnot a line\nhalf")
    other.refresh()
    assert other.ids.keys() == {"live"}
    with open(tmp_path / "signed-out", "ab") as file:
        file.write(b"way %.3f\n" % (now + 60))
    other.refresh()
    assert other.ids.keys() == {"live", "halfway"}

    # many sign-outs of sessions that have ended: the writer past the limit rewrites the file
    with open(tmp_path / "signed-out", "ab") as file:
        file.write(b"".join(b"gone%05d 2.0\n" % i for i in range(6000)))
    asyncio.run(one.sign_out("late", now + 60, now))
    lines = (tmp_path / "signed-out").read_bytes().splitlines()
    assert sorted(line.split()[0] for line in lines) == [b"halfway", b"late", b"live"]
    other.refresh()  # a new file: read whole, and what was known stays
    assert other.ids.keys() == {"live", "halfway", "late"}


def test_the_redis_store_reads_on_from_where_it_stopped_and_is_trimmed_by_time(
    redis_server: RedisServer,
) -> None:
    async def scenario() -> None:
        key = signed_out_key("edge", "dev")
        one = RedisSignedOut(redis_server.url, key, 3600)
        other = RedisSignedOut(redis_server.url, key, 3600)
        now = time.time()
        await one.sign_out("a", now + 3600, now)
        await other.load()
        assert other.ids.keys() == {"a"}
        first = other.last_id
        await one.sign_out("b", now + 3600, now)
        await other.load()
        assert other.ids.keys() == {"a", "b"} and other.last_id > first
        # the key expires after the longest ttl (and the margin): it never holds sign-outs forever
        ttl = await one.client().pttl(key)
        assert 0 < ttl <= (3600 + 300) * 1000
        # an entry older than the longest ttl is trimmed by the next sign-out (MINID, by time)
        trimmed = RedisSignedOut(redis_server.url, "frontdoor:edge:other:signed-out", 3600)
        client = trimmed.client()
        await client.xadd(trimmed.key, {"sid": "ancient", "until": "1.0"}, id="1-1")
        await trimmed.sign_out("c", now + 3600, now)
        entries: Any = await client.xrange(trimmed.key)
        ids = [fields[b"sid"] for _, fields in entries]
        assert ids == [b"c"]
        await client.aclose()
        await one.client().aclose()
        await other.client().aclose()

    asyncio.run(scenario())


def test_a_redis_that_cannot_be_reached_keeps_the_sign_outs_known(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = RedisSignedOut("redis://127.0.0.1:9/0", "frontdoor:edge:dev:signed-out", 3600)
        now = time.time()
        before = dict(FAILURES)
        await store.sign_out("here", now + 60, now)  # not shared, but refused by this process
        await store.load()
        assert "here" in store.ids and not store.healthy
        for operation in ("write", "read"):  # counted for frontdoor_signout_store_failures_total
            assert FAILURES["redis", operation] == before.get(("redis", operation), 0) + 1
        scraped = exposition(None).decode()
        assert 'frontdoor_signout_store_failures_total{operation="write",store="redis"}' in scraped

    asyncio.run(scenario())
