"""The conformance matrix (issue 13): every request of cases.TABLE sent through every mode, each with
real software (serve; authz behind nginx's auth_request; the rendered nginx.conf on nginx; authz
behind Caddy's forward_auth), and evaluated on the rendered Kubernetes targets (k8s_eval.py). Every cell
must be the decision the contract requires (status, deny kind, identity headers, upstream path, backend),
unless a documented exception, a pending entry or an open difference excuses it (allowances.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .allowances import OPEN_DIFFERENCES, PENDING_ON_OTHER_BRANCHES
from .cases import TABLE, Row
from .ingress import CADDY, NGINX
from .k8s_eval import Evaluator
from .outcome import Outcome, exchange, read_answer
from .reference import KUBERNETES, MODES, reference
from .report import record
from .stack import K8S_MODES, Stack, start_stack
from .traefik_live import TRAEFIK, WHY_NOT
from .verdicts import Cell, judge

pytestmark = pytest.mark.skipif(
    NGINX is None or CADDY is None, reason="nginx and caddy are installed by scripts/system-packages.sh"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="module")
def evaluators(stack: Stack) -> dict[str, Evaluator]:
    return {
        mode: Evaluator(target, stack.renders[mode], stack.authz[mode])
        for mode, (target, _) in K8S_MODES.items()
    }


def running(stack: Stack) -> list[str]:
    """The modes of this run: every one, but traefik-live only where a traefik binary is installed."""
    return [mode for mode in MODES if mode in KUBERNETES or mode in stack.ports]


@pytest.mark.skipif(TRAEFIK is None, reason=WHY_NOT)
def test_traefik_live_runs(stack: Stack) -> None:
    """The column that runs the traefik render on a real Traefik is there (else this test is skipped
    with the reason, and so is the column)."""
    assert "traefik-live" in running(stack)


def send(
    stack: Stack, evaluators: dict[str, Evaluator], mode: str, row: Row, headers: dict[str, str]
) -> Outcome:
    if mode in KUBERNETES:
        return evaluators[mode].decide(row, headers)
    port = stack.partner_ports[mode] if row.entrypoint == "partner" and mode in stack.partner_ports else None
    status, answer, body = exchange(
        port or stack.ports[mode], row.method, row.path, {**headers, "Host": row.host}, row.body
    )
    return read_answer(status, answer, body)


def test_the_table_is_big_enough_and_its_names_unique() -> None:
    assert len(TABLE) >= 80
    assert len({row.name for row in TABLE}) == len(TABLE)
    listed = {name for name, _ in (*PENDING_ON_OTHER_BRANCHES, *OPEN_DIFFERENCES)}
    assert listed <= {row.name for row in TABLE}
    assert {mode for _, mode in (*PENDING_ON_OTHER_BRANCHES, *OPEN_DIFFERENCES)} <= set(MODES)


@pytest.mark.parametrize("row", [pytest.param(row, id=row.name) for row in TABLE])
def test_every_mode_decides_as_the_contract_requires(
    stack: Stack, evaluators: dict[str, Evaluator], row: Row
) -> None:
    headers = row.headers(stack)
    if row.prime:  # use up the one request the limit allows, in every mode's own process
        for mode in running(stack):
            send(stack, evaluators, mode, row, headers)
    served = send(stack, evaluators, "serve", row, headers)
    ref = reference(row, served)
    cells: dict[str, Cell] = {}
    for mode in running(stack):
        got = served if mode == "serve" else send(stack, evaluators, mode, row, headers)
        cells[mode] = judge(row, mode, ref, got)
    required = str(ref.status) + (f" {ref.kind}" if ref.kind else "")
    record(
        {
            "order": TABLE.index(row),
            "name": row.name,
            "group": row.group,
            "method": row.method,
            "host": row.host,
            "path": row.path,
            "required": required,
            "cells": {mode: cell.text for mode, cell in cells.items()},
        }
    )
    failures = {
        mode: (cell.outcome, cell.unexcused)
        for mode, cell in cells.items()
        if cell.failed and cell.pending is None
    }
    passing_pending = [mode for mode, cell in cells.items() if cell.pending is not None and not cell.failed]
    assert not failures, f"required {required}, upstream {ref.upstream}: {failures}"
    assert not passing_pending, (
        f"now equal: remove from PENDING_ON_OTHER_BRANCHES / OPEN_DIFFERENCES: {passing_pending}"
    )
