"""Traffic protection's arithmetic with injected clocks: no sleeping, no sockets.

GCRA buckets, the RateLimit fields, the local rate-limit stage, shedding, the circuit breaker and the
retry budget, each driven through its public methods with times the test chooses.
"""

from __future__ import annotations

import ipaddress
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdoor.contract.models import AccessRule, RateLimit
from frontdoor.contract.values import parse_route_path
from frontdoor.http.h1 import RequestHead
from frontdoor.plan import PlannedRoute
from frontdoor.policy.admission import Admission, Denial
from frontdoor.protection import counters
from frontdoor.protection.breaker import ADMIT, CLOSED, HALF_OPEN, OPEN, PROBE, REFUSE, CircuitBreaker
from frontdoor.protection.gcra import LocalBuckets, Rate
from frontdoor.protection.headers import PolicyFields, quota_and_window
from frontdoor.protection.ratelimit import LocalRateLimit, ServiceLimit
from frontdoor.protection.retrybudget import RetryBudget
from frontdoor.protection.shedding import GuardStage, guards_for


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def route(service: str = "orders", index: int = 0) -> PlannedRoute:
    return PlannedRoute(
        service, index, parse_route_path("/orders"), None, AccessRule(mode="public"), False, "shop"
    )


def admission(
    now: float,
    peer: str = "192.0.2.7",
    planned: PlannedRoute | None = None,
    subject: str | None = None,
    forwarded: str | None = None,
) -> Admission:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    head = RequestHead("GET", "/orders", "1.1", headers, "shop", None, False, True)
    trusted = (ipaddress.ip_network("10.0.0.0/8"),) if forwarded else ()
    result = Admission(head, planned or route(), "GET", "/orders", peer, trusted, now)
    result.subject = subject
    return result


# --- GCRA --------------------------------------------------------------------------------------------


def test_a_full_bucket_admits_the_burst_then_refuses() -> None:
    buckets = LocalBuckets(Rate.of(10, 1.0, 5))  # 10/s, burst 5
    debts = [buckets.take("k", 100.0) for _ in range(5)]
    assert all(d >= 0 for d in debts)
    assert debts == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    refused = buckets.take("k", 100.0)
    assert refused < 0
    assert -refused == pytest.approx(0.1, abs=1e-6)  # one interval until the next request fits


def test_the_bucket_refills_at_the_rate() -> None:
    buckets = LocalBuckets(Rate.of(10, 1.0, 5))
    for _ in range(5):
        buckets.take("k", 100.0)
    assert buckets.take("k", 100.05) < 0  # half an interval later: still nothing
    assert buckets.take("k", 100.1) >= 0  # one interval later: exactly one
    assert buckets.take("k", 100.1) < 0
    assert buckets.take("k", 101.0) >= 0  # long after: a fresh burst
    assert sum(buckets.take("k", 200.0) >= 0 for _ in range(10)) == 5


def test_a_refused_request_costs_nothing() -> None:
    buckets = LocalBuckets(Rate.of(1, 1.0, 1))
    assert buckets.take("k", 0.0) >= 0
    for _ in range(100):
        assert buckets.take("k", 0.5) < 0  # hammering does not push the next admission further away
    assert buckets.take("k", 1.0) >= 0


def test_keys_are_independent() -> None:
    buckets = LocalBuckets(Rate.of(1, 60.0, 1))
    assert buckets.take("a", 0.0) >= 0
    assert buckets.take("a", 0.0) < 0
    assert buckets.take("b", 0.0) >= 0


def test_sustained_rate_over_a_long_run_matches_the_limit() -> None:
    buckets = LocalBuckets(Rate.of(100, 1.0, 10))
    admitted = 0
    now = 0.0
    for _ in range(100_000):  # 1000 requests a second for 100 seconds
        now += 0.001
        admitted += buckets.take("k", now) >= 0
    assert 100 * 100 <= admitted <= 100 * 100 + 10  # the rate, plus at most one burst


def test_a_share_divides_rate_and_burst_never_exceeding_the_whole() -> None:
    whole = Rate.of(100, 1.0, 200)
    half = Rate.of(100, 1.0, 200, share=2)
    assert half.interval == pytest.approx(2 * whole.interval)
    assert half.burst == 100
    assert Rate.of(10, 1.0, 5, share=4).burst == 1  # rounded down, at least one
    assert Rate.of(10, 1.0, 9, share=2).burst == 4


def test_idle_keys_are_forgotten_and_memory_is_bounded() -> None:
    buckets = LocalBuckets(Rate.of(1, 1.0, 1), max_keys=100)
    for i in range(100):
        buckets.take(f"old{i}", 0.0)
    # a second later every old key is idle (full again): a new key sweeps them without losing anything
    buckets.take("new", 5.0)
    assert set(buckets.tats) == {"new"}
    assert buckets.dropped == 0


def test_a_key_spraying_flood_keeps_memory_bounded_and_the_most_indebted_keys() -> None:
    buckets = LocalBuckets(Rate.of(1, 3600.0, 1), max_keys=1000)  # every key stays in debt for an hour
    heavy = "heavy"
    buckets.take(heavy, 0.0)
    for i in range(50_000):
        buckets.take(f"spray{i}", 1.0 + i * 1e-4)
        assert len(buckets.tats) <= 1000
    assert buckets.dropped > 0
    # the survivors are the ones with the latest TAT (the most debt); the early "heavy" key may go,
    # but every key kept still refuses its second request
    survivors = list(buckets.tats)
    assert all(buckets.take(key, 10.0) < 0 for key in survivors[-10:])


# --- RateLimit fields --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requests", "per", "quota", "window"),
    [(100, 1.0, 100, 1), (50, 0.5, 100, 1), (600, 60.0, 600, 60), (3, 1.5, 4, 2), (1, 0.1, 10, 1)],
)
def test_quota_and_window_are_whole_seconds(requests: int, per: float, quota: int, window: int) -> None:
    assert quota_and_window(requests, per) == (quota, window)


def test_policy_fields_follow_the_draft_syntax() -> None:
    fields = PolicyFields.of("orders", 50, 1.0)
    assert fields.policy == (b"ratelimit-policy", b'"orders";q=50;w=1')
    assert fields.state(49, 1) == (b"ratelimit", b'"orders";r=49;t=1')
    assert PolicyFields.of('we"ird\\', 1, 1.0).policy[1] == b'"we\\"ird\\\\";q=1;w=1'


# --- the local stage ---------------------------------------------------------------------------------


def local_stage(limit: RateLimit, share: int = 1, policy: str = "orders") -> LocalRateLimit:
    return LocalRateLimit({"orders": ServiceLimit.of("orders", policy, limit, share)})


def test_admitted_requests_carry_the_ratelimit_fields() -> None:
    stage = local_stage(RateLimit(requests=10, per=1.0, burst=3))
    first = admission(50.0)
    assert stage.check(first) is None
    assert first.response_head == b'ratelimit-policy: "orders";q=10;w=1\r\nratelimit: "orders";r=2;t=1\r\n'
    assert first.response_fields() == [
        (b"ratelimit-policy", b'"orders";q=10;w=1'),
        (b"ratelimit", b'"orders";r=2;t=1'),
    ]
    for _ in range(2):
        stage.check(admission(50.0))
    last = admission(50.0)
    denial = stage.check(last)
    assert isinstance(denial, Denial)
    assert denial.status == 429
    assert denial.kind == "rate-limit"
    headers = dict(denial.headers)
    assert headers[b"retry-after"] == b"1"  # 0.1 s rounded up to a whole second
    assert headers[b"ratelimit"] == b'"orders";r=0;t=1'
    assert headers[b"ratelimit-policy"] == b'"orders";q=10;w=1'
    assert 'policy "orders"' in denial.reason
    assert last.response_head == b""  # a denial carries its fields itself


def test_retry_after_is_rounded_up_to_whole_seconds() -> None:
    stage = local_stage(RateLimit(requests=1, per=90.0, burst=1))
    assert stage.check(admission(0.0)) is None
    denial = stage.check(admission(0.5))
    assert isinstance(denial, Denial)
    assert dict(denial.headers)[b"retry-after"] == b"90"  # 89.5 s to wait


def test_the_last_remaining_request_says_zero() -> None:
    stage = local_stage(RateLimit(requests=2, per=1.0, burst=2))
    stage.check(admission(0.0))
    second = admission(0.0)
    assert stage.check(second) is None
    assert second.response_fields()[1] == (b"ratelimit", b'"orders";r=0;t=1')


def test_subject_key_falls_back_to_the_client_and_keeps_kinds_apart() -> None:
    stage = local_stage(RateLimit(requests=1, per=60.0, burst=1, key="subject"))
    assert stage.check(admission(0.0, subject="alice")) is None
    assert isinstance(stage.check(admission(0.0, subject="alice", peer="192.0.2.99")), Denial)
    # anonymous: the client address; a subject that looks like that address is someone else
    assert stage.check(admission(0.0, peer="192.0.2.8")) is None
    assert stage.check(admission(0.0, peer="192.0.2.9", subject="192.0.2.8")) is None
    assert isinstance(stage.check(admission(0.0, peer="192.0.2.8")), Denial)


def test_client_key_uses_the_address_behind_trusted_proxies() -> None:
    stage = local_stage(RateLimit(requests=1, per=60.0, burst=1, key="client"))
    assert stage.check(admission(0.0, peer="10.0.0.1", forwarded="203.0.113.5")) is None
    assert isinstance(stage.check(admission(0.0, peer="10.0.0.2", forwarded="203.0.113.5")), Denial)
    assert stage.check(admission(0.0, peer="10.0.0.1", forwarded="203.0.113.6")) is None


def test_route_key_counts_the_route_as_a_whole() -> None:
    stage = local_stage(RateLimit(requests=2, per=60.0, burst=2, key="route"))
    one, other = route(index=0), route(index=1)
    assert stage.check(admission(0.0, peer="192.0.2.1", planned=one)) is None
    assert stage.check(admission(0.0, peer="192.0.2.2", planned=one)) is None
    assert isinstance(stage.check(admission(0.0, peer="192.0.2.3", planned=one)), Denial)
    assert stage.check(admission(0.0, peer="192.0.2.3", planned=other)) is None


def test_a_service_without_a_limit_is_not_touched() -> None:
    stage = local_stage(RateLimit(requests=1, per=60.0, burst=1))
    for _ in range(5):
        free = admission(0.0, planned=route("catalog"))
        assert stage.check(free) is None
        assert free.response_head == b""


def test_workers_share_the_limit() -> None:
    stage = local_stage(RateLimit(requests=10, per=60.0, burst=10), share=2)
    admitted = sum(stage.check(admission(0.0)) is None for _ in range(10))
    assert admitted == 5


def test_a_denial_is_counted_for_the_metrics() -> None:
    stage = local_stage(RateLimit(requests=1, per=60.0, burst=1))
    before = counters.snapshot().get((counters.RATE_LIMITED, "orders"), 0)
    stage.check(admission(0.0))
    stage.check(admission(0.0))
    stage.check(admission(0.0))
    assert counters.snapshot()[(counters.RATE_LIMITED, "orders")] == before + 2


# --- shedding ----------------------------------------------------------------------------------------


def test_beyond_max_inflight_the_answer_is_503_at_once_and_finishing_frees_a_place() -> None:
    stage = GuardStage(guards_for(["orders"], 2, None))
    first, second = admission(0.0), admission(0.0)
    assert stage.check(first) is None
    assert stage.check(second) is None
    denial = stage.check(admission(0.0))
    assert isinstance(denial, Denial)
    assert (denial.status, denial.kind) == (503, "shed")
    assert dict(denial.headers)[b"retry-after"] == b"1"
    first.finish(200)
    assert stage.check(admission(0.0)) is None
    second.finish(499)  # a client that went away frees its place too
    assert stage.state()["orders"]["inflight"] == 1


def test_no_protection_configured_means_no_guard() -> None:
    assert guards_for(["orders"], None, None) == {}


# --- circuit breaker ---------------------------------------------------------------------------------


def breaker(clock: Clock, ratio: float = 0.5, minimum: int = 4, open_for: float = 10.0) -> CircuitBreaker:
    return CircuitBreaker(ratio, minimum, open_for, clock, name="orders")


def test_the_breaker_opens_at_the_failure_ratio_after_min_requests() -> None:
    clock = Clock()
    circuit = breaker(clock)
    for status in (502, 503, 504):  # three failures: not yet min_requests
        assert circuit.allow(clock()) == ADMIT
        circuit.record(status)
    assert circuit.state == CLOSED
    circuit.record(200)  # 3 of 4 failed >= 0.5
    assert circuit.state == CLOSED  # a success never opens it
    circuit.record(502)  # 4 of 5
    assert circuit.state == OPEN
    assert circuit.allow(clock()) == REFUSE


def test_statuses_that_are_not_failures() -> None:
    clock = Clock()
    circuit = breaker(clock, minimum=2)
    for status in (500, 404, 200, 429, 499, 499, 499):
        circuit.record(status)
    assert circuit.state == CLOSED
    assert sum(circuit.failures) == 0
    assert sum(circuit.successes) == 4  # 499: the client went away, it counts for nothing


def test_old_outcomes_leave_the_window() -> None:
    clock = Clock()
    circuit = breaker(clock, minimum=4)
    for _ in range(3):
        circuit.record(502)
    clock.now += 11  # past the 10 s window
    circuit.record(502)
    assert circuit.state == CLOSED  # only one failure in the window now


def test_open_then_half_open_with_one_probe_then_closed() -> None:
    clock = Clock()
    circuit = breaker(clock, minimum=2, open_for=5.0)
    circuit.record(502)
    circuit.record(502)
    assert circuit.state == OPEN
    clock.now += 4.9
    assert circuit.allow(clock()) == REFUSE
    assert circuit.retry_after(clock()) == pytest.approx(0.1)
    clock.now += 0.1
    assert circuit.allow(clock()) == PROBE
    assert circuit.state == HALF_OPEN
    assert circuit.allow(clock()) == REFUSE  # only one probe at a time
    circuit.record(200)  # a request admitted before it opened: ignored
    assert circuit.state == HALF_OPEN
    circuit.probed(200)
    assert circuit.state == CLOSED
    assert circuit.allow(clock()) == ADMIT
    assert sum(circuit.failures) == 0  # closed with fresh counts


def test_a_failed_probe_opens_again_and_an_abandoned_one_lets_another_probe() -> None:
    clock = Clock()
    circuit = breaker(clock, minimum=1, open_for=5.0)
    circuit.record(504)
    clock.now += 5
    assert circuit.allow(clock()) == PROBE
    circuit.probed(499)
    assert circuit.state == HALF_OPEN
    assert circuit.allow(clock()) == PROBE
    circuit.probed(503)
    assert circuit.state == OPEN
    assert circuit.opened == 2
    assert circuit.allow(clock() + 4.9) == REFUSE


def test_the_guard_refuses_an_open_circuit_without_counting_it_in_flight() -> None:
    clock = Clock()
    guards = guards_for(["orders"], 100, (0.5, 2, 7.0), clock)
    stage = GuardStage(guards)
    for _ in range(2):
        request = admission(clock())
        assert stage.check(request) is None
        request.finish(502)
    denial = stage.check(admission(clock()))
    assert isinstance(denial, Denial)
    assert (denial.status, denial.kind) == (503, "circuit-open")
    assert dict(denial.headers)[b"retry-after"] == b"7"
    assert stage.state()["orders"] == {"inflight": 0, "max_inflight": 100, "circuit": OPEN}
    clock.now += 7
    probe = admission(clock())
    assert stage.check(probe) is None
    assert isinstance(stage.check(admission(clock())), Denial)
    probe.finish(200)
    assert stage.check(admission(clock())) is None
    assert stage.state()["orders"]["circuit"] == CLOSED


# --- retry budget ------------------------------------------------------------------------------------


def test_the_retry_budget_allows_a_minimum_then_a_share_of_requests() -> None:
    budget = RetryBudget(ratio=0.2, minimum=3, window=10.0, now=0.0)
    assert [budget.allow_retry(0.1) for _ in range(4)] == [True, True, True, False]
    for _ in range(100):
        budget.request(0.2)
    allowed = sum(budget.allow_retry(0.3) for _ in range(100))
    assert allowed == 20 - 3  # 20% of 100 requests, three already spent


def test_the_retry_budget_forgets_old_traffic() -> None:
    budget = RetryBudget(ratio=0.2, minimum=0, window=10.0, now=0.0)
    for _ in range(1000):
        budget.request(1.0)
    assert budget.allow_retry(2.0)
    # long after, the old requests no longer buy retries for a new outage
    assert not budget.allow_retry(30.0)
    # half a window later, the previous half counts for what is left of it
    for _ in range(100):
        budget.request(31.0)
    # at 36 s they are the previous half, 1 s into the new one: weighted 0.8, they buy 0.2 * 80 retries
    assert sum(budget.allow_retry(36.0) for _ in range(100)) == 16


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_whole_seconds_round_up_as_math_ceil_does(seconds: float) -> None:
    from frontdoor.protection.gcra import ceil_seconds

    assert ceil_seconds(seconds) == max(0, math.ceil(seconds - 1e-9))


@pytest.mark.parametrize(
    ("burst", "remaining"), [(1, b"0"), (1000, b"999"), (1001, b"1000"), (250000, b"249999")]
)
def test_the_remaining_count_is_written_out_whatever_its_size(burst: int, remaining: bytes) -> None:
    stage = local_stage(RateLimit(requests=burst, per=1.0, burst=burst))
    first = admission(7.0)
    assert stage.check(first) is None
    assert first.response_fields()[1] == (b"ratelimit", b'"orders";r=' + remaining + b";t=1")
