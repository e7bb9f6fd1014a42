"""The access stage on a compiled plan, without sockets: what each kind of route admits, the 401 and
403 it answers, what it tells the upstream, and how it waits for keys (injected clocks and fetcher)."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from frontdoor.access.apiclients import ApiClientError
from frontdoor.access.stage import AccessStage
from frontdoor.access.tokens import SeenToken
from frontdoor.contract.load import load_contract
from frontdoor.http.fields import field_lines
from frontdoor.http.h1 import RequestHead
from frontdoor.http.headers import split_fields
from frontdoor.plan import Plan, compile_plan
from frontdoor.policy.admission import Admission, Denial

from .harness import ContractSpec
from .idp import API_KEYS, IdentityProvider, access_contract
from .test_keys import Clock

NOW = 1_900_000_000.0


def plan_for(root: Path, spec: ContractSpec) -> Plan:
    result = load_contract(spec.write(root))
    errors = [f.render() for f in result.findings if f.severity == "error"]
    assert not errors, errors
    return compile_plan(result.contract, "dev")


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    source = IdentityProvider.with_keys()
    source.issuer = "http://127.0.0.1:9400/"
    return source


@pytest.fixture(scope="module")
def plan(idp: IdentityProvider, tmp_path_factory: pytest.TempPathFactory) -> Plan:
    root = tmp_path_factory.mktemp("access")
    return plan_for(root / "contract", ContractSpec(shop=[(9, 1)], **access_contract(idp, root)))


class Setup:
    def __init__(self, plan: Plan, idp: IdentityProvider) -> None:
        self.idp = idp
        self.plan = plan
        self.clock = Clock(NOW)
        self.keys_clock = Clock()
        self.stage = AccessStage(
            plan, clock=self.clock, get_json=idp.get_json, keys_clock=self.keys_clock, fetch_keys=False
        )
        for keyset in self.stage.keysets:
            future = keyset.refresh()
            assert future is not None
            future.result(5)

    def admission(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        seen: SeenToken | None = None,
    ) -> Admission:
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or ())
        fields = [(n.encode(), v.encode()) for n, v in pairs]
        head = RequestHead(method, path, "1.1", fields, "shop.test", None, False, True)
        if seen is not None:  # a connection's request: its fields sorted as RequestReader sorts them
            head.plain, head.special = split_fields(fields)
        route = next(r for _, r in self.plan.routes() if path.startswith(r.path.path) and r.allows(method))
        return Admission(head, route, method, path, "127.0.0.1", (), 0.0, seen)

    def check(
        self, method: str, path: str, headers: Any = None, seen: SeenToken | None = None
    ) -> tuple[Denial | None, Admission]:
        admission = self.admission(method, path, headers, seen)
        verdict = self.stage.check(admission)
        assert verdict is None or isinstance(verdict, Denial), "only an unknown key may wait"
        return verdict, admission

    def token(self, **claims: Any) -> str:
        return self.idp.token(**{"iat": int(NOW), "exp": int(NOW) + 300, **claims})

    def bearer(self, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**claims)}"}


@pytest.fixture
def setup(plan: Plan, idp: IdentityProvider) -> Setup:
    return Setup(plan, idp)


def challenge(denial: Denial | None) -> list[str]:
    assert denial is not None
    return [v.decode() for n, v in denial.headers if n == b"www-authenticate"]


def test_public_routes_need_nothing_and_tell_the_upstream_nothing(setup: Setup) -> None:
    denial, admission = setup.check("GET", "/public", setup.bearer())
    assert denial is None and admission.upstream_headers is None and admission.subject is None


def test_no_credentials_gets_a_challenge_without_an_error(setup: Setup) -> None:
    denial, _ = setup.check("GET", "/me")
    assert denial is not None and denial.status == 401
    assert challenge(denial) == ['Bearer realm="edge"']
    assert denial.rule == "access: authenticated (no token)"


@pytest.mark.parametrize("value", ["Basic YWxpY2U6c2VjcmV0", "Bearertoken", "Negotiate abc"])
def test_another_scheme_is_no_bearer_token(setup: Setup, value: str) -> None:
    denial, _ = setup.check("GET", "/me", {"Authorization": value})
    assert denial is not None and denial.status == 401 and challenge(denial) == ['Bearer realm="edge"']


@pytest.mark.parametrize(
    "value", ["Bearer", "Bearer ", "Bearer a b", "Bearer not-a-jwt", "Bearer a.b.c", 'Bearer "quoted"']
)
def test_a_malformed_bearer_token_is_invalid(setup: Setup, value: str) -> None:
    denial, _ = setup.check("GET", "/me", {"Authorization": value})
    assert denial is not None and denial.status == 401
    assert challenge(denial) == ['Bearer realm="edge", error="invalid_token"']


def test_the_scheme_is_case_insensitive_and_spaces_are_tolerated(setup: Setup) -> None:
    denial, admission = setup.check("GET", "/me", {"Authorization": "bEaReR   " + setup.token()})
    assert denial is None and admission.subject == "alice"


def test_two_authorization_headers_are_refused(setup: Setup) -> None:
    token = setup.token()
    denial, _ = setup.check(
        "GET", "/me", [("Authorization", f"Bearer {token}"), ("authorization", f"Bearer {token}")]
    )
    assert denial is not None and denial.status == 401 and "more than one" in denial.reason


def test_a_valid_token_sets_the_identity_and_the_upstream_headers(setup: Setup) -> None:
    denial, admission = setup.check("GET", "/orders/7", setup.bearer(scope="orders:read profile"))
    assert denial is None
    assert admission.subject == "alice" and admission.issuer == setup.idp.issuer
    assert admission.scopes == {"orders:read", "profile"} and admission.api_client is None
    assert list(admission.upstream_headers or ()) == [
        (b"x-frontdoor-issuer", setup.idp.issuer.encode()),
        (b"x-frontdoor-subject", b"alice"),
        (b"x-frontdoor-scopes", b"orders:read profile"),
    ]
    assert admission.upstream_head == (  # the same fields as the lines serve forwards
        b"x-frontdoor-issuer: %b\r\nx-frontdoor-subject: alice\r\nx-frontdoor-scopes: orders:read profile\r\n"
        % setup.idp.issuer.encode()
    )


def test_every_scope_is_required(setup: Setup) -> None:
    denial, admission = setup.check("POST", "/orders", setup.bearer(scope="orders:read"))
    assert denial is not None and denial.status == 403
    assert challenge(denial) == [
        'Bearer realm="edge", error="insufficient_scope", scope="orders:read orders:write"'
    ]
    assert admission.upstream_headers is None and admission.subject is None
    denial, _ = setup.check("POST", "/orders", setup.bearer(scope="orders:write orders:read"))
    assert denial is None


@pytest.mark.parametrize(
    ("roles", "allowed"),
    [
        ("admin", True),
        (["user", "admin"], True),
        (["user"], False),
        ("administrator", False),
        (["adm", "in"], False),
        (None, False),
    ],
)
def test_claims_match_by_equality_or_list_membership(setup: Setup, roles: Any, allowed: bool) -> None:
    denial, _ = setup.check("GET", "/admin", setup.bearer(roles=roles))
    if allowed:
        assert denial is None
    else:
        assert denial is not None and denial.status == 403
        assert challenge(denial) == ['Bearer realm="edge", error="insufficient_scope"']
        assert "admin" not in denial.reason  # the required claim values are not told to the caller


@pytest.mark.parametrize(
    ("claims", "allowed"),
    [
        ({"tier": 2, "beta": True}, True),
        ({"tier": [1, 2], "beta": [True]}, True),
        ({"tier": "2", "beta": True}, False),  # a string is not a number
        ({"tier": 2, "beta": 1}, False),  # 1 is not true
        ({"tier": True, "beta": True}, False),
        ({"tier": 2}, False),
    ],
)
def test_claim_types_are_kept_apart(setup: Setup, claims: dict[str, Any], allowed: bool) -> None:
    # claims are only kept for names some route uses: tier and beta are
    denial, _ = setup.check("GET", "/tier", setup.bearer(**claims))
    assert (denial is None) is allowed


def test_an_expired_token_is_refused_by_the_injected_clock(setup: Setup) -> None:
    headers = setup.bearer()
    assert setup.check("GET", "/me", headers)[0] is None
    setup.clock.now = NOW + 300 + 30
    denial, _ = setup.check("GET", "/me", headers)
    assert denial is not None and denial.status == 401 and "expired" in denial.reason


# --- API clients -------------------------------------------------------------------------------------


def test_api_keys(setup: Setup) -> None:
    denial, admission = setup.check("GET", "/batch", {"X-Api-Key": API_KEYS["billing"]})
    assert denial is None and admission.api_client == "billing"
    assert list(admission.upstream_headers or ()) == [(b"x-frontdoor-client", b"billing")]
    # a hash stored in capitals with a newline still matches
    assert setup.check("GET", "/partners", {"X-Api-Key": API_KEYS["partner"]})[0] is None

    refused, _ = setup.check("GET", "/batch", {"X-Api-Key": API_KEYS["partner"]})
    assert refused is not None and refused.status == 403 and refused.headers == ()

    for headers in ({"X-Api-Key": "guess"}, {"X-Api-Key": ""}, [("X-Api-Key", API_KEYS["billing"])] * 2):
        unknown, _ = setup.check("GET", "/batch", headers)
        assert unknown is not None and unknown.status == 401
        assert challenge(unknown) == ['ApiKey realm="edge", header="X-Api-Key"']

    missing, _ = setup.check("GET", "/batch", setup.bearer())  # a token is not an API key
    assert missing is not None and missing.status == 401


def test_an_api_key_is_no_user(setup: Setup) -> None:
    denial, _ = setup.check("GET", "/me", {"X-Api-Key": API_KEYS["billing"]})
    assert denial is not None and denial.status == 401 and challenge(denial) == ['Bearer realm="edge"']


def test_a_route_with_clients_and_scopes_needs_both(setup: Setup) -> None:
    key = {"X-Api-Key": API_KEYS["billing"]}
    nothing, _ = setup.check("GET", "/mixed")
    assert nothing is not None and nothing.status == 401
    assert challenge(nothing) == ['ApiKey realm="edge", header="X-Api-Key"', 'Bearer realm="edge"']
    only_key, _ = setup.check("GET", "/mixed", key)
    assert only_key is not None and only_key.status == 401 and challenge(only_key) == ['Bearer realm="edge"']
    only_token, _ = setup.check("GET", "/mixed", setup.bearer())
    assert only_token is not None and only_token.status == 401
    both, admission = setup.check("GET", "/mixed", {**key, **setup.bearer()})
    assert both is None and admission.api_client == "billing" and admission.subject == "alice"
    assert [n for n, _ in admission.upstream_headers or ()] == [
        b"x-frontdoor-client",
        b"x-frontdoor-issuer",
        b"x-frontdoor-subject",
        b"x-frontdoor-scopes",
    ]
    assert admission.upstream_head == field_lines(admission.upstream_headers or ())


def test_an_unreadable_key_hash_stops_the_stage_naming_the_reference(
    idp: IdentityProvider, tmp_path: Path
) -> None:
    fields = access_contract(idp, tmp_path)
    fields["secrets"]["billing-key"] = "env:FRONTDOOR_TEST_UNSET_HASH"
    plan = plan_for(tmp_path / "contract", ContractSpec(shop=[(9, 1)], **fields))
    with pytest.raises(ApiClientError, match=r"billing.*secret:billing-key.*FRONTDOOR_TEST_UNSET_HASH"):
        AccessStage(plan, fetch_keys=False)
    (tmp_path / "billing.sha256").write_text("not-a-digest-but-a-secret-value")
    fields["secrets"]["billing-key"] = f"file:{tmp_path / 'billing.sha256'}"
    plan = plan_for(tmp_path / "contract", ContractSpec(shop=[(9, 1)], **fields))
    with pytest.raises(ApiClientError, match="SHA-256") as error:
        AccessStage(plan, fetch_keys=False)
    assert "not-a-digest" not in str(error.value)


# --- waiting for keys --------------------------------------------------------------------------------


async def _gather(verdicts: list[Any]) -> list[Denial | None]:
    return list(await asyncio.gather(*(v for v in verdicts)))


def test_an_unknown_kid_waits_for_one_shared_refresh(plan: Plan) -> None:
    source = IdentityProvider.with_keys()
    source.issuer = "http://127.0.0.1:9400/"
    setup = Setup(plan, source)
    source.rotate("rsa-2")
    source.fetches.clear()
    source.gate = threading.Event()  # the provider answers once every request has asked
    headers = setup.bearer(kid="rsa-2")
    admissions = [setup.admission("GET", "/me", headers) for _ in range(20)]
    verdicts = [setup.stage.check(a) for a in admissions]
    assert all(isinstance(v, Awaitable) for v in verdicts)
    source.gate.set()
    assert asyncio.run(_gather(verdicts)) == [None] * 20
    assert source.fetches["/keys"] == 1
    assert all(a.subject == "alice" for a in admissions)
    # now cached: no waiting; a second unknown kid within 30 s is refused at once, without a fetch
    assert setup.stage.check(setup.admission("GET", "/me", headers)) is None
    source.rotate("rsa-3")
    denial = setup.stage.check(setup.admission("GET", "/me", setup.bearer(kid="rsa-3")))
    assert isinstance(denial, Denial) and denial.status == 401 and "signing key" in denial.reason
    assert source.fetches["/keys"] == 1
    setup.keys_clock.now += 30
    later = setup.stage.check(setup.admission("GET", "/me", setup.bearer(kid="rsa-3")))
    assert isinstance(later, Awaitable) and asyncio.run(_gather([later])) == [None]
    assert source.fetches["/keys"] == 2


def test_an_unknown_kid_during_an_outage_is_a_401(plan: Plan) -> None:
    source = IdentityProvider.with_keys()
    source.issuer = "http://127.0.0.1:9400/"
    setup = Setup(plan, source)
    known = setup.bearer()
    source.status = 503
    source.rotate("rsa-2")
    verdict = setup.stage.check(setup.admission("GET", "/me", setup.bearer(kid="rsa-2")))
    assert isinstance(verdict, Awaitable)
    [denial] = asyncio.run(_gather([verdict]))
    assert denial is not None and denial.status == 401
    assert setup.stage.check(setup.admission("GET", "/me", known)) is None  # the held keys keep working


def test_the_fetched_digest_of_a_key_is_never_the_key() -> None:
    # the stored value is the SHA-256 of the key, so reading the contract's secrets never reveals a key
    assert hashlib.sha256(API_KEYS["billing"].encode()).hexdigest() != API_KEYS["billing"]


def test_a_repeated_token_is_not_verified_again(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = setup.bearer(scope="orders:read")
    assert setup.check("GET", "/orders", headers)[0] is None
    assert len(setup.stage.tokens) == 1

    def verify_again(*args: object) -> None:
        raise AssertionError("a cached token was verified again")

    bob = setup.bearer(scope="orders:read", sub="bob")
    assert setup.check("GET", "/orders", bob)[0] is None
    monkeypatch.setattr(setup.stage.tokens, "verify", verify_again)
    denial, admission = setup.check("GET", "/orders", headers)
    assert denial is None and admission.subject == "alice"
    # each token's own identity lines, made when it was verified
    assert b"x-frontdoor-subject: alice\r\n" in admission.upstream_head
    assert b"x-frontdoor-subject: bob\r\n" in setup.check("GET", "/orders", bob)[1].upstream_head
    # the cache decides identity, each route still decides what is enough
    refused, _ = setup.check("POST", "/orders", headers)
    assert refused is not None and refused.status == 403


# --- the connection's last token (SeenToken) ---------------------------------------------------------


def test_a_connection_sending_its_token_again_is_not_even_hashed(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = SeenToken()
    headers = setup.bearer(scope="orders:read")
    first, admission = setup.check("GET", "/orders", headers, seen)
    assert first is None and seen.verified is not None and seen.value == headers["Authorization"].encode()

    def no_hash(data: bytes) -> Any:
        raise AssertionError("the connection's last token was hashed again")

    monkeypatch.setattr("frontdoor.access.stage.sha256", no_hash)
    again, admission = setup.check("GET", "/orders", headers, seen)
    assert again is None and admission.subject == "alice" and admission.scopes == {"orders:read"}
    assert (
        admission.upstream_headers is not None
        and (b"x-frontdoor-subject", b"alice") in admission.upstream_headers
    )
    # what the route needs is still decided for each request
    refused, _ = setup.check("POST", "/orders", headers, seen)
    assert refused is not None and refused.status == 403


def test_another_token_on_the_same_connection_is_decided_on_its_own(setup: Setup) -> None:
    seen = SeenToken()
    assert setup.check("GET", "/orders", setup.bearer(scope="orders:read"), seen)[0] is None
    short, _ = setup.check("GET", "/orders", setup.bearer(scope="profile"), seen)
    assert short is not None and short.status == 403
    forged = setup.token(scope="orders:read")[:-4] + "AAAA"
    invalid, _ = setup.check("GET", "/orders", {"Authorization": f"Bearer {forged}"}, seen)
    assert invalid is not None and invalid.status == 401
    other, admission = setup.check("GET", "/orders", setup.bearer(scope="orders:read", sub="bob"), seen)
    assert other is None and admission.subject == "bob"


def test_a_route_a_remembered_token_was_enough_for_is_still_decided_by_route_and_token(setup: Setup) -> None:
    seen = SeenToken()
    reader = setup.bearer(scope="orders:read")
    for _ in range(3):  # the third is answered from what the connection remembers for this route
        allowed, admission = setup.check("GET", "/orders", reader, seen)
        assert allowed is None and admission.subject == "alice" and admission.scopes == {"orders:read"}
        assert admission.upstream_head and admission.upstream_headers is not None
    assert seen.allowed is not None
    refused, _ = setup.check("POST", "/orders", reader, seen)  # another route: its own requirements
    assert refused is not None and refused.status == 403
    short = setup.bearer(scope="profile")
    for _ in range(2):  # another token on the same connection: never the last one's answer
        denial, _ = setup.check("GET", "/orders", short, seen)
        assert denial is not None and denial.status == 403
    assert setup.check("GET", "/orders", reader, seen)[0] is None
    setup.clock.now = NOW + 300 + 30
    expired, _ = setup.check("GET", "/orders", reader, seen)  # still checked for expiry every time
    assert expired is not None and expired.status == 401


def test_the_connection_s_last_token_expires_like_a_cached_one(setup: Setup) -> None:
    seen = SeenToken()
    headers = setup.bearer()
    assert setup.check("GET", "/me", headers, seen)[0] is None
    setup.clock.now = NOW + 300 + 30
    denial, _ = setup.check("GET", "/me", headers, seen)
    assert denial is not None and denial.status == 401 and "expired" in denial.reason


def count_verifications(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The tokens the stage verifies from now on (its signature checked, not found remembered)."""
    verified: list[bytes] = []
    verify = setup.stage.tokens.verify

    def counted(token: bytes, digest: bytes, now: float) -> Any:
        verified.append(token)
        return verify(token, digest, now)

    monkeypatch.setattr(setup.stage.tokens, "verify", counted)
    return verified


def test_the_connection_s_last_token_is_verified_again_after_a_key_fetch(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = SeenToken()
    headers = setup.bearer()
    assert setup.check("GET", "/me", headers, seen)[0] is None
    for keyset in setup.stage.keysets:  # the provider's keys fetched anew: other objects, maybe other keys
        keyset.keys = {kid: copy.copy(key) for kid, key in keyset.keys.items()}
    verified = count_verifications(setup, monkeypatch)
    assert setup.check("GET", "/me", headers, seen)[0] is None
    assert setup.check("GET", "/me", headers, seen)[0] is None
    assert len(verified) == 1


def test_a_reloaded_stage_believes_nothing_a_connection_remembers(
    plan: Plan, idp: IdentityProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, seen = Setup(plan, idp), SeenToken()
    headers = before.bearer()
    assert before.check("GET", "/me", headers, seen)[0] is None
    after = Setup(plan, idp)  # what a reload builds: a stage, and a verifier, of its own
    verified = count_verifications(after, monkeypatch)
    assert after.check("GET", "/me", headers, seen)[0] is None
    assert len(verified) == 1 and seen.verifier is after.stage.tokens


def test_a_provider_that_does_not_answer_in_time_is_a_401(
    plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    import frontdoor.access.stage as stage_module

    monkeypatch.setattr(stage_module, "REFRESH_WAIT_S", 0.2)
    source = IdentityProvider.with_keys()
    source.issuer = "http://127.0.0.1:9400/"
    setup = Setup(plan, source)
    source.rotate("rsa-2")
    source.gate = threading.Event()  # the key fetch hangs until the end of the test
    try:
        verdict = setup.stage.check(setup.admission("GET", "/me", setup.bearer(kid="rsa-2")))
        assert isinstance(verdict, Awaitable)
        [denial] = asyncio.run(_gather([verdict]))
        assert denial is not None and denial.status == 401 and "signing key" in denial.reason
        # the hanging fetch is still the one in flight: the next request joins it, starts no other
        again = setup.stage.check(setup.admission("GET", "/me", setup.bearer(kid="rsa-2", sub="bob")))
        assert isinstance(again, Awaitable)
        assert [d.status for d in asyncio.run(_gather([again])) if d] == [401]
        assert source.fetches["/keys"] == 2  # the start, and the one unknown-key fetch
    finally:
        source.gate.set()
