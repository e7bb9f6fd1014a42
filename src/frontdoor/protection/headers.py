"""The rate-limit response fields of the IETF httpapi draft (draft-ietf-httpapi-ratelimit-headers-10):

    RateLimit-Policy: "orders";q=50;w=1      the policy: quota ``q`` units per window of ``w`` seconds
    RateLimit: "orders";r=49;t=1             now: ``r`` requests remain, full again in ``t`` seconds

Both are Structured Field lists whose item is the policy's name as a String. The policy field never
changes for a service, so it is built once; the RateLimit value changes per request and is one bytes
formatting of two integers onto a prefix made once. Retry-After (RFC 9110) goes with every 429.
"""

from __future__ import annotations

from dataclasses import dataclass

from frontdoor.http.fields import Field

POLICY_FIELD = b"ratelimit-policy"
STATE_FIELD = b"ratelimit"
RETRY_AFTER = b"retry-after"


def quota_and_window(requests: int, per: float) -> tuple[int, int]:
    """The limit as ``q`` units per ``w`` whole seconds (the draft's window is an integer): ``per`` is
    rounded to a whole number of seconds (at least 1) and the quota scaled to it."""
    window = max(1, round(per))
    return max(1, round(requests * window / per)), window


@dataclass(frozen=True, slots=True)
class PolicyFields:
    """The fields of one named policy, made once."""

    policy: Field  # the whole RateLimit-Policy field
    policy_line: bytes  # the same as a header line
    state_prefix: bytes  # RateLimit's value up to ``r=``
    state_line_prefix: bytes  # RateLimit's header line up to ``r=``

    @classmethod
    def of(cls, name: str, requests: int, per: float) -> PolicyFields:
        quota, window = quota_and_window(requests, per)
        label = _sf_string(name)
        policy = b"%b;q=%d;w=%d" % (label, quota, window)
        return cls(
            (POLICY_FIELD, policy),
            b"%b: %b\r\n" % (POLICY_FIELD, policy),
            label + b";r=",
            b"%b: %b;r=" % (STATE_FIELD, label),
        )

    def state(self, remaining: int, reset: int) -> Field:
        return (STATE_FIELD, b"%b%d;t=%d" % (self.state_prefix, remaining, reset))

    def lines(self, remaining: int, reset: int) -> bytes:
        """Both fields as the response's header lines, in one formatting."""
        return b"%b%b%d;t=%d\r\n" % (self.policy_line, self.state_line_prefix, remaining, reset)


def _sf_string(text: str) -> bytes:
    """A Structured Field String (RFC 9651 3.3.3): printable ASCII, quotes and backslashes escaped."""
    if any(not 0x20 <= ord(c) <= 0x7E for c in text):
        raise ValueError(f"{text!r} cannot be a structured field string")
    return b'"' + text.replace("\\", "\\\\").replace('"', '\\"').encode("ascii") + b'"'
