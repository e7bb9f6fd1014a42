"""The ``nginx`` target with a real nginx: the rendered configuration passes ``nginx -t`` (TLS
included), nginx routes to real demo upstreams as the contract says, asking the authz on every
request through ``auth_request``, and the parity table of `serve` and `authz` (parity_cases.py) gets
the same decisions through nginx in front of a real `frontdoor authz` as from `frontdoor serve`."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import trustme

from frontdoor.cli import build_parser
from frontdoor.contract.load import load_contract
from frontdoor.render import RenderOptions, render
from frontdoor.render.authz_api import NGINX_DENY_STATUS

from .authz_support import AccessContract, process_env, start_authz, start_idp, start_serve
from .harness import SERVICES, ContractSpec, Gateway, Upstreams, free_port, request
from .parity_cases import ALL_CASES, Case, upstream_identity

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-packages.sh)")


def _has_authz() -> bool:
    import argparse

    parser = build_parser()
    return any(
        isinstance(action, argparse._SubParsersAction) and "authz" in action.choices
        for action in parser._actions
    )


def render_conf(contract: Path, authz_port: int, folder: Path) -> Path:
    result = load_contract(contract)
    assert result.valid, result.findings
    files = render(result.contract, "dev", "nginx", RenderOptions(authz_url=f"http://127.0.0.1:{authz_port}"))
    conf = folder / "nginx.conf"
    conf.write_text(files["nginx.conf"])
    return conf


def nginx_args(folder: Path, conf: Path, *extra: str) -> list[str]:
    assert NGINX is not None
    return [
        NGINX,
        "-p",
        str(folder),
        "-c",
        str(conf),
        "-e",
        "stderr",
        "-g",
        f"pid {folder}/nginx.pid;",
        *extra,
    ]


def test_nginx_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    contract = ContractSpec(shop=[(free_port(), 3), (free_port(), 0)], tls=(cert_file, key_file, "1.3"))
    conf = render_conf(contract.write(tmp_path / "contract"), free_port(), tmp_path)
    text = conf.read_text()
    assert "ssl_protocols TLSv1.3;" in text and "down;" in text  # weight 0: no traffic
    check = subprocess.run(
        nginx_args(tmp_path, conf, "-t"), capture_output=True, text=True, timeout=30, check=False
    )
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr


def test_nginx_refuses_a_broken_configuration(tmp_path: Path) -> None:
    """The check above can fail: the same configuration with a typo does not pass."""
    conf = render_conf(
        ContractSpec(shop=[(free_port(), 1)]).write(tmp_path / "contract"), free_port(), tmp_path
    )
    conf.write_text(conf.read_text().replace("auth_request ", "auth_requets ", 1))
    check = subprocess.run(
        nginx_args(tmp_path, conf, "-t"), capture_output=True, text=True, timeout=30, check=False
    )
    assert check.returncode != 0


class Nginx:
    def __init__(self, folder: Path, conf: Path, port: int) -> None:
        self.process = subprocess.Popen(
            nginx_args(folder, conf, "-g", "daemon off;"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                assert self.process.stdout is not None
                raise RuntimeError(f"nginx exited: {self.process.stdout.read().decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start listening")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def upstreams() -> Iterator[Upstreams]:
    pool = Upstreams()
    yield pool
    pool.close()


#: the harness's services, with a route of "other" inside "/shop" that only POST reaches
FALLBACK_SERVICES = SERVICES.replace(
    "- {path: /other, access: public}",
    "- {path: /other, access: public}\n    - {path: =/shop/settle, methods: [POST], access: public}",
)


#: requests whose route, upstream path and denial nginx must get as serve does: (method, raw path)
ROUTING_REQUESTS = [
    ("GET", "/shop/item?x=1"),
    ("POST", "/shop/settle"),  # the exact route of "other"
    ("GET", "/shop/settle"),  # falls back to "/shop"
    ("PUT", "/shop/settle/"),  # "=" is exact: "/shop"
    ("GET", "/shop/./a/../b?q=%41"),
    ("GET", "/%73hop/%7Eme"),
    ("GET", "/strip/./a/b"),
    ("GET", "/strip"),
    ("GET", "/other"),
    ("GET", "/exact"),
    ("HEAD", "/exact"),
    ("DELETE", "/exact"),
    ("GET", "/exact/more"),
    ("GET", "/shopping"),
    ("GET", "/shop/7%01"),
    ("GET", "/shop/7%0A"),
    ("GET", "/shop/7%7f"),
    ("GET", "/shop/a%2Fb"),
]


def _seen(answer: tuple[int, dict[str, str], bytes], method: str) -> tuple[object, ...]:
    """What must be equal: the status, and the upstream's service and path, or the denial's JSON body
    (without the request id, which is each one's own) and its Allow."""
    status, headers, body = answer
    if status == 200 and method != "HEAD":
        echo = json.loads(body)
        return status, echo["service"].partition("-")[0], echo["path"]
    if status == 200:
        return (status,)
    error = json.loads(body)
    assert error.pop("request_id") == headers["x-request-id"]
    return status, error, headers.get("allow")


def test_nginx_routes_as_serve(tmp_path: Path, upstreams: Upstreams) -> None:
    """The rendered configuration with a real `frontdoor authz`, next to `frontdoor serve` on the same
    contract: the same route (a method falling back to a shorter path), upstream, normalized and stripped
    path, and the same denials with serve's JSON body; plus weights, spoofed identity headers removed,
    and nginx's own refusals."""
    heavy, light = upstreams.start("shop-a"), upstreams.start("shop-b")
    other = upstreams.start("other")
    spec = ContractSpec(
        shop=[(heavy, 3), (light, 1)], other=[other], services=FALLBACK_SERVICES, max_request_body="1MiB"
    )
    contract = spec.write(tmp_path / "contract")
    served = replace(spec, port=free_port(), admin_port=free_port())
    serve = Gateway(served.write(tmp_path / "serve"), served, tmp_path / "serve.log")
    authz, authz_port = start_authz(contract, dict(os.environ), tmp_path / "authz.log", "--dialect", "nginx")
    nginx = Nginx(tmp_path, render_conf(contract, authz_port, tmp_path), spec.port)
    try:
        for method, path in ROUTING_REQUESTS:
            expected = _seen(request(served.port, method, path), method)
            got = _seen(request(spec.port, method, path), method)
            assert got == expected, (method, path)
        assert _seen(request(spec.port, "POST", "/shop/settle"), "POST")[1] == "other"
        assert _seen(request(spec.port, "GET", "/shop/settle"), "GET")[1] == "shop"
        assert _seen(request(spec.port, "GET", "/%73hop/%7Eme"), "GET")[2] == "/shop/~me"
        status, _, body = request(spec.port, "GET", "/shop/item", {"X-Frontdoor-Subject": "admin"})
        echo = json.loads(body)
        assert "x-frontdoor-subject" not in echo["header_names"]  # the client's claim never arrives
        assert echo["headers"]["x-forwarded-for"] == "127.0.0.1"
        # refused by nginx itself, before the authz: serve's status, kind and JSON body
        for path, status, kind in [
            ("/shop/7%00", 400, "bad-request"),
            ("/_frontdoor/authz", 404, "no-route"),
            ("/_frontdoor/error/400", 404, "no-route"),
        ]:
            got_status, headers, body = request(spec.port, "GET", path)
            assert (got_status, headers.get("x-frontdoor-deny")) == (status, kind), path
            assert json.loads(body)["status"] == status and headers["content-type"] == "application/json"
        assert request(served.port, "GET", "/shop/7%00")[0] == 400
        status, headers, _ = request(spec.port, "POST", "/shop/big", body=b"x" * 2 * 1024 * 1024)
        assert (status, headers.get("x-frontdoor-deny")) == (413, "body-too-large")
        for _ in range(40):
            assert request(spec.port, "GET", "/shop")[0] == 200
        counts = {
            name: sum(1 for s in upstreams.states[p].seen if "/shop" in s)
            for name, p in (("heavy", heavy), ("light", light))
        }
        assert counts["heavy"] > counts["light"] > 0
    finally:
        nginx.stop()
        authz.stop()
        serve.stop()


class _AuthzProtocol(BaseHTTPRequestHandler):
    """Answers checks as docs/authz.md specifies for the nginx dialect, choosing the outcome from the
    original path alone, so that nginx's side of the protocol is tested outcome by outcome: a 200 with
    identity headers, the service and the upstream path, 401, and 403s naming their kind, each denial
    with its JSON body in X-Frontdoor-Body. The decisions themselves are the real authz's, tested in
    the other tests and by its own suite."""

    seen: ClassVar[list[tuple[str, str, str]]] = []
    OUTCOMES: ClassVar[dict[str, tuple[int, dict[str, str]]]] = {
        "/shop/allow": (
            200,
            {
                "X-Frontdoor-Subject": "alice",
                "X-Frontdoor-Scopes": "orders:read",
                "X-Frontdoor-Client": "",
                "X-Frontdoor-Issuer": "https://idp.example/",
                "X-Frontdoor-Service": "other",
                "X-Frontdoor-Path": "/chosen/by/authz",
            },
        ),
        "/shop/no-token": (
            401,
            {"WWW-Authenticate": 'Bearer realm="frontdoor"', "X-Frontdoor-Deny": "access"},
        ),
        "/shop/scope": (
            403,
            {"WWW-Authenticate": 'Bearer error="insufficient_scope"', "X-Frontdoor-Deny": "access"},
        ),
        "/shop/limited": (403, {"Retry-After": "3", "X-Frontdoor-Deny": "rate-limit"}),
        "/shop/method": (403, {"Allow": "GET, HEAD", "X-Frontdoor-Deny": "method-not-allowed"}),
        "/shop/unrouted": (403, {"X-Frontdoor-Deny": "no-route"}),
    }

    def do_GET(self) -> None:
        uri, method = self.headers["X-Original-URI"], self.headers["X-Original-Method"]
        self.seen.append((method, uri, self.headers["Host"]))
        status, headers = self.OUTCOMES[uri.partition("?")[0]]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 200:
            self.send_header("X-Frontdoor-Body", json.dumps({"kind": headers["X-Frontdoor-Deny"]}))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_nginx_speaks_the_authz_protocol(tmp_path: Path, upstreams: Upstreams) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AuthzProtocol)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], other=[upstreams.start("other")])
    conf = render_conf(spec.write(tmp_path / "contract"), server.server_address[1], tmp_path)
    nginx = Nginx(tmp_path, conf, spec.port)
    try:
        status, _, body = request(
            spec.port, "POST", "/shop/allow?q=1", {"X-Frontdoor-Client": "spoofed"}, b"{}"
        )
        assert status == 200
        echo = json.loads(body)
        assert echo["headers"]["x-frontdoor-subject"] == "alice"
        # the service and path the authz names, whatever nginx would have chosen; the client's query
        assert (echo["service"], echo["path"]) == ("other", "/chosen/by/authz?q=1")
        assert {"x-frontdoor-scopes", "x-frontdoor-issuer"} <= set(echo["header_names"])
        assert "x-frontdoor-client" not in echo["header_names"]  # empty in the answer: the spoof is gone
        # the original method, URI and host (nginx's $host: without the port) reach the check
        assert ("POST", "/shop/allow?q=1", "127.0.0.1") in _AuthzProtocol.seen
        for method, path, expected, kind in [
            ("GET", "/shop/no-token", 401, "access"),
            ("GET", "/shop/scope", 403, "access"),
            ("GET", "/shop/limited", 429, "rate-limit"),
            ("DELETE", "/shop/method", 405, "method-not-allowed"),
            ("GET", "/shop/unrouted", 404, "no-route"),
        ]:
            connection = http.client.HTTPConnection("127.0.0.1", spec.port, timeout=10)
            connection.request(method, path)
            response = connection.getresponse()
            body = response.read()
            connection.close()
            fields = response.getheaders()
            assert response.status == expected, path
            assert response.getheader("x-frontdoor-deny") == kind, path
            assert json.loads(body) == {"kind": kind}, path  # the authz's body, not nginx's page
            assert response.getheader("content-type") == "application/json", path
            sent = _AuthzProtocol.OUTCOMES[path][1]
            for name in ("WWW-Authenticate", "Retry-After", "Allow"):
                values = [v for n, v in fields if n.lower() == name.lower() and v]
                assert values == ([sent[name]] if name in sent else []), (path, name)
    finally:
        nginx.stop()
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(not _has_authz(), reason="frontdoor authz is not on this branch yet (issue: authz)")
def test_nginx_asks_the_real_authz(tmp_path: Path, upstreams: Upstreams) -> None:
    shop = upstreams.start("shop")
    spec = ContractSpec(shop=[(shop, 1)], other=[upstreams.start("other")])
    contract = spec.write(tmp_path / "contract")
    authz_port = free_port()
    authz = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "frontdoor",
            "authz",
            str(contract),
            "--env",
            "dev",
            "--listen",
            f"127.0.0.1:{authz_port}",
            "--dialect",
            "nginx",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if request(authz_port, "GET", "/readyz", timeout=1)[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        nginx = Nginx(tmp_path, render_conf(contract, authz_port, tmp_path), spec.port)
        try:
            assert request(spec.port, "GET", "/shop/x")[0] == 200  # public
            status, headers, _ = request(spec.port, "GET", "/private")  # authenticated, no token
            assert status == 401 and headers.get("www-authenticate", "").startswith("Bearer")
            status, headers, _ = request(spec.port, "POST", "/exact")  # a GET-only route
            assert status == 405 and "GET" in headers.get("allow", "")
        finally:
            nginx.stop()
    finally:
        authz.terminate()
        authz.wait(10)


@dataclass
class ParityStack:
    """`frontdoor serve` on one copy of the parity contract; nginx, rendered from another copy (its own
    port), in front of the same upstream and of `frontdoor authz --dialect nginx` on that copy."""

    contract: AccessContract  # serve's
    state: Path  # the identity provider's keys
    nginx_port: int
    authz_port: int


@pytest.fixture(scope="module")
def parity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ParityStack]:
    root = tmp_path_factory.mktemp("nginx-parity")
    state = root / "state"
    upstreams = Upstreams()
    stops: list[Callable[[], object]] = []
    try:
        contract = AccessContract(idp_port=free_port(), upstream_port=upstreams.start("shop"))
        start_idp(upstreams, contract.issuer, contract.idp_port, state)
        env = process_env(state)
        serve = start_serve(contract.write(root / "serve"), env, root / "serve.log", contract.admin_port)
        stops.append(serve.stop)
        behind_nginx = replace(contract, port=free_port(), admin_port=free_port())
        directory = behind_nginx.write(root / "nginx")
        authz, authz_port = start_authz(directory, env, root / "authz.log", "--dialect", "nginx")
        stops.append(authz.stop)
        nginx = Nginx(root, render_conf(directory, authz_port, root), behind_nginx.port)
        stops.append(nginx.stop)
        yield ParityStack(contract, state, behind_nginx.port, authz_port)
    finally:
        for stop in reversed(stops):
            stop()
        upstreams.close()


#: denials nginx answers itself, as the rendered configuration says, without asking the authz: the kind
#: they carry, and whether the body's reason is serve's (nginx cannot tell why it refused a request line)
ANSWERED_BY_NGINX = {
    "unknown host": ("no-route", True),  # no entrypoint has the host: the rendered default server
    "path climbing above the root": ("bad-request", False),  # nginx normalizes the URI first
    "encoded NUL": ("bad-request", False),  # nginx refuses a NUL in the request line
}
#: cases that do not get serve's decision through nginx, each with its reason (strict: the mark must go
#: when the reason does)
EXCLUDED: dict[str, pytest.MarkDecorator] = {}

PARITY = [pytest.param(case, id=case.name, marks=EXCLUDED.get(case.name, ())) for case in ALL_CASES]


def nginx_status(served: int, kind: str | None) -> int:
    """The status a client gets through nginx for a decision `serve` answers with ``served``. nginx's
    auth_request takes only 200, 401 and 403 from the authz, so the authz answers every other denial
    with a 403 naming its kind (render/authz_api.py); the rendered config turns the kinds of
    ``NGINX_DENY_STATUS`` back into serve's status, and any other kind stays a 403."""
    if served in (200, 401, 403):
        return served
    if kind is None:  # nginx's own answer (ANSWERED_BY_NGINX)
        return served
    return NGINX_DENY_STATUS.get(kind, 403)


def test_every_status_of_the_table_is_expressible_through_nginx() -> None:
    """The table's statuses are all ones nginx answers as serve does (no case relies on the 403
    fallback), and every kind nginx maps back is exercised by some case; but 503 (a stop, shed load,
    an open circuit), which needs a stop or a failing upstream: the conformance matrix's stopped
    rows run it through the rendered nginx (tests/conformance)."""
    statuses = {case.expected for case in ALL_CASES}
    assert statuses <= {200, 401, 403, *NGINX_DENY_STATUS.values()}
    assert set(NGINX_DENY_STATUS.values()) - {503} <= statuses
    assert set(ANSWERED_BY_NGINX) <= {case.name for case in ALL_CASES}


def check_kind(port: int, case: Case, headers: dict[str, str]) -> str | None:
    """The kind `frontdoor authz` names for ``case``, asked directly as nginx asks it."""
    status, answer, _ = request(
        port,
        "GET",
        "/auth",
        {**headers, "Host": case.host, "X-Original-URI": case.path, "X-Original-Method": case.method},
    )
    return None if status == 200 else answer["x-frontdoor-deny"]


@pytest.mark.parametrize("case", PARITY)
def test_nginx_decides_as_serve(parity: ParityStack, case: Case) -> None:
    headers = case.headers(parity)
    if case.prime:  # use up the route's one request an hour, in serve and in the authz behind nginx
        for port in (parity.contract.port, parity.nginx_port):
            assert request(port, case.method, case.path, {**headers, "Host": case.host})[0] == 200
    served, served_headers, served_body = request(
        parity.contract.port, case.method, case.path, {**headers, "Host": case.host}
    )
    assert served == case.expected, served_body
    status, answer, body = request(parity.nginx_port, case.method, case.path, {**headers, "Host": case.host})
    kind = answer.get("x-frontdoor-deny")
    if case.name in ANSWERED_BY_NGINX:
        assert kind == ANSWERED_BY_NGINX[case.name][0], answer
    elif served != 200:
        # the authz's denial, named as the authz names it when asked directly
        assert kind is not None and kind == check_kind(parity.authz_port, case, headers), answer
    assert status == nginx_status(served, kind), body
    if served == 403:
        assert kind not in NGINX_DENY_STATUS  # a kind nginx maps back is never serve's 403
    if served == 200:
        echo, served_echo = json.loads(body), json.loads(served_body)
        assert (echo["service"], echo["method"], echo["path"]) == (
            served_echo["service"],
            served_echo["method"],
            served_echo["path"],
        )
        assert upstream_identity(status, body) == upstream_identity(served, served_body)
        if case.subject is not None:
            assert upstream_identity(status, body)["x-frontdoor-subject"] == case.subject
    else:
        assert answer.get("www-authenticate") == served_headers.get("www-authenticate")
        assert answer.get("allow") == served_headers.get("allow")
        assert ("retry-after" in answer) == ("retry-after" in served_headers)
        # serve's JSON body, never nginx's page; the request id is each one's own
        got, expected = json.loads(body), json.loads(served_body)
        assert got.pop("request_id") == answer["x-request-id"]
        expected.pop("request_id")
        if not ANSWERED_BY_NGINX.get(case.name, ("", True))[1]:
            got.pop("reason"), expected.pop("reason")
        assert got == expected


def test_nginx_chooses_the_certificate_by_server_name(tmp_path: Path) -> None:
    ca = trustme.CA()
    served: dict[str, bytes] = {}
    files: dict[str, tuple[Path, Path]] = {}
    # nginx's workers (user nobody under root) load a certificate named by a variable at each
    # handshake, so they must be able to read it: not under pytest's private tmp_path
    readable = Path(tempfile.mkdtemp(prefix="frontdoor-sni-"))
    readable.chmod(0o755)
    for name, host in (("default", "shop.test"), ("api", "api.shop.test"), ("eu", "*.eu.shop.test")):
        issued = ca.issue_cert(host)
        files[name] = (readable / f"{name}.crt", readable / f"{name}.key")
        issued.cert_chain_pems[0].write_to_path(str(files[name][0]))
        issued.private_key_pem.write_to_path(str(files[name][1]))
        for path in files[name]:
            path.chmod(0o644)
        served[name] = ssl.PEM_cert_to_DER_cert(issued.cert_chain_pems[0].bytes().decode())
    spec = ContractSpec(
        shop=[(free_port(), 1)],
        tls=(files["default"][0], files["default"][1], "1.2"),
        tls_more=(
            ", certificates: [{hosts: [api.shop.test], cert: secret:api-cert, key: secret:api-key}, "
            '{hosts: ["*.eu.shop.test"], cert: secret:eu-cert, key: secret:eu-key}]'
        ),
        secrets={
            "api-cert": f"file:{files['api'][0]}",
            "api-key": f"file:{files['api'][1]}",
            "eu-cert": f"file:{files['eu'][0]}",
            "eu-key": f"file:{files['eu'][1]}",
        },
    )
    nginx = Nginx(tmp_path, render_conf(spec.write(tmp_path / "contract"), free_port(), tmp_path), spec.port)
    try:
        client = ssl.create_default_context()
        ca.configure_trust(client)
        for server_name, expected in (
            ("api.shop.test", "api"),
            ("a.eu.shop.test", "eu"),
            ("shop.test", "default"),
        ):
            with (
                socket.create_connection(("127.0.0.1", spec.port), timeout=5) as raw,
                client.wrap_socket(raw, server_hostname=server_name) as tls,
            ):
                assert tls.getpeercert(binary_form=True) == served[expected], server_name
    finally:
        nginx.stop()
        shutil.rmtree(readable)
