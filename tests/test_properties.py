"""Property tests: whatever a contract directory holds, ``frontdoor check`` answers 0, 1 or 2, never a
traceback, and every finding it reports is well formed (a rule id, and a real line when it has a place).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from frontdoor.cli import main
from frontdoor.contract import load_contract
from frontdoor.contract.messages import first_rules_first
from frontdoor.errors import Finding
from frontdoor.report.check import EXIT_INVALID, run_check

from .conftest import SHOP

EXIT_CODES = (0, 1, 2)
TOKEN = "xoxb-4f9Kq2ZL7mW3pT8vR1nY6sB0dJ5hG2cX"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"
RULE_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

PROPERTY = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Shrinking a whole mutated contract takes minutes; its failure is reported as found, which is still
# a reproducible example (and the traceback names the faulty line).
LARGE_INPUT = settings(PROPERTY, phases=[Phase.explicit, Phase.reuse, Phase.generate])

# --- running the checker ------------------------------------------------------------------------------


def _cli(root: Path, *options: str) -> tuple[int, str]:
    """``frontdoor check ROOT OPTIONS``: the exit code and everything printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(root), *options])
    return code, out.getvalue() + err.getvalue()


def _assert_well_formed(findings: list[Finding], root: Path) -> None:
    for finding in findings:
        assert isinstance(finding.rule, str)
        assert RULE_ID.match(finding.rule), finding
        assert finding.message.strip(), finding
        assert finding.severity in ("error", "gap", "warning", "note"), finding
        # a secret written in the contract is never repeated in a message
        assert TOKEN not in finding.message, finding
        assert "BEGIN PRIVATE KEY" not in finding.message, finding
        where = finding.where
        if where is None:
            continue
        assert where.line >= 1, finding
        assert where.column is None or where.column >= 1, finding
        path = Path(where.file)
        assert path.is_relative_to(root), finding
        if path.is_file() and not path.is_symlink():
            text = path.read_bytes().decode("utf-8", errors="replace")
            # a syntax error at the very end of a file may point just past its last line
            assert where.line <= len(text.splitlines()) + 1, finding
        rendered = finding.render()
        assert f": {finding.rule}: " in rendered
        assert rendered.startswith(f"{where.file}:{where.line}")


def _assert_checked(root: Path, fmt: str = "text") -> int:
    """The invariants of one contract directory; returns the exit code."""
    result = load_contract(root)
    _assert_well_formed(result.findings, root)
    # a document that could not be read at all first, then file and line order
    assert result.findings == sorted(result.findings, key=first_rules_first)

    report = run_check(root)
    assert report.exit_code in EXIT_CODES
    if not result.valid:
        assert report.exit_code == EXIT_INVALID
    elif report.exit_code == EXIT_INVALID:  # valid documents, but nothing to check (issue 14)
        assert {f.rule for f in report.errors} <= {"environment-missing", "edge-missing"}
    _assert_well_formed(report.errors, root)
    _assert_well_formed(report.contract_findings, root)
    for verdict in report.environments:
        _assert_well_formed(verdict.findings, root)

    code, output = _cli(root, "--format", fmt)
    assert code == report.exit_code
    assert "Traceback" not in output
    return code


@contextlib.contextmanager
def _fresh_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="frontdoor-prop-") as name:
        yield Path(name)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the example per module; each example restores what it changed."""
    root = tmp_path_factory.mktemp("shop") / "shop"
    shutil.copytree(SHOP, root)
    return root


@contextlib.contextmanager
def _replaced(root: Path, files: dict[str, str]) -> Iterator[None]:
    """Write ``files`` (relative path -> text) under ``root``, and put everything back afterwards."""
    saved: dict[Path, bytes | None] = {}
    created: list[Path] = []
    try:
        for name, text in files.items():
            path = root / name
            saved[path] = path.read_bytes() if path.exists() else None
            missing = [p for p in path.parents if not p.exists()]
            if missing:
                created.append(missing[-1])
                path.parent.mkdir(parents=True)
            path.write_text(text, encoding="utf-8", newline="")
        yield
    finally:
        for path, content in saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        for folder in created:
            shutil.rmtree(folder, ignore_errors=True)


def test_the_shop_fixture_is_ready(shop: Path) -> None:
    """The starting point of the properties below is the valid example, unchanged."""
    assert _assert_checked(shop) == 0


# --- (a) any text ---------------------------------------------------------------------------------------

YAML_PIECES = [*"abkz:-[]{}#&*!|>'\",?%@`~ \n\t.0123456789=/\\", "\r\n", "---", "...", "<<", "!!int", "%YAML"]
YAMLISH = st.lists(st.sampled_from(YAML_PIECES), max_size=120).map("".join)
ANY_TEXT = st.one_of(st.text(max_size=300), YAMLISH)
FORMATS = st.sampled_from(["json", "markdown", "text"])


@PROPERTY
@given(text=ANY_TEXT, fmt=FORMATS)
def test_any_text_alone(text: str, fmt: str) -> None:
    with _fresh_dir() as root:
        (root / "contract.yaml").write_text(text, encoding="utf-8", newline="")
        code = _assert_checked(root, fmt)
        assert code == EXIT_INVALID  # random text does not spell a whole, valid contract


SHOP_FILES = sorted(p.relative_to(SHOP).as_posix() for p in SHOP.rglob("*.yaml"))


@LARGE_INPUT
@given(
    file=st.sampled_from(SHOP_FILES),
    text=ANY_TEXT,
    where=st.sampled_from(["replace", "prefix", "suffix"]),
    fmt=FORMATS,
)
def test_any_text_in_the_example(shop: Path, file: str, text: str, where: str, fmt: str) -> None:
    original = (SHOP / file).read_text()
    content = {"replace": text, "prefix": text + original, "suffix": original + "\n" + text}[where]
    with _replaced(shop, {file: content}):
        _assert_checked(shop, fmt)


# --- (b) YAML built from values -------------------------------------------------------------------------

_FIELD_NAMES = """
apiVersion kind metadata spec name owner environments labels annotations role oncall primary
escalation hours contact chat email runbooks description exposure health readiness liveness api
openapi routes path methods access scopes claims clients strip_prefix events produces consumes
load expected_rps peak_rps slo availability latency_p99_ms entrypoints listen hosts tls cert key
min_version hsts services trusted_proxies identity providers issuer audiences algorithms
jwks_uri scopes_claim clock_skew_s api_clients key_sha256 rate_limits store on_store_failure
default requests per burst protection max_request_body max_header_bytes timeouts connect header
upstream idle max_inflight_per_service retries attempts only_idempotent circuit_breaker
failure_ratio min_requests open_for observability access_log format redact_headers metrics
tracing propagate admin operators token production promotes_from upstreams url weight secrets
mode password <<
"""
FIELDS = sorted(set(_FIELD_NAMES.split()))
WORDS = [
    "frontdoor/v1",
    "Team",
    "Service",
    "Edge",
    "Environment",
    "app",
    "platform",
    "delivery",
    "shop-app",
    "payments-app",
    "release-eng",
    "orders",
    "catalog",
    "payments",
    "dev",
    "test",
    "prod",
    "public",
    "internal",
    "authenticated",
    "*",
    "/",
    "/orders",
    "=/orders",
    "/orders/",
    "GET",
    "get",
    "HEAD",
    "FETCH",
    "0.0.0.0:8443",
    "127.0.0.1:8080",
    "[::]:8443",
    "localhost:1",
    "host:99999",
    "10.0.0.0/8",
    "10.0.0.1/8",
    "1MiB",
    "16KiB",
    "1XB",
    "2s",
    "500ms",
    "1m30s",
    "-1s",
    "https://login.example.com/",
    "http://10.1.0.11:8080",
    "http://u:p@host/",
    "secret:shop-tls-cert",
    "secret:redis-url",
    "secret:BAD NAME",
    "env:FRONTDOOR_ADMIN_TOKEN",
    "file:/etc/key",
    "file:relative",
    "RS256",
    "HS256",
    "none",
    "scope",
    "scp",
    "24x7",
    "business-hours",
    "local",
    "redis",
    "allow",
    "deny",
    "client",
    "subject",
    "99.9",
    "99.9%",
    "1.2",
    PEM,
    TOKEN,
    "",
]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=16),
    st.sampled_from(WORDS),
)
KEYS = st.one_of(st.sampled_from(FIELDS), st.text(min_size=1, max_size=10))
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(KEYS, children, max_size=5),
    ),
    max_leaves=24,
)
ENVELOPES = st.fixed_dictionaries(
    {
        "apiVersion": st.one_of(st.just("frontdoor/v1"), SCALARS),
        "kind": st.one_of(st.sampled_from(["Team", "Service", "Edge", "Environment"]), VALUES),
        "metadata": st.one_of(
            st.fixed_dictionaries(
                {"name": st.one_of(st.sampled_from(WORDS), SCALARS)},
                optional={
                    "owner": st.one_of(st.sampled_from(WORDS), SCALARS),
                    "environments": st.one_of(st.lists(st.sampled_from(WORDS), max_size=3), VALUES),
                },
            ),
            VALUES,
        ),
        "spec": VALUES,
    }
)
DOCUMENTS = st.lists(st.one_of(VALUES, ENVELOPES), min_size=1, max_size=3)


def _dump(documents: list[Any]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True)


@PROPERTY
@given(documents=DOCUMENTS)
@example(documents=[{"apiVersion": "frontdoor/v1", "kind": {"a": 1}, "metadata": {"name": "x"}, "spec": {}}])
@example(
    documents=[{"apiVersion": "frontdoor/v1", "kind": "Service", "metadata": {"name": TOKEN}, "spec": {}}]
)
def test_any_yaml_alone(documents: list[Any]) -> None:
    with _fresh_dir() as root:
        (root / "contract.yaml").write_text(_dump(documents), encoding="utf-8")
        _assert_checked(root, "json")


@LARGE_INPUT
@given(
    documents=DOCUMENTS,
    name=st.sampled_from(["services/extra.yaml", "zz.yml", "edges/a/b.yaml"]),
    fmt=FORMATS,
)
def test_any_yaml_added_to_the_example(shop: Path, documents: list[Any], name: str, fmt: str) -> None:
    with _replaced(shop, {name: _dump(documents)}):
        _assert_checked(shop, fmt)


# --- (b) mutations of the example's own documents -------------------------------------------------------

Draw = Callable[[st.SearchStrategy[Any]], Any]


def _rarely(draw: Draw, one_in: int) -> bool:
    return bool(draw(st.integers(min_value=1, max_value=one_in)) == 1)


def _mutate(draw: Draw, value: Any) -> Any:
    """The value with some of its parts dropped, retyped, replaced or added to."""
    if _rarely(draw, 25):
        return draw(VALUES)  # a value of another type, or another value of the same type
    if isinstance(value, dict):
        mutated: dict[str, Any] = {}
        for key, item in value.items():
            if _rarely(draw, 15):
                continue  # a missing key
            mutated[key] = _mutate(draw, item)
        if _rarely(draw, 8):
            mutated[draw(KEYS)] = draw(VALUES)  # an extra key, known elsewhere or not at all
        return mutated
    if isinstance(value, list):
        items = [_mutate(draw, item) for item in value if not _rarely(draw, 10)]
        if _rarely(draw, 10):
            items.append(draw(VALUES))
        if items and _rarely(draw, 12):
            items.append(items[0])  # a duplicate
        return items
    if isinstance(value, str) and _rarely(draw, 20):
        return draw(st.sampled_from(WORDS))  # a plausible word in the wrong place
    return value


def _documents(file: str) -> list[Any]:
    return list(yaml.safe_load_all((SHOP / file).read_text()))


CONTRACT_FILES = [f for f in SHOP_FILES if "/openapi/" not in f]


@st.composite
def mutated_files(draw: Draw) -> dict[str, str]:
    """One to three files of the example, each with its documents mutated (or dropped, or doubled)."""
    files = draw(st.lists(st.sampled_from(CONTRACT_FILES), min_size=1, max_size=3, unique=True))
    written = {}
    for file in files:
        documents = [_mutate(draw, document) for document in _documents(file)]
        if len(documents) > 1 and _rarely(draw, 6):
            documents.pop(draw(st.integers(0, len(documents) - 1)))
        written[file] = _dump(documents)
    if _rarely(draw, 5):
        source = draw(st.sampled_from(CONTRACT_FILES))
        written["zz-copy.yaml"] = _dump([_mutate(draw, d) for d in _documents(source)])
    return written


@LARGE_INPUT
@given(files=mutated_files(), fmt=FORMATS)
def test_mutated_example(shop: Path, files: dict[str, str], fmt: str) -> None:
    with _replaced(shop, files):
        _assert_checked(shop, fmt)


KIND_FILES = {
    "Service": "services/orders.yaml",
    "Edge": "edges/public.yaml",
    "Environment": "environments/prod.yaml",
    "Team": "teams.yaml",
}


@st.composite
def mutated_specs(draw: Draw) -> tuple[str, str]:
    """A Service, Edge, Environment or Team whose envelope is intact and whose spec is mutated: the
    documents reach the model and the cross-document rules instead of stopping at the envelope."""
    kind = draw(st.sampled_from(sorted(KIND_FILES)))
    file = KIND_FILES[kind]
    documents = _documents(file)
    index = draw(st.integers(0, len(documents) - 1))
    document = dict(documents[index])
    document["spec"] = _mutate(draw, document["spec"])
    if _rarely(draw, 4):
        document["metadata"] = _mutate(draw, document["metadata"])
    documents[index] = document
    return file, _dump(documents)


@LARGE_INPUT
@given(target=mutated_specs(), fmt=FORMATS)
def test_mutated_spec(shop: Path, target: tuple[str, str], fmt: str) -> None:
    file, text = target
    with _replaced(shop, {file: text}):
        _assert_checked(shop, fmt)


# --- (c) the well-formedness check itself -----------------------------------------------------------------


def test_well_formed_rejects_a_bad_finding(shop: Path) -> None:
    """The invariant used above is not vacuous: a finding at line 0 or without a rule id fails it."""
    from frontdoor.errors import Location

    file = str(shop / "teams.yaml")
    with pytest.raises(AssertionError):
        _assert_well_formed([Finding("schema", "x", Location(file, 0))], shop)
    with pytest.raises(AssertionError):
        _assert_well_formed([Finding("", "x", Location(file, 1))], shop)
    with pytest.raises(AssertionError):
        _assert_well_formed([Finding("schema", "x", Location(file, 10_000))], shop)
    _assert_well_formed([Finding("schema", "x", Location(file, 1, 1))], shop)
