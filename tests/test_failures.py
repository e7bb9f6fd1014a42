"""The one table of the gateway's own failures and deny kinds: what each answers, and how it is named."""

from __future__ import annotations

from frontdoor.policy.admission import Denial
from frontdoor.policy.denykind import DenyKind, kind_of
from frontdoor.proxy.failures import Failure
from frontdoor.render import authz_api, nginx_errors

# the kinds of frontdoor_upstream_errors_total, by the status class (docs/operations.md); 499 (the
# client stopped reading) is the client's doing, never counted as an upstream error
_KIND_OF_STATUS = {502: "error", 503: "unavailable", 504: "timeout", 499: ""}


def test_every_failure_is_answered_and_counted_as_its_status_says() -> None:
    for failure in Failure:
        assert failure.label == _KIND_OF_STATUS[failure.status], failure
        assert failure.reason and failure.reason == failure.reason.strip()
    assert Failure.CONNECT_TIMEOUT.status == 504 and Failure.CONNECT_FAILED.status == 502
    assert [failure for failure in Failure if not failure.label] == [Failure.CLIENT_STALLED]


def test_serve_authz_and_the_rendered_nginx_name_denials_from_one_set() -> None:
    kinds = {kind.value for kind in DenyKind}
    assert set(authz_api.NGINX_DENY_STATUS) <= kinds
    assert {kind for _, kind, _ in nginx_errors.OWN_ERRORS.values() if kind} <= kinds


def test_a_denial_is_named_by_its_kind_never_by_its_rule_text() -> None:
    # a rule that starts like another stage's name does not change the kind
    assert (
        kind_of(Denial(429, "slow down", "access: looks like access", (), DenyKind.RATE_LIMIT))
        == "rate-limit"
    )
    assert kind_of(Denial(403, "no", "custom: a stage that named no kind")) == DenyKind.DENIED
