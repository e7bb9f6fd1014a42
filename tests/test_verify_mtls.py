"""verify against a real serve with client certificates (mutual TLS, trustme CAs from tests/pki.py):
a route only certificate clients may call answers 403 without one, never a challenge; with --cert the
routes listing its client answer and the others refuse; an entrypoint that requires a certificate is
verified with one (and refuses a client without one); a contract that drifted from the edge is caught."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from frontdoor.contract.models import AccessRule
from frontdoor.verify.probes import answer_for

from .harness import Gateway, Upstreams
from .pki import ClientPair, Pki, make_pki, mtls_spec
from .verify_support import rules_of, run_verify


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    pki.server_ca.cert_pem.write_to_path(str(pki.folder / "server-ca.pem"))
    return pki


def serve(pki: Pki, folder: Path, mode: str) -> Iterator[Gateway]:
    upstreams = Upstreams()
    spec = mtls_spec(pki, upstreams.start("shop"), upstreams.start("other"), mode)
    gateway = Gateway(spec.write(folder / "contract"), spec, folder / "log")
    yield gateway
    gateway.stop()
    upstreams.close()


@pytest.fixture(scope="module")
def optional(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serve(pki, tmp_path_factory.mktemp("optional"), "optional")


@pytest.fixture(scope="module")
def required(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serve(pki, tmp_path_factory.mktemp("required"), "required")


def verify(
    capsys: pytest.CaptureFixture[str],
    pki: Pki,
    gateway: Gateway,
    pair: ClientPair | None,
    contract: Path | None = None,
) -> tuple[int, dict[str, Any]]:
    cert = ["--cert", str(pair.cert), "--key", str(pair.key)] if pair is not None else []
    return run_verify(
        capsys,
        contract or gateway.contract,
        f"https://127.0.0.1:{gateway.spec.port}",
        pki.folder / "server-ca.pem",
        "--host",
        "shop.test",
        *cert,
    )


def test_without_a_certificate_certificate_routes_answer_403_and_verify_agrees(
    pki: Pki, optional: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = verify(capsys, pki, optional, None)
    assert code == 0, report["findings"]
    assert report["kinds"]["anonymous"] >= 3  # /shop, /batch, /both (and other's /other)


@pytest.mark.parametrize("who", ["batch", "auditor"])
def test_with_a_certificate_its_routes_answer_and_the_others_refuse(
    pki: Pki, optional: Gateway, capsys: pytest.CaptureFixture[str], who: str
) -> None:
    code, report = verify(capsys, pki, optional, getattr(pki, who))
    assert code == 0, report["findings"]
    assert report["kinds"]["certificate"] == 2  # /batch (403 for auditor) and /both


def test_a_required_certificate_is_verified_with_one(
    pki: Pki, required: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = verify(capsys, pki, required, pki.auditor)
    assert code == 0, report["findings"]
    assert report["kinds"]["client-auth"] == 1  # a client without a certificate was refused
    # without one, nothing could be answered: a usage error, said before anything is sent
    code = run_verify_code(capsys, pki, required)
    assert code == 2
    assert "requires a client certificate" in capsys.readouterr().err


def run_verify_code(capsys: pytest.CaptureFixture[str], pki: Pki, gateway: Gateway) -> int:
    from frontdoor.cli import main

    capsys.readouterr()
    return main(
        [
            "verify", str(gateway.contract), "--env", "dev", "--base-url",
            f"https://127.0.0.1:{gateway.spec.port}", "--cacert", str(pki.folder / "server-ca.pem"),
            "--host", "shop.test",
        ]
    )  # fmt: skip


def test_a_certificate_of_no_client_is_a_usage_error(
    pki: Pki, optional: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    from frontdoor.cli import main

    code = main(
        [
            "verify", str(optional.contract), "--env", "dev", "--base-url",
            f"https://127.0.0.1:{optional.spec.port}", "--cacert", str(pki.folder / "server-ca.pem"),
            "--host", "shop.test", "--cert", str(pki.stranger.cert), "--key", str(pki.stranger.key),
        ]
    )  # fmt: skip
    assert code == 2
    assert "none of the Edge's certificate clients" in capsys.readouterr().err


def test_an_edge_that_admits_a_client_its_contract_does_not_list_is_caught(
    pki: Pki, required: Gateway, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The contract now says only batch may call /both; the running edge still admits auditor."""
    drifted = tmp_path / "contract"
    shutil.copytree(required.contract, drifted)
    for document in drifted.rglob("*.yaml"):
        document.write_text(document.read_text().replace("clients: [batch, auditor]", "clients: [batch]"))
    code, report = verify(capsys, pki, required, pki.auditor, drifted)
    assert code == 1
    # the route itself, and the path tricks that reach it (admitted too, with that certificate)
    assert rules_of(report) == {"verify-open-door", "verify-path-trick"}
    findings = report["findings"]
    assert any(f["message"].startswith("open door: GET /both ") for f in findings)
    assert all(" /both of service shop" in f["message"] for f in findings)
    assert all("owned by shop" in f["message"] for f in findings)


def test_the_answer_the_contract_gives_each_kind_of_client_proof() -> None:
    certificate_clients = frozenset({"batch", "auditor"})
    only_certificates = AccessRule.model_validate({"clients": ["batch"]})
    mixed = AccessRule.model_validate({"clients": ["batch", "keyed"]})
    keyed_and_user = AccessRule.model_validate({"clients": ["keyed"], "scopes": ["a"]})
    assert answer_for(only_certificates, certificate_clients) == ("forbidden", "ApiKey")
    assert answer_for(mixed, certificate_clients) == ("challenge", "ApiKey")  # a key could still do
    assert answer_for(only_certificates, certificate_clients, certificate="batch") == ("admitted", "ApiKey")
    assert answer_for(only_certificates, certificate_clients, certificate="auditor")[0] == "forbidden"
    assert answer_for(mixed, certificate_clients, key="keyed")[0] == "admitted"
    # the client first, then the user: a listed key without a token is asked for the token
    assert answer_for(keyed_and_user, certificate_clients, key="keyed") == ("challenge", "Bearer")
    assert answer_for(keyed_and_user, certificate_clients, key="keyed", token="forged")[0] == "unauthorized"
    assert answer_for(keyed_and_user, certificate_clients, certificate="batch")[0] == "forbidden"


def test_an_edge_that_lets_a_client_without_a_certificate_in_is_caught(
    pki: Pki, optional: Gateway, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The contract requires a certificate; the running edge only asks for one (mode optional)."""
    drifted = tmp_path / "contract"
    shutil.copytree(optional.contract, drifted)
    changed = 0
    for document in drifted.rglob("*.yaml"):
        text = document.read_text()
        changed += text.count("mode: optional")
        document.write_text(text.replace("mode: optional", "mode: required"))
    assert changed == 1
    code, report = verify(capsys, pki, optional, pki.batch, drifted)
    assert code == 1
    assert rules_of(report) == {"verify-client-auth"}
    (finding,) = report["findings"]
    assert "a client without a certificate was answered" in finding["message"]
