"""The admin API against its own OpenAPI description: schemathesis generates requests from the document
the live admin listener serves and checks every answer (status documented, body matching its schema,
no 500). Kept small: a few examples per operation.

(schemathesis' pytest fixture integration does not run on pytest 9, so the operations are driven from
one test with Hypothesis directly.)"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import ContractSpec, Gateway, Upstreams

TOKEN = "schemathesis-admin-token-71c2"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    upstreams = Upstreams()
    spec = ContractSpec(
        shop=[(upstreams.start("shop"), 1)], other=[upstreams.start("other")], admin_token=TOKEN
    )
    root: Path = tmp_path_factory.mktemp("openapi")
    gateway = Gateway(spec.write(root / "contract"), spec, root / "access.log", "--no-watch")
    yield gateway
    gateway.stop()
    upstreams.close()


def test_admin_api_matches_its_description(live: Gateway) -> None:
    base = f"http://127.0.0.1:{live.spec.admin_port}"
    with urllib.request.urlopen(
        f"{base}/admin/openapi.json", timeout=10
    ) as response:  # served without a token
        document = json.load(response)
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert {f"{o.method.upper()} {o.path}" for o in operations} >= {
        "GET /admin/routes",
        "GET /admin/traffic",
        "POST /admin/services/{name}/stop",
        "POST /admin/reload",
    }
    tried: list[str] = []

    @given(st.sampled_from(operations).flatmap(lambda operation: operation.as_strategy()))
    @settings(
        max_examples=80,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def check(case: Any) -> None:
        tried.append(f"{case.method} {case.path}")
        case.call_and_validate(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"})

    check()
    assert len(set(tried)) >= len(operations) // 2  # most operations were exercised
