"""The Redis store against a real redis-server: one limit for several gateways, the script's reload,
and what happens when Redis dies, hangs and comes back (decided at once, logged once, never a 500).

Each test runs the stage in its own event loop; "two gateways" are two stages with their own clients.
Time for the backoff is an injected clock, so nothing here sleeps for it. The stages whose Redis stays up
get a deadline of seconds, not the production 50 ms: a busy test machine must not turn a slow answer
into a store failure (the tests of failures keep the real deadline).
"""

from __future__ import annotations

import asyncio
import inspect
import logging

import pytest

from frontdoor.contract.models import RateLimit
from frontdoor.policy.admission import Denial, Verdict
from frontdoor.protection import counters
from frontdoor.protection.leases import lease_size
from frontdoor.protection.ratelimit import ServiceLimit
from frontdoor.protection.redisstore import GCRA_SCRIPT, MAX_CONNECTIONS, RedisRateLimit
from frontdoor.protection.stages import rate_limit_prefix
from frontdoor.protection.storehealth import BACKOFF_MIN
from frontdoor.sharedredis import redis_client, where

from .harness import RedisServer
from .test_protection_logic import Clock, admission

PATIENT = 10.0  # seconds: the deadline of a stage whose Redis never fails in the test


def stage(
    url: str,
    limit: RateLimit,
    on_failure: str = "allow",
    clock: Clock | None = None,
    prefix: str = "t:",
    timeout: float = PATIENT,
) -> RedisRateLimit:
    limits = {"orders": ServiceLimit.of("orders", "orders", limit)}
    client = redis_client(url, timeout, MAX_CONNECTIONS)
    return RedisRateLimit(limits, client, where(url), on_failure, prefix, clock or Clock(), timeout)


async def decide(verdict: Verdict) -> Denial | None:
    if verdict is None or isinstance(verdict, Denial):
        return verdict
    return await verdict


def test_two_gateways_share_one_exact_limit(redis_server: RedisServer) -> None:
    async def main() -> list[Denial | None]:
        limit = RateLimit(requests=10, per=600.0, burst=10)
        one, two = stage(redis_server.url, limit), stage(redis_server.url, limit)
        results = []
        for i in range(30):
            results.append(await decide((one if i % 2 else two).check(admission(0.0))))
        await one.client.aclose()
        await two.client.aclose()
        return results

    results = asyncio.run(main())
    assert sum(r is None for r in results) == 10
    assert all(r is None for r in results[:10])
    refused = [r for r in results if r is not None]
    assert {(r.status, r.kind) for r in refused} == {(429, "rate-limit")}
    retry = int(dict(refused[0].headers)[b"retry-after"])
    assert 59 <= retry <= 60  # one interval of 60 s, by Redis's clock


def test_two_deployments_sharing_one_redis_keep_their_own_limits(redis_server: RedisServer) -> None:
    """Two Edges (or two environments of one) on one Redis: a bucket one spends is not the other's."""
    prefixes = [
        rate_limit_prefix(e, n) for e, n in (("edge-a", "prod"), ("edge-b", "prod"), ("edge-a", "test"))
    ]

    async def main() -> list[list[Denial | None]]:
        limit = RateLimit(requests=2, per=600.0, burst=2)
        stages = [stage(redis_server.url, limit, prefix=prefix) for prefix in prefixes]
        results = [[await decide(s.check(admission(0.0))) for _ in range(3)] for s in stages]
        for s in stages:
            await s.client.aclose()
        return results

    for answers in asyncio.run(main()):  # each deployment: its own two, then its own refusal
        assert [a is None for a in answers] == [True, True, False]


def test_admitted_requests_carry_the_fields_and_keys_expire(redis_server: RedisServer) -> None:
    async def main() -> tuple[list[tuple[bytes, bytes]] | None, int]:
        limited = stage(redis_server.url, RateLimit(requests=2, per=1.0, burst=4))
        request = admission(0.0)
        assert await decide(limited.check(request)) is None
        ttl = await limited.client.pttl("t:orders:192.0.2.7")
        await limited.client.aclose()
        return request.response_fields(), ttl

    headers, ttl = asyncio.run(main())
    assert headers == [(b"ratelimit-policy", b'"orders";q=2;w=1'), (b"ratelimit", b'"orders";r=3;t=1')]
    assert 0 < ttl <= 501  # the key lives until its bucket is full again, half a second


def test_the_script_is_loaded_again_when_redis_forgot_it(redis_server: RedisServer) -> None:
    async def main() -> list[Denial | None]:
        limited = stage(redis_server.url, RateLimit(requests=2, per=600.0, burst=2))
        first = await decide(limited.check(admission(0.0)))
        await limited.client.script_flush()
        rest = [await decide(limited.check(admission(0.0))) for _ in range(2)]
        await limited.client.aclose()
        return [first, *rest]

    first, second, third = asyncio.run(main())
    assert first is None
    assert second is None
    assert isinstance(third, Denial)


def test_an_unreachable_redis_fails_open_at_once_and_says_so_once(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(100.0)

    async def main() -> tuple[list[Denial | None], list[bool], bool]:
        limited = stage(redis_server.url, RateLimit(requests=1, per=600.0, burst=1), clock=clock)
        await decide(limited.check(admission(clock())))  # the one request of the bucket
        refused = await decide(limited.check(admission(clock())))
        assert isinstance(refused, Denial)
        redis_server.kill()
        results, pending = [], []
        for _ in range(20):
            verdict = limited.check(admission(clock()))
            pending.append(inspect.isawaitable(verdict))
            results.append(await decide(verdict))
        down = not limited.health.up
        await limited.client.aclose()
        return results, pending, down

    before = counters.snapshot().get((counters.STORE_FAILED_OPEN, "orders"), 0)
    with caplog.at_level(logging.WARNING, logger="frontdoor.protection"):
        results, pending, down = asyncio.run(main())
    assert results == [None] * 20  # every request passes while the store is away
    assert down
    assert pending == [True] + [False] * 19  # one found out; the others never waited on Redis
    assert counters.snapshot()[(counters.STORE_FAILED_OPEN, "orders")] == before + 20
    lines = [r.getMessage() for r in caplog.records if "rate-limit store" in r.getMessage()]
    assert len(lines) == 1
    assert "unreachable" in lines[0]
    assert f"127.0.0.1:{redis_server.port}" in lines[0]


def test_deny_on_store_failure_answers_503_with_retry_after(redis_server: RedisServer) -> None:
    clock = Clock(100.0)

    async def main() -> list[Denial | None]:
        limited = stage(redis_server.url, RateLimit(requests=5, per=1.0), on_failure="deny", clock=clock)
        redis_server.kill()
        results = [await decide(limited.check(admission(clock()))) for _ in range(3)]
        await limited.client.aclose()
        return results

    for denial in asyncio.run(main()):
        assert isinstance(denial, Denial)
        assert (denial.status, denial.kind) == (503, "rate-limit-store")
        assert dict(denial.headers)[b"retry-after"] == b"1"


def test_a_hung_redis_costs_a_timeout_then_is_skipped(redis_server: RedisServer) -> None:
    clock = Clock(100.0)

    async def main() -> tuple[Denial | None, Verdict]:
        limited = stage(redis_server.url, RateLimit(requests=5, per=1.0), clock=clock, timeout=1.0)
        await decide(limited.check(admission(clock())))  # connected
        redis_server.pause()
        try:
            first = await asyncio.wait_for(decide(limited.check(admission(clock()))), 5)
            second = limited.check(admission(clock()))
        finally:
            redis_server.resume()
        await limited.client.aclose()
        return first, second

    first, second = asyncio.run(main())
    assert first is None  # the call timed out (wait_for would have raised otherwise): fail open
    assert second is None  # and the next one did not even try


def test_after_the_backoff_one_probe_finds_redis_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(100.0)

    async def main() -> tuple[list[bool], Denial | None, bool]:
        limited = stage(redis_server.url, RateLimit(requests=1, per=600.0, burst=1), clock=clock)
        redis_server.kill()
        await decide(limited.check(admission(clock())))  # finds it down
        redis_server.start()
        pending = [inspect.isawaitable(limited.check(admission(clock()))) for _ in range(3)]
        clock.now += BACKOFF_MIN
        probe = limited.check(admission(clock()))
        concurrent = limited.check(admission(clock()))  # while the probe is out: not a second probe
        pending += [inspect.isawaitable(probe), inspect.isawaitable(concurrent)]
        admitted = await decide(probe)
        refused = await decide(limited.check(admission(clock())))
        up = limited.health.up
        await limited.client.aclose()
        assert admitted is None
        return pending, refused, up

    with caplog.at_level(logging.WARNING, logger="frontdoor.protection"):
        pending, refused, up = asyncio.run(main())
    assert pending == [False, False, False, True, False]
    assert up
    assert isinstance(refused, Denial)  # limits apply again
    assert refused.status == 429
    messages = [r.getMessage() for r in caplog.records if "rate-limit store" in r.getMessage()]
    assert len(messages) == 2
    assert "reachable again" in messages[1]


def test_the_log_never_shows_the_url_password() -> None:
    assert where("redis://:s3cret@cache.internal:6380/2") == "cache.internal:6380"
    assert "s3cret" not in where("rediss://user:s3cret@cache.internal/0")


def test_decisions_of_one_loop_turn_share_a_pipeline_and_stay_exact(redis_server: RedisServer) -> None:
    async def main() -> tuple[list[Denial | None], list[int]]:
        limit = RateLimit(requests=10, per=600.0, burst=10)
        one, two = stage(redis_server.url, limit), stage(redis_server.url, limit)
        await one.client.script_flush()  # the first calls meet NOSCRIPT
        pending = [(one if i % 2 else two).check(admission(0.0)) for i in range(40)]
        # nothing sent yet: all wait for the loop's turn, one bucket (the same client) per stage
        batched = [len(w.decided) for s in (one, two) for w in s._batch.values()]
        results = await asyncio.gather(*(decide(p) for p in pending))
        await one.client.aclose()
        await two.client.aclose()
        return list(results), batched

    results, batched = asyncio.run(main())
    assert batched == [20, 20]
    assert sum(r is None for r in results) == 10
    assert all(isinstance(r, Denial) and r.status == 429 for r in results if r is not None)


def test_one_call_answers_a_bucket_s_turn_as_one_call_per_request_would(redis_server: RedisServer) -> None:
    """Six requests of one client in one turn: one script call admits the first four (the burst), each
    with its own place in the bucket, and refuses the other two, each counted."""

    async def main() -> tuple[list[Denial | None], list[list[tuple[bytes, bytes]]], int]:
        limited = stage(redis_server.url, RateLimit(requests=2, per=600.0, burst=4))
        await limited.client.script_load(GCRA_SCRIPT)
        await limited.client.config_resetstat()  # count the calls of this turn only
        requests = [admission(0.0) for _ in range(6)]
        pending = [limited.check(request) for request in requests]
        results = await asyncio.gather(*(decide(p) for p in pending))
        calls = int((await limited.client.info("commandstats"))["cmdstat_evalsha"]["calls"])
        await limited.client.aclose()
        return list(results), [r.response_fields() for r in requests[:4]], calls

    before = counters.snapshot().get((counters.RATE_LIMITED, "orders"), 0)
    results, fields, calls = asyncio.run(main())
    assert calls == 1
    assert results[:4] == [None] * 4
    # interval 300 s: the bucket is 300 s further from full after each admitted request
    assert [f[1] for f in fields] == [
        (b"ratelimit", b'"orders";r=%d;t=%d' % (3 - i, 300 * (i + 1))) for i in range(4)
    ]
    for refused in results[4:]:
        assert isinstance(refused, Denial)
        assert refused.status == 429
        assert 299 <= int(dict(refused.headers)[b"retry-after"]) <= 300  # one interval, by Redis's clock
    assert counters.snapshot()[(counters.RATE_LIMITED, "orders")] == before + 2


# --- leases: a bucket with a burst of LEASE_SHARE or more --------------------------------------------

LEASED = RateLimit(requests=64, per=86400.0, burst=64)  # a lease of 2 requests; no refill in a test


def test_a_lease_admits_without_waiting_and_two_workers_share_the_bucket_exactly(
    redis_server: RedisServer,
) -> None:
    """Two workers (stages) send until both are refused: together they admit exactly the burst, most
    of it from their leases, with no wait on Redis."""
    assert lease_size(LEASED.capacity) == 2

    async def main() -> tuple[int, int, list[int]]:
        clock = Clock(100.0)
        workers = [stage(redis_server.url, LEASED, clock=clock) for _ in range(2)]
        admitted = at_once = 0
        refused = [0, 0]
        for _ in range(200):  # far more than the burst
            if min(refused) >= 3:  # both refused more than once: neither holds a lease any more
                break
            for index, worker in enumerate(workers):
                verdict = worker.check(admission(clock()))
                at_once += verdict is None
                answer = await decide(verdict)
                admitted += answer is None
                refused[index] += answer is not None
            await asyncio.sleep(0)  # a top-up sent at the end of a turn is answered meanwhile
        held = [lease.held for w in workers for lease in w.leases.by_key.values()]
        for worker in workers:
            await worker.client.aclose()
        return admitted, at_once, held

    admitted, at_once, held = asyncio.run(main())
    assert admitted == LEASED.capacity  # every admission was taken from the one bucket first
    assert at_once > LEASED.capacity // 2  # most of them without waiting on Redis
    assert held == [0, 0]


def test_the_worst_case_overshoot_is_the_lease_a_worker_holds(redis_server: RedisServer) -> None:
    """Worker one takes a lease; worker two then empties the bucket and is refused by Redis; worker one
    still admits what it holds: after the bucket is empty, at most one lease per worker passes (the
    bound docs/protection.md states, N x R x lease). Over the whole run, still exactly the burst."""

    async def main() -> tuple[list[bool], int, int]:
        clock = Clock(100.0)
        one, two = (stage(redis_server.url, LEASED, clock=clock) for _ in range(2))
        assert await decide(one.check(admission(clock()))) is None  # one request, and a lease of 2
        drained = 0
        while await decide(two.check(admission(clock()))) is None:
            drained += 1
        after_empty = [await decide(one.check(admission(clock()))) is None for _ in range(4)]
        for worker in (one, two):
            await worker.client.aclose()
        return after_empty, drained, 1 + drained + sum(after_empty)

    after_empty, drained, total = asyncio.run(main())
    assert after_empty == [True, True, False, False]  # its lease of 2, then Redis's refusal
    assert drained == LEASED.capacity - 1 - 2
    assert total == LEASED.capacity


def test_leased_responses_carry_the_bucket_s_fields(redis_server: RedisServer) -> None:
    async def main() -> list[list[tuple[bytes, bytes]]]:
        clock = Clock(100.0)
        limited = stage(redis_server.url, LEASED, clock=clock)
        requests = [admission(clock()) for _ in range(3)]
        for request in requests:
            assert await decide(limited.check(request)) is None
        await limited.client.aclose()
        return [request.response_fields() for request in requests]

    fields = asyncio.run(main())
    # interval 1350 s: the first request took 1 + a lease of 2, the next two came from the lease, each
    # finding the bucket one interval further from full, as Redis would have said
    assert [f[1] for f in fields] == [
        (b"ratelimit", b'"orders";r=%d;t=%d' % (63 - i, 1350 * (i + 1))) for i in range(3)
    ]


def test_a_dead_redis_costs_at_most_the_lease_then_on_store_failure_decides(
    redis_server: RedisServer,
) -> None:
    """With deny: after Redis dies a worker admits at most what it already took (its lease), then the
    first top-up finds the store down, the lease is dropped and every request gets 503."""

    async def main() -> list[int]:
        clock = Clock(100.0)
        limited = stage(redis_server.url, LEASED, on_failure="deny", clock=clock)
        assert await decide(limited.check(admission(clock()))) is None
        redis_server.kill()
        statuses = []
        for _ in range(6):
            answer = await decide(limited.check(admission(clock())))
            statuses.append(200 if answer is None else answer.status)
            await asyncio.sleep(0)  # lets a top-up go out and fail
        await limited.client.aclose()
        return statuses

    statuses = asyncio.run(main())
    assert statuses.count(200) <= lease_size(LEASED.capacity)
    assert statuses[-3:] == [503] * 3
