"""A browser's session behind Envoy Gateway (target ``gateway-api``). First the envoy dialect's answer,
byte for byte, with a stand-in stage; then the real authz (envoy dialect, the real access stage, a
sealed session) on a real socket, asked as the rendered SecurityPolicy says, and its answer applied to
the upstream request as Envoy documents its HTTP ext_authz service:

- the check carries the client's headers ``headersToExtAuth`` names (Envoy always adds Authorization,
  the method, path and host; Envoy Gateway's ``headersToExtAuth`` is the filter's ``allowed_headers``);
- on a 200, each answer header ``headersToBackend`` names replaces the request's header of that name
  (Envoy Gateway's ``headersToBackend`` is ``allowed_upstream_headers``, applied with ``setCopy``);
- on a 200, the headers named in ``x-envoy-auth-headers-to-remove`` (comma separated) are removed from
  the upstream request, whatever ``headersToBackend`` says (``OkHttpResponse.headers_to_remove``).

Envoy itself is not run here (no binary in this environment): this is its documented behaviour, and
the rendered objects are checked against Envoy Gateway's CRD in tests/test_render.py."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from frontdoor.authz.answers import allow
from frontdoor.authz.decide import Checker, Outcome
from frontdoor.authz.runtime import AuthzRuntime
from frontdoor.authz.service import AuthzService
from frontdoor.contract.load import load_contract
from frontdoor.contract.models import Timeouts
from frontdoor.contract.values import parse_listen
from frontdoor.demo.documents import join, service
from frontdoor.http.h1 import Limits
from frontdoor.observe.accesslog import AccessLog
from frontdoor.plan import Plan, compile_plan, load_plan
from frontdoor.policy.pipeline import Pipeline
from frontdoor.render import RenderOptions, render

from .authz_support import AccessContract
from .harness import ContractSpec, free_port
from .idp import IdentityProvider
from .test_authz import Refreshing, _exchange, head
from .test_signin_stage import COOKIE_KEY, OLD_KEY, Setup, login_yaml

Fields = list[tuple[str, str]]


# --- the envoy dialect's answer -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    contract = AccessContract(idp_port=free_port(), upstream_port=free_port())
    return load_plan(contract.write(tmp_path_factory.mktemp("authz") / "contract"), "dev")


def _envoy_allow(plan: Plan, **headers: str) -> bytes:
    checker = Checker(plan, Pipeline([Refreshing()]), dialect="envoy", path_prefix="/auth")
    outcome = checker.check(head("/auth/shop", Host="shop.test", **headers), "127.0.0.1", True)
    assert isinstance(outcome, Outcome) and outcome.status == 200
    return allow(outcome, close=False)


def _fields(answer: bytes) -> list[tuple[bytes, bytes]]:
    lines = answer.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]
    return [(n.lower(), v.strip()) for n, _, v in (line.partition(b":") for line in lines)]


def test_envoy_is_given_the_cookies_without_the_session_or_told_to_remove_the_header(plan: Plan) -> None:
    # other cookies left: the answer's Cookie, which Envoy sets in place of the request's (headersToBackend)
    answer = _envoy_allow(
        plan, Cookie="theme=dark; frontdoor-session-p=old; frontdoor-session-p.1=old1; lang=en"
    )
    assert [v for n, v in _fields(answer) if n == b"cookie"] == [b"theme=dark; lang=en"]
    assert b"old" not in answer and b"x-envoy-auth-headers-to-remove" not in answer
    # only the session: Envoy would keep a header the answer does not name, so it is told to remove it
    answer = _envoy_allow(plan, Cookie="frontdoor-session-p=old")
    assert b"\r\ncookie:" not in answer and b"old" not in answer
    assert [v for n, v in _fields(answer) if n == b"x-envoy-auth-headers-to-remove"] == [b"cookie"]
    # nothing gateway-owned: given back as it came
    answer = _envoy_allow(plan, Cookie="theme=dark")
    assert [v for n, v in _fields(answer) if n == b"cookie"] == [b"theme=dark"]
    # no Cookie at all: nothing to say about it
    answer = _envoy_allow(plan)
    assert not [n for n, _ in _fields(answer) if n in (b"cookie", b"x-envoy-auth-headers-to-remove")]


def test_a_client_cannot_make_the_envoy_answer_say_more_than_its_filtered_cookie(plan: Plan) -> None:
    """Envoy acts on x-envoy-auth-headers-to-remove whatever headersToBackend lists, and copies any answer
    header headersToBackend names: the answer must carry nothing of the check request but the Cookie."""
    hostile = {
        "Cookie": "a=1; x-envoy-auth-headers-to-remove=authorization; frontdoor-session-p=old",
        "X_Envoy_Auth_Headers_To_Remove": "authorization, x-frontdoor-subject",
        "X_Frontdoor_Subject": "admin",
        "Authorization": "Basic Zm9vOmJhcg==",
    }
    fields = _fields(_envoy_allow(plan, **hostile))
    # the cookie's value is the client's own, in the one field Envoy copies: it cannot add a header
    assert [v for n, v in fields if n == b"cookie"] == [b"a=1; x-envoy-auth-headers-to-remove=authorization"]
    assert not [n for n, _ in fields if n == b"x-envoy-auth-headers-to-remove"]
    assert (b"x-frontdoor-subject", b"") in fields and b"admin" not in b"".join(v for _, v in fields)
    assert b"Zm9v" not in b"".join(v for _, v in fields)
    # every other line is the gateway's own: its length, the identity, the stage's lines
    names = {n for n, _ in fields}
    assert names == {
        b"content-length",
        b"x-frontdoor-subject",
        b"x-frontdoor-scopes",
        b"x-frontdoor-client",
        b"x-frontdoor-issuer",
        b"set-cookie",
        b"ratelimit-remaining",
        b"cookie",
    }
    # a value cannot end its line: the parser refuses CR, LF, a folded line and NUL in a header value
    for raw in (b"a=1\rx: y", b"a=1\nx: y", b"a=1\r\n x: y", b"a=1\x00"):
        data = b"GET /auth/shop HTTP/1.1\r\nHost: shop.test\r\nCookie: " + raw + b"\r\n\r\n"
        runtime = AuthzRuntime(
            plan,
            Checker(plan, Pipeline([Refreshing()]), dialect="envoy", path_prefix="/auth"),
            Limits(),
            Timeouts(),
        )
        assert asyncio.run(_exchange(runtime, data, 1)) == [b"400"]


# --- a real authz, asked and obeyed as Envoy documents it ----------------------------------------------------


class Envoy:
    """Envoy's HTTP ext_authz, as documented, in front of the authz on ``port``, configured by the
    rendered SecurityPolicy ``policy``."""

    def __init__(self, policy: dict[str, Any], port: int) -> None:
        ext = policy["spec"]["extAuth"]
        self.to_authz = set(ext["headersToExtAuth"]) | {"authorization"}
        self.to_backend = set(ext["http"]["headersToBackend"])
        self.prefix = ext["http"]["path"]
        self.port = port

    def upstream(self, path: str, client: Fields) -> tuple[int, Fields]:
        """The status of the check, and the headers the upstream request goes with when it is 200."""
        check = [(n, v) for n, v in client if n.lower() in self.to_authz]
        status, answer = asyncio.run(self._ask(path, check))
        if status != 200:
            return status, []
        headers = list(client)
        for name, value in answer:
            if name in self.to_backend:  # setCopy: every field of that name replaced by this one
                headers = [(n, v) for n, v in headers if n.lower() != name] + [(name, value)]
        removed = {
            n.strip().lower()
            for name, value in answer
            if name == "x-envoy-auth-headers-to-remove"
            for n in value.split(",")
            if n.strip()
        }
        return status, [(n, v) for n, v in headers if n.lower() not in removed]

    async def _ask(self, path: str, check: Fields) -> tuple[int, Fields]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        lines = [f"GET {self.prefix}{path} HTTP/1.1", "Host: shop.test", "Content-Length: 0"]
        lines += [f"{n}: {v}" for n, v in check]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status = int((await asyncio.wait_for(reader.readline(), 5)).split(b" ")[1])
        fields: Fields = []
        while (line := await reader.readline()) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            fields.append((name.strip().lower(), value.strip()))
        length = next((int(v) for n, v in fields if n == "content-length"), 0)
        await reader.readexactly(length)
        writer.close()
        return status, fields


class Site:
    """The contract rendered for gateway-api, and the authz for it on a real socket."""

    def __init__(self, root: Path, idp: IdentityProvider) -> None:
        (root / "web-secret").write_text("s3cret")
        (root / "cookie-key").write_text(COOKIE_KEY)
        (root / "old-key").write_text(OLD_KEY)
        spec = ContractSpec(
            shop=[(8080, 1)],
            services=join(
                service("shop", "shop", "- {path: /app, access: {login: idp}}"),
                service("other", "shop", "- {path: /other, access: public}"),
            ),
            identity=f"{{providers: [{idp.provider_yaml(login=login_yaml())}]}}",
            secrets={n: f"file:{root / n}" for n in ("web-secret", "cookie-key", "old-key")},
        )
        directory = spec.write(root / "contract")
        # an address a cluster can reach (the render refuses loopback); no request goes upstream here
        env = directory / "env.yaml"
        env.write_text(env.read_text().replace("127.0.0.1", "10.0.0.7"))
        result = load_contract(directory)
        assert result.valid, [f.render() for f in result.findings]
        files = render(result.contract, "dev", "gateway-api", RenderOptions())
        docs = [d for text in files.values() for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        (self.policy,) = [
            d
            for d in docs
            if d.get("kind") == "SecurityPolicy"
            and "extAuth" in d["spec"]
            and any(ref["name"] == "shop" for ref in d["spec"]["targetRefs"])
        ]
        self.setup = Setup(compile_plan(result.contract, "dev"), idp)

    def session(self) -> str:
        return self.setup.session_cookie()

    def through_envoy(self, client: Fields) -> tuple[int, Fields]:
        plan = self.setup.plan
        checker = Checker(plan, Pipeline([self.setup.stage]), dialect="envoy", path_prefix="/auth")
        runtime = AuthzRuntime(plan, checker, Limits(), Timeouts())
        port = free_port()

        async def serve() -> AuthzService:
            service = AuthzService(asyncio.get_running_loop(), runtime, AccessLog(None))
            await service.start(parse_listen(f"127.0.0.1:{port}"))
            return service

        # the authz in its own loop, in a thread, so that the Envoy model's blocking calls can reach it
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        service = asyncio.run_coroutine_threadsafe(serve(), loop).result(5)
        try:
            return Envoy(self.policy, port).upstream("/app", client)
        finally:
            asyncio.run_coroutine_threadsafe(service.drain(1), loop).result(5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    idp = IdentityProvider.with_keys()
    idp.issuer = "http://127.0.0.1:9400/"
    return Site(tmp_path_factory.mktemp("envoy-cookie"), idp)


def cookies(headers: Fields) -> list[str]:
    return [v for n, v in headers if n.lower() == "cookie"]


def test_the_rendered_policy_asks_with_the_cookie_and_copies_the_answers_back(site: Site) -> None:
    ext = site.policy["spec"]["extAuth"]
    assert "cookie" in ext["headersToExtAuth"] and "cookie" in ext["http"]["headersToBackend"]


def test_the_upstream_gets_the_browsers_cookies_without_the_session(site: Site) -> None:
    status, upstream = site.through_envoy([("Cookie", f"theme=dark; {site.session()}; lang=en")])
    assert status == 200
    assert cookies(upstream) == ["theme=dark; lang=en"]
    assert ("x-frontdoor-subject", "alice") in upstream


def test_the_upstream_gets_no_cookie_when_the_session_was_the_only_one(site: Site) -> None:
    # two Cookie fields, as an HTTP/1.1 client may send them: Envoy would keep any the answer left alone
    status, upstream = site.through_envoy([("Cookie", site.session()), ("Cookie", "frontdoor-other=1")])
    assert status == 200
    assert cookies(upstream) == [] and ("x-frontdoor-subject", "alice") in upstream


def test_a_client_cannot_have_envoy_remove_or_set_anything_else(site: Site) -> None:
    client = [
        ("Cookie", f"{site.session()}; x=1"),
        ("X-Envoy-Auth-Headers-To-Remove", "x-frontdoor-subject"),  # not passed to the check at all
        ("X-Frontdoor-Subject", "admin"),  # replaced by the answer's (and removed first by the Gateway)
        ("X-Kept", "yes"),
    ]
    status, upstream = site.through_envoy(client)
    assert status == 200
    assert cookies(upstream) == ["x=1"]
    assert [v for n, v in upstream if n.lower() == "x-frontdoor-subject"] == ["alice"]
    assert ("X-Kept", "yes") in upstream


def test_without_a_session_the_browser_is_sent_to_sign_in_and_nothing_goes_upstream(site: Site) -> None:
    # the authz tells a browser by its Accept, which Envoy passes on only when headersToExtAuth names it
    status, upstream = site.through_envoy([("Cookie", "theme=dark"), ("Accept", "text/html")])
    assert status == 302 and upstream == []
    status, upstream = site.through_envoy([("Cookie", "theme=dark"), ("Accept", "application/json")])
    assert status == 401 and upstream == []
