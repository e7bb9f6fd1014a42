"""``demo --port-base``: the copy of the contract listens and connects exactly on the ports asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdoor.demo.ports import local_addresses, moved_contract
from frontdoor.errors import FrontdoorError
from frontdoor.plan import load_plan

from .conftest import SHOP, edit


def test_every_local_address_moves_in_order_and_nothing_else_changes(tmp_path: Path) -> None:
    # 9101 is both a new port (of the admin listener) and an old one (of orders): moved once, not twice
    copy = moved_contract(SHOP, "dev", 9100, tmp_path)
    assert local_addresses(load_plan(copy, "dev")) == [("127.0.0.1", 9100 + i) for i in range(7)]
    plan = load_plan(copy, "dev")
    assert str(plan.upstreams["orders"][0].url) == "http://127.0.0.1:9103"
    provider = plan.edge.spec.identity.providers[0] if plan.edge.spec.identity else None
    assert provider is not None and str(provider.jwks_uri) == "http://127.0.0.1:9102/keys"
    for original in SHOP.rglob("*.yaml"):
        moved = copy / original.relative_to(SHOP)
        before, after = original.read_text().splitlines(), moved.read_text().splitlines()
        assert len(before) == len(after)  # line numbers stay as written
        if original.name not in ("dev.yaml",):
            assert before == after, original


def test_an_address_the_rewrite_cannot_find_is_refused(shop_copy: Path, tmp_path: Path) -> None:
    edit(shop_copy, "environments/dev.yaml", '["http://127.0.0.1:9102"]', '["http://127.0.0.1"]')
    with pytest.raises(FrontdoorError, match=r"could not move 127\.0\.0\.1:80"):
        moved_contract(shop_copy, "dev", 30000, tmp_path / "out")


def test_ports_past_65535_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FrontdoorError, match="run past 65535"):
        moved_contract(SHOP, "dev", 65533, tmp_path)
