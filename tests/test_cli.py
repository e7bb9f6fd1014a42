"""The commands as a user runs them: exit codes, output forms, and never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from frontdoor.cli import main
from frontdoor.contract.source import contract_files

from .conftest import SHOP, edit


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_prod_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(SHOP), "--env", "prod")
    assert code == 0
    for expected in (
        "How do clients enter",
        "How is access controlled",
        "Who can see and manage traffic",
        "Who is on the hook at 2am",
        "If a route misbehaves tonight",
        "shop.example.com",
        "corp-sso",
        "pagerduty:platform-primary",
        "ready",
    ):
        assert expected in out
    assert "\x1b[" not in out  # no colour off a terminal


def test_check_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(SHOP), "--format", "json")
    data = json.loads(out)
    assert code == data["exit_code"] == 0
    assert data["format"] == "frontdoor-check/v1"
    assert [e["name"] for e in data["environments"]] == ["dev", "test", "prod"]
    prod = data["environments"][2]
    assert prod["production"] and prod["ready"] and prod["edge"] == "public-edge"
    webhook = next(r for r in prod["routes"] if r["path"] == "=/payments/webhook")
    assert webhook["access"] == "clients payment-provider"
    assert webhook["owners"]["stop"]["team"] == "platform"
    assert webhook["owners"]["explain"]["team"] == "payments-app"
    assert webhook["owners"]["explain"]["oncall"] == "pagerduty:payments-primary"
    assert webhook["owners"]["rollback"]["team"] == "release-eng"
    assert webhook["source"]["file"].endswith("services/payments.yaml")
    assert {"identity_providers", "api_clients", "public_routes"} <= prod["access"].keys()


def test_check_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(SHOP), "--env", "prod", "--format", "markdown")
    assert code == 0
    assert out.startswith("## frontdoor check")
    assert "| `POST =/payments/webhook` | payments |" in out


def test_check_invalid_exit_2(capsys: pytest.CaptureFixture[str], shop_copy: Path) -> None:
    edit(shop_copy, "services/orders.yaml", "      access: public\n", "")
    code, out, _ = run(capsys, "check", str(shop_copy))
    assert code == 2
    assert "services/orders.yaml:" in out and "route-access" in out and "(fix: shop-app)" in out


def test_check_gaps_exit_1(capsys: pytest.CaptureFixture[str], shop_copy: Path) -> None:
    edit(
        shop_copy,
        "edges/public.yaml",
        "        hsts: true\n      services: [orders, catalog, account]",
        "        hsts: true\n      services: [orders, catalog, account]",
    )  # unchanged: sanity of the helper
    edit(shop_copy, "edges/public.yaml", "  observability:\n", "  unobserved:\n")
    code, out, _ = run(capsys, "check", str(shop_copy), "--env", "prod")
    assert code == 2  # "unobserved" is not a field: invalid before any gap
    edit(shop_copy, "edges/public.yaml", "  unobserved:\n", "  observability:\n")
    edit(shop_copy, "edges/public.yaml", "    metrics: {path: /metrics}\n", "")
    code, out, _ = run(capsys, "check", str(shop_copy), "--env", "prod")
    assert code == 1
    assert "observability-off" in out and "no metrics" in out


def test_unknown_environment(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(SHOP), "--env", "staging")
    assert code == 2 and "no Environment named staging" in out


def test_missing_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "check", str(tmp_path / "nope"))
    assert code == 2 and "no such file or directory" in out


def test_who_matches_and_names_owners(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "who", str(SHOP), "--env", "prod", "GET", "https://shop.example.com/orders/42")
    assert code == 0
    assert "GET /orders" in out and "scopes orders:read" in out
    assert "platform" in out and "shop-app" in out and "release-eng" in out
    code, out, _ = run(
        capsys,
        "who",
        str(SHOP),
        "--env",
        "prod",
        "--format",
        "json",
        "POST",
        "https://hooks.shop.example.com:9443/payments/webhook",
    )
    answer = json.loads(out)
    assert code == 0 and answer["route"]["service"] == "payments"
    assert answer["route"]["owners"]["explain"]["team"] == "payments-app"


@pytest.mark.parametrize(
    ("method", "url", "text"),
    [
        ("DELETE", "https://shop.example.com/orders/1", "405"),
        ("GET", "https://shop.example.com/nothing-here", "no route"),
        ("GET", "https://unknown.example.org/orders", "no route"),
        ("GET", "https://shop.example.com/a/%2e%2e/%2e%2e/etc", "400"),
    ],
)
def test_who_no_route(capsys: pytest.CaptureFixture[str], method: str, url: str, text: str) -> None:
    code, out, _ = run(capsys, "who", str(SHOP), "--env", "prod", method, url)
    assert code == 1 and text in out


def test_who_bad_method(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "who", str(SHOP), "--env", "prod", "FETCH", "https://shop.example.com/")
    assert code == 2 and "not an HTTP method" in err


def test_diff(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", str(SHOP), "--env", "test", "--env", "prod", "--format", "json")
    changes = {(c["area"], c["subject"]): c for c in json.loads(out)["changes"]}
    assert code == 1
    assert changes[("environment", "production")]["after"] == "true"
    assert "weight 90" in changes[("upstreams", "orders")]["after"]
    code, out, _ = run(capsys, "diff", str(SHOP), "--env", "dev", "--env", "prod")
    assert code == 1
    assert "entrypoint local" in out and "only in dev" in out  # dev's loopback entrypoint
    assert "identity corp-sso" in out
    code, out, _ = run(capsys, "diff", str(SHOP), "--env", "prod", "--env", "prod")
    assert code == 0 and "same" in out


def test_schema_accepts_every_example_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0
    validator = jsonschema.Draft202012Validator(schema)
    count = 0
    for path in contract_files(SHOP):
        for document in yaml.safe_load_all(path.read_text()):
            if "kind" not in document:
                continue  # the OpenAPI description beside orders
            errors = list(validator.iter_errors(document))
            assert errors == [], (path, [e.message for e in errors])
            count += 1
    assert count == 13
    bad = {
        "apiVersion": "frontdoor/v1",
        "kind": "Service",
        "metadata": {"name": "x", "owner": "y"},
        "spec": {"exposure": "public", "tls": {}},
    }
    assert list(validator.iter_errors(bad))


def test_module_entry_point_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "frontdoor", "check", str(SHOP), "--env", "prod"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_render_says_where_traefik_counts_a_trusted_proxys_clients_as_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The example's public entrypoint trusts 10.0.0.0/8 and limits catalog per client: on traefik the
    ForwardAuth shows the authz only the proxy, so render says so, naming the entrypoint and service;
    not for a target that counts each client, and not once the entrypoint trusts no proxy."""
    args = ("--env", "prod", "--allow-gaps", "--out")
    code, _, err = run(capsys, "render", str(SHOP), "--target", "traefik", *args, str(tmp_path / "t"))
    assert code == 0
    notes = [line for line in err.splitlines() if line.startswith("frontdoor: note: traefik:")]
    assert len(notes) == 1 and "entrypoint public" in notes[0] and "catalog" in notes[0], err
    assert "orders" not in notes[0]  # keyed by subject
    code, _, err = run(capsys, "render", str(SHOP), "--target", "gateway-api", *args, str(tmp_path / "g"))
    assert code == 0 and "note:" not in err
    copy = tmp_path / "shop"
    shutil.copytree(SHOP, copy)
    edit(copy, "edges/public.yaml", "      trusted_proxies: [10.0.0.0/8]\n", "")
    code, _, err = run(capsys, "render", str(copy), "--target", "traefik", *args, str(tmp_path / "u"))
    assert code == 0 and "note:" not in err
