"""The rate-limit stage with the local store: every decision in this process, synchronously.

Each service's limit (its own from ``rate_limits.services``, else the default) is made into a
ServiceLimit once; a request then costs a dict lookup for its service, its key, one GCRA step and the
RateLimit field's bytes. With ``--workers N`` each process holds ``1/N`` of every limit (stages.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from frontdoor.contract.models import RateLimit
from frontdoor.contract.values import format_duration
from frontdoor.memo import Memo
from frontdoor.policy.admission import Admission, Denial, Verdict
from frontdoor.policy.denykind import DenyKind
from frontdoor.protection.counters import RATE_LIMITED, count
from frontdoor.protection.gcra import LocalBuckets, Rate, ceil_seconds
from frontdoor.protection.headers import RETRY_AFTER, PolicyFields
from frontdoor.protection.keys import LOCAL_KEYS, SHARED_KEYS, WHO, KeyOf, TextKeyOf, WhoOf
from frontdoor.protection.limitedclients import count as count_limited


def describe(limit: RateLimit) -> str:
    """``50 requests per 1s, burst 100, by subject``: how the reason and the logs name a limit."""
    return (
        f"{limit.requests} requests per {format_duration(limit.per)}, burst {limit.capacity}, by {limit.key}"
    )


@dataclass(frozen=True, slots=True)
class ServiceLimit:
    """One service's limit, with everything a decision needs made in advance."""

    service: str
    policy: str  # the policy's name: the service's own, or "default"
    rate: Rate  # as this process enforces it (a share of the contract's with a local store)
    fields: PolicyFields
    key: KeyOf  # the bucket's key, for the local store
    by_client: bool  # the key is the client's address (the default)
    text_key: TextKeyOf  # the same as text, for a shared store
    who: WhoOf  # the refused client, for the dashboard's top limited clients
    reason: str  # the 429's reason: names the policy and the limit
    rule: str  # for the access log's denied_by

    @classmethod
    def of(cls, service: str, policy: str, limit: RateLimit, share: int = 1) -> ServiceLimit:
        text = describe(limit)
        return cls(
            service=service,
            policy=policy,
            rate=Rate.of(limit.requests, limit.per, limit.capacity, share),
            fields=PolicyFields.of(policy, limit.requests, limit.per),
            key=LOCAL_KEYS[limit.key],
            by_client=limit.key == "client",
            text_key=SHARED_KEYS[limit.key],
            who=WHO[limit.key],
            reason=f'rate limit exceeded: policy "{policy}" allows {text}',
            rule=f"rate-limit: {policy} ({text})",
        )

    def refused(self, admission: Admission, wait: float, debt: float) -> Denial:
        """The 429 for a request that must wait ``wait`` seconds; the bucket is ``debt`` from full."""
        count(RATE_LIMITED, self.service)
        kind, client = self.who(admission)
        count_limited(self.service, kind, client)
        retry = max(1, ceil_seconds(wait))
        fields = self.fields
        headers = (
            fields.policy,
            fields.state(0, max(retry, ceil_seconds(debt))),
            (RETRY_AFTER, b"%d" % retry),
        )
        return Denial(429, self.reason, self.rule, headers, DenyKind.RATE_LIMIT)


class _ServiceBuckets:
    """What a decision for one service needs, from one lookup: a plain slotted class, whose fields
    the compiled build reads directly (a tuple's unpacking costs more)."""

    __slots__ = ("buckets", "by_client", "fields", "key_of", "limit", "lines", "per_interval", "window")

    def __init__(self, limit: ServiceLimit, buckets: LocalBuckets) -> None:
        self.limit = limit
        self.buckets = buckets
        self.key_of = limit.key
        # the usual key, asked directly (a compiled method call, not a call of a stored function)
        self.by_client = limit.by_client
        self.window = limit.rate.window
        self.per_interval = 1.0 / limit.rate.interval
        self.fields = limit.fields
        # the response's two lines by (remaining, reset): a limit far above the traffic gives the same
        # pair again and again, a tight one a few (bounded, emptied when full)
        self.lines: Memo[tuple[int, int], bytes] = Memo(256)


class LocalRateLimit:
    """The ``rate-limit`` stage, store ``local``."""

    name = "rate-limit"

    def __init__(self, limits: dict[str, ServiceLimit]) -> None:
        self.limits = limits
        self.buckets = {service: LocalBuckets(limit.rate) for service, limit in limits.items()}
        self._by_service = {
            service: _ServiceBuckets(limit, self.buckets[service]) for service, limit in limits.items()
        }

    def check(self, admission: Admission) -> Verdict:
        entry = self._by_service.get(admission.route.service)
        if entry is None:
            return None
        key = admission.client_address() if entry.by_client else entry.key_of(admission)
        debt = entry.buckets.take(key, admission.now)
        if debt < 0:
            limit = entry.limit
            return limit.refused(admission, -debt, entry.window - debt - limit.rate.interval)
        # admitted: the state rides on the response. Never negative: debt <= window + interval * 1e-6.
        remaining = int((entry.window - debt) * entry.per_interval + 1e-6)
        reset = ceil_seconds(debt)
        state = (remaining, reset)
        lines = entry.lines.get(state)
        if lines is None:
            lines = entry.lines.keep(state, entry.fields.lines(remaining, reset))
        admission.add_response_lines(lines)
        return None
