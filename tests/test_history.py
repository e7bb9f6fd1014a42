"""The dashboard's history (/admin/history) with two workers: each worker samples every worker's
numbers, so whichever worker the kernel hands the admin request to answers for the whole deployment."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import ContractSpec, Gateway, Upstreams, request

TOKEN = "history-token-1c9a"
DEADLINE_S = 30.0  # two 5-second steps and a worker's first snapshot, on a busy machine


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    upstreams = Upstreams()
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], admin_token=TOKEN)
    running = Gateway(
        spec.write(tmp_path / "contract"), spec, tmp_path / "access.log", "--no-watch", "--workers", "2"
    )
    yield running
    running.stop()
    upstreams.close()


def recorded(gateway: Gateway, route: str) -> int:
    status, body = gateway.admin("/admin/history")
    assert status == 200
    routes = {r["route"]: r for r in json.loads(body)["routes"]}
    return sum(routes[route]["requests"]) if route in routes else 0


def test_any_worker_answers_the_history_of_both(gateway: Gateway) -> None:
    for _ in range(40):  # a new connection each: SO_REUSEPORT spreads them over both workers
        assert request(gateway.spec.port, "GET", "/shop/x")[0] == 200
    deadline = time.monotonic() + DEADLINE_S
    answers: list[int] = []
    while time.monotonic() < deadline:
        answers = [recorded(gateway, "shop.0") for _ in range(6)]  # new connections: either worker
        if answers == [40] * 6:
            break
        time.sleep(0.5)
    assert answers == [40] * 6, answers


def denials(gateway: Gateway, route: str) -> dict[str, int]:
    status, body = gateway.admin("/admin/history")
    assert status == 200
    routes = {r["route"]: r for r in json.loads(body)["routes"]}
    by_kind = routes[route]["denied_by_kind"] if route in routes else {}
    return {kind: sum(steps) for kind, steps in by_kind.items()}


def test_denials_by_kind_are_the_sum_of_both_workers(gateway: Gateway) -> None:
    """The per-kind counts the dashboard stacks are every worker's, whichever worker answers."""
    for _ in range(30):  # each a new connection: both workers refuse some
        assert request(gateway.spec.port, "GET", "/private/x")[0] == 401
    deadline = time.monotonic() + DEADLINE_S
    answers: list[dict[str, int]] = []
    while time.monotonic() < deadline:
        answers = [denials(gateway, "shop.1") for _ in range(6)]
        if answers == [{"access": 30}] * 6:
            break
        time.sleep(0.5)
    assert answers == [{"access": 30}] * 6, answers
