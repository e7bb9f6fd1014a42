"""`check` is a CI gate: it never says ready by mistake (issue 14, items 1 and 2).

Repeated --env, a contract with nothing to check, symlinked folders and FIFOs, a wrong apiVersion
reported first, messages in the project's voice, and lines never wrapped off a terminal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from frontdoor.cli import main
from frontdoor.contract import load_contract
from frontdoor.report.check import EXIT_GAPS, EXIT_INVALID, EXIT_READY, run_check
from frontdoor.report.console import make_console

from .conftest import SHOP, edit
from .contracts import EDGE

TEAMS_ONLY = {"teams.yaml": (SHOP / "teams.yaml").read_text()}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _prod_gap(root: Path) -> None:
    """No metrics on the Edge of test and prod: a gap in prod, a warning in test."""
    edit(root, "edges/public.yaml", "    metrics: {path: /metrics}\n", "")


# --- repeated --env -----------------------------------------------------------------------------------


def test_repeated_env_checks_each_environment_and_exits_with_the_worst(
    capsys: pytest.CaptureFixture[str], shop_copy: Path
) -> None:
    _prod_gap(shop_copy)
    assert run(capsys, "check", str(shop_copy), "--env", "test")[0] == EXIT_READY  # a warning only
    code, out, _ = run(capsys, "check", str(shop_copy), "--env", "prod", "--env", "test")
    assert code == EXIT_GAPS
    assert "prod (production, Edge public-edge): 1 GAP(S)" in out
    assert "test (non-production, Edge public-edge): READY" in out
    assert "[prod 1 gap(s); test ready]" in out

    code, out, _ = run(capsys, "check", str(shop_copy), "--env", "test", "--env", "prod", "--format", "json")
    data = json.loads(out)
    assert code == data["exit_code"] == EXIT_GAPS
    assert [(e["name"], e["ready"]) for e in data["environments"]] == [("test", True), ("prod", False)]

    code, out, _ = run(
        capsys, "check", str(shop_copy), "--env", "prod", "--env", "test", "--format", "markdown"
    )
    assert code == EXIT_GAPS
    assert "### prod (production): 1 gap(s)" in out and "### test (non-production): ready" in out
    assert "| prod | 1 gap(s) | 0 |" in out and "| test | ready | 0 |" in out


def test_repeated_env_with_one_unknown_is_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(SHOP), "--env", "prod", "--env", "staging")
    assert code == EXIT_INVALID
    assert "no Environment named staging" in out and "environments/staging.yaml" in out


def test_the_same_env_twice_is_checked_once() -> None:
    report = run_check(SHOP, ["prod", "prod"])
    assert [v.name for v in report.environments] == ["prod"]


# --- nothing to check is not ready ----------------------------------------------------------------------


@pytest.mark.parametrize("strict", [False, True])
def test_teams_only_is_invalid(capsys: pytest.CaptureFixture[str], tmp_path: Path, strict: bool) -> None:
    (tmp_path / "teams.yaml").write_text(TEAMS_ONLY["teams.yaml"])
    code, out, _ = run(capsys, "check", str(tmp_path), *(["--strict"] if strict else []))
    assert code == EXIT_INVALID
    assert "environment-missing: no Environment is declared" in out
    assert "edge-missing: no Edge is declared" in out
    assert "environments/prod.yaml" in out and "(fix: release-eng)" in out and "(fix: platform)" in out
    assert "ready" not in out.replace("not ready", "")


def test_an_edge_without_any_environment_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "teams.yaml").write_text(TEAMS_ONLY["teams.yaml"])
    (tmp_path / "edge.yaml").write_text(EDGE.replace("edge-team", "platform"))
    report = run_check(tmp_path, strict=True)
    assert report.exit_code == EXIT_INVALID
    assert [f.rule for f in report.errors] == ["environment-missing"]


def test_an_environment_without_an_edge_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "teams.yaml").write_text(TEAMS_ONLY["teams.yaml"])
    shutil.copy(SHOP / "environments" / "dev.yaml", tmp_path / "dev.yaml")
    for env in (None, "dev"):
        report = run_check(tmp_path, env)
        assert report.exit_code == EXIT_INVALID
        messages = " ".join(f.message for f in report.errors)
        assert "no Edge serves environment dev" in messages and "environments: [dev]" in messages


# --- files: symlinked folders, loops, FIFOs ------------------------------------------------------------


def test_a_symlinked_folder_is_followed(tmp_path: Path, shop_copy: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.move(shop_copy / "services", elsewhere)
    (shop_copy / "services").symlink_to(elsewhere, target_is_directory=True)
    report = run_check(shop_copy)
    assert report.exit_code == EXIT_READY, [f.render() for f in report.errors]
    assert str(shop_copy / "services" / "orders.yaml") in {
        s.file for s in load_contract(shop_copy).contract.sources.values()
    }


def test_a_symlink_loop_is_reported_not_followed(shop_copy: Path) -> None:
    (shop_copy / "services" / "again").symlink_to(shop_copy, target_is_directory=True)
    report = run_check(shop_copy)
    loops = [f for f in report.contract_findings if f.rule == "contract-symlink-loop"]
    assert len(loops) == 1 and loops[0].where and loops[0].where.file.endswith("services/again")
    assert report.exit_code == EXIT_READY  # every file is still read, once
    assert run_check(shop_copy, strict=True).exit_code == EXIT_GAPS


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_refused_without_being_opened(shop_copy: Path) -> None:
    os.mkfifo(shop_copy / "services" / "pipe.yaml")
    # a FIFO that were opened for reading would block until a writer came: the timeout only keeps a
    # broken build from hanging the suite; the assertion is on the output
    done = subprocess.run(
        [sys.executable, "-m", "frontdoor", "check", str(shop_copy)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == EXIT_INVALID
    assert "services/pipe.yaml:1: contract-not-a-file: a FIFO (named pipe), not a regular file" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_a_dangling_symlink_is_named(shop_copy: Path) -> None:
    (shop_copy / "services" / "gone.yaml").symlink_to(shop_copy / "nowhere.yaml")
    report = run_check(shop_copy)
    assert report.exit_code == EXIT_INVALID
    assert any("a symlink to nothing" in f.message for f in report.errors)


# --- a wrong apiVersion or kind first, without its consequences -----------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("apiVersion: frontdoor/v1", "apiVersion: frontdoor/v2", "api-version"),
        ("kind: Service", "kind: Servce", "document-kind"),
    ],
)
def test_a_wrong_envelope_is_reported_first_and_alone(
    capsys: pytest.CaptureFixture[str], shop_copy: Path, old: str, new: str, rule: str
) -> None:
    edit(shop_copy, "services/orders.yaml", old, new)
    report = run_check(shop_copy)
    assert report.errors[0].rule == rule
    assert [f.rule for f in report.errors] == [rule], [f.render() for f in report.errors]
    code, out, _ = run(capsys, "check", str(shop_copy))
    assert code == EXIT_INVALID
    assert out.splitlines()[0].startswith(f"{shop_copy / 'services' / 'orders.yaml'}:")
    assert (
        f"{rule}: " in out.splitlines()[0]
        and "found" in out.splitlines()[0]
        and "for example" in out.splitlines()[0]
    )


# --- messages in the project's voice --------------------------------------------------------------------


def _messages(root: Path) -> str:
    return "\n".join(f.render() for f in load_contract(root).findings)


def test_a_bad_name_is_explained_with_an_example(shop_copy: Path) -> None:
    edit(shop_copy, "services/orders.yaml", "metadata: {name: orders,", "metadata: {name: Orders_API,")
    text = _messages(shop_copy)
    assert "String should" not in text and "^[a-z0-9]" not in text
    assert "metadata.name: found 'Orders_API'; expected a name: lowercase letters, digits and '-'" in text
    assert "for example: name: orders-api" in text


def test_a_wrong_choice_lists_the_choices_with_an_example(shop_copy: Path) -> None:
    edit(shop_copy, "services/orders.yaml", "exposure: public", "exposure: everyone")
    text = _messages(shop_copy)
    assert "Input should be" not in text
    assert (
        "spec.exposure: found 'everyone'; expected one of public or internal; for example: exposure: public"
        in text
    )


def test_a_missing_field_says_how_to_add_it(shop_copy: Path) -> None:
    edit(
        shop_copy,
        "teams.yaml",
        '  role: app\n  oncall:\n    primary: "pagerduty:shop-app-primary"',
        '  oncall:\n    primary: "pagerduty:shop-app-primary"',
    )
    assert "spec.role is required: add it; for example: role: app" in _messages(shop_copy)


@pytest.mark.parametrize("path", ["/orders/{id}", "^/orders/[0-9]+$", "/orders/.*", "/orders/*"])
def test_a_path_pattern_is_told_that_matching_is_by_prefix_or_exact_path(shop_copy: Path, path: str) -> None:
    edit(shop_copy, "services/orders.yaml", "    - path: /orders/public-stats\n", f"    - path: '{path}'\n")
    text = _messages(shop_copy)
    assert "starts with '/'" not in text
    assert "routes match by prefix or exact path only: write /orders" in text
    assert "=/orders (that path only)" in text


def test_a_vault_reference_in_an_environment_is_not_called_a_literal(shop_copy: Path) -> None:
    edit(
        shop_copy,
        "environments/prod.yaml",
        "admin-token: env:FRONTDOOR_ADMIN_TOKEN",
        "admin-token: vault:secret/data/shop#admin",
    )
    findings = [f for f in load_contract(shop_copy).findings if f.severity == "error"]
    assert [f.rule for f in findings] == ["schema"]
    message = findings[0].message
    assert "literal" not in message
    assert message.startswith("spec.secrets.admin-token: a vault: reference is not read by frontdoor")
    assert "file:/" in message and "env:VAR" in message
    assert "secret/data/shop" not in message  # the reference itself is not repeated


def test_a_literal_password_is_still_refused(shop_copy: Path) -> None:
    edit(
        shop_copy, "environments/prod.yaml", "admin-token: env:FRONTDOOR_ADMIN_TOKEN", "admin-token: hunter2"
    )
    assert any(f.rule == "secret-literal" for f in load_contract(shop_copy).findings)


# --- lines are never wrapped off a terminal ------------------------------------------------------------


def test_messages_are_not_wrapped_off_a_terminal(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = tmp_path / ("a-contract-folder-with-a-long-name-" * 6)
    shutil.copytree(SHOP, root)
    edit(root, "services/orders.yaml", "exposure: public", "exposure: everyone")
    code, out, _ = run(capsys, "check", str(root))
    assert code == EXIT_INVALID
    line = next(line for line in out.splitlines() if "exposure: found" in line)
    assert len(line) > 200 and line.startswith(str(root)) and line.endswith("(fix: shop-app)")
    verdict = out.splitlines()[-1]
    assert verdict.startswith("invalid: 1 error(s) in ") and verdict.endswith("run check again")


def test_tables_are_not_folded_off_a_terminal(capsys: pytest.CaptureFixture[str], shop_copy: Path) -> None:
    long_host = "a-very-long-host-name-that-goes-on." * 4 + "example.com"
    edit(shop_copy, "edges/public.yaml", "hosts: [shop.example.com]", f"hosts: [{long_host}]")
    code, out, _ = run(capsys, "check", str(shop_copy), "--env", "prod")
    assert code == EXIT_READY
    assert long_host in out


def test_a_terminal_honours_columns() -> None:
    assert make_console(terminal=True, environ={"COLUMNS": "50"}).width == 50
    assert make_console(terminal=True, environ={"COLUMNS": "132"}).width == 132
    assert make_console(terminal=False, environ={"COLUMNS": "50"}).width > 10_000


# --- no traceback, whatever the path ------------------------------------------------------------------


def test_a_path_too_long_is_a_one_line_error(capsys: pytest.CaptureFixture[str], shop_copy: Path) -> None:
    code, out, err = run(capsys, "check", "x" * 5000)
    assert code == EXIT_INVALID and "Traceback" not in out + err
    assert out.startswith("contract-read: ") and "File name too long" in out
    edit(shop_copy, "services/orders.yaml", "openapi: openapi/orders.yaml", "openapi: " + "y" * 5000)
    code, out, err = run(capsys, "check", str(shop_copy), "--env", "prod")
    assert code == EXIT_READY and "Traceback" not in out + err
    assert "openapi-missing: api.openapi yyy" in out


def test_a_symlink_out_of_the_contract_is_bounded(
    monkeypatch: pytest.MonkeyPatch, shop_copy: Path, tmp_path: Path
) -> None:
    for i in range(5):
        (tmp_path / "outside" / f"d{i}").mkdir(parents=True)
    (shop_copy / "services" / "out").symlink_to(tmp_path / "outside", target_is_directory=True)
    monkeypatch.setattr("frontdoor.contract.tree.MAX_FOLDERS", 6)
    report = run_check(shop_copy)
    assert report.exit_code == EXIT_INVALID
    [bounded] = [f for f in report.errors if f.rule == "contract-too-large"]
    assert "does a symlink lead out of the contract" in bounded.message


def test_every_new_rule_id_is_documented() -> None:
    from frontdoor.contract.models import WAIVABLE_RULES

    table = (Path(__file__).resolve().parent.parent / "docs" / "contract.md").read_text()
    new = {
        "contract-not-a-file",
        "contract-symlink-loop",
        "contract-symlink-twice",
        "contract-too-large",
        "environment-missing",
        "edge-missing",
        "waiver-expired",
        "waiver-refused",
        "waiver-unused",
    }
    missing = [r for r in sorted(new | set(WAIVABLE_RULES)) if f"| `{r}` |" not in table]
    assert not missing


def test_examples_fit_lists_and_maps_and_long_values_are_not_repeated(shop_copy: Path) -> None:
    edit(shop_copy, "services/orders.yaml", "produces: [orders.created]", "produces: ['orders created']")
    edit(
        shop_copy,
        "edges/public.yaml",
        "orders: {requests: 50, per: 1s, burst: 100, key: subject}",
        "orders: 50",
    )
    long_url = "ftp://" + "a" * 200
    edit(shop_copy, "environments/prod.yaml", '["http://10.1.0.31:8080"]', f'["{long_url}"]')
    text = _messages(shop_copy)
    assert "spec.events.produces[0]: found 'orders created'; expected a topic name" in text
    assert "for example: produces: [orders.created]" in text
    assert (
        "spec.rate_limits.services.orders: found 50; expected a mapping (key: value); for example: " in text
    )
    assert "orders: {requests: 20, per: 1s, burst: 40}" in text
    assert "a string of 206 characters" in text and "a" * 100 not in text


def test_the_served_contract_hash_covers_symlinked_folders(tmp_path: Path, shop_copy: Path) -> None:
    from frontdoor.observe.control import contract_hash

    elsewhere = tmp_path / "elsewhere"
    shutil.move(shop_copy / "services", elsewhere)
    (shop_copy / "services").symlink_to(elsewhere, target_is_directory=True)
    before = contract_hash(shop_copy)
    edit(shop_copy, "services/orders.yaml", "latency_p99_ms: 300", "latency_p99_ms: 301")
    assert contract_hash(shop_copy) != before
