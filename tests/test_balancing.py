"""Endpoint choice: smooth weighted round-robin, health, passive ejection with backoff, panic mode."""

from __future__ import annotations

from collections import Counter

from frontdoor.policy.balancing import EJECT_BASE_S, EJECT_MAX_S, Balancer, Endpoint


def endpoints(*weights: int) -> list[Endpoint]:
    return [Endpoint("127.0.0.1", 9000 + i, w) for i, w in enumerate(weights)]


def test_smooth_weights() -> None:
    a, b = endpoints(9, 1)
    balancer = Balancer([a, b])
    picks = [balancer.pick(0.0) for _ in range(20)]
    assert Counter(picks) == {a: 18, b: 2}
    assert picks[:10].count(b) == 1  # spread, not bunched


def test_zero_weight_never_chosen_and_unhealthy_skipped() -> None:
    a, b, c = endpoints(1, 0, 1)
    balancer = Balancer([a, b, c])
    assert b not in {balancer.pick(0.0) for _ in range(10)}
    c.healthy = False
    assert {balancer.pick(0.0) for _ in range(10)} == {a}


def test_passive_ejection_backs_off_and_recovers() -> None:
    a, b = endpoints(1, 1)
    balancer = Balancer([a, b])
    Balancer.failed(a, 100.0)
    assert {balancer.pick(100.5) for _ in range(6)} == {b}
    assert a.available(100.0 + EJECT_BASE_S)
    Balancer.failed(a, 200.0)  # a second failure in a row doubles the time out
    assert not a.available(200.0 + EJECT_BASE_S) and a.available(200.0 + 2 * EJECT_BASE_S)
    Balancer.succeeded(a)
    assert a.available(200.0) and a.consecutive_failures == 0


def test_an_endpoint_failing_thousands_of_times_in_a_row_stays_out_for_the_maximum() -> None:
    (a,) = endpoints(1)
    for n in range(5000):  # panic mode keeps trying a dead one: the backoff must not overflow
        Balancer.failed(a, float(n))
    assert a.ejected_until == 4999.0 + EJECT_MAX_S


def test_panic_when_everything_is_down_and_exclusions() -> None:
    a, b = endpoints(1, 1)
    a.healthy = b.healthy = False
    balancer = Balancer([a, b])
    assert balancer.pick(0.0) in (a, b)
    assert balancer.pick(0.0, exclude=[a]) is b
    assert balancer.pick(0.0, exclude=[a, b]) is None
