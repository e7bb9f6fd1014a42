from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .harness import RedisServer, Upstreams

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "shop"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server of the test's own, on a free loopback port."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def upstreams() -> Iterator[Upstreams]:
    """The test module's own upstream servers (tests/harness.py), closed after its last test."""
    servers = Upstreams()
    yield servers
    servers.close()


@pytest.fixture
def shop_copy(tmp_path: Path) -> Path:
    """A writable copy of the example contract."""
    target = tmp_path / "shop"
    shutil.copytree(SHOP, target)
    return target


def edit(root: Path, file: str, old: str, new: str) -> None:
    """Replace ``old`` (which must occur exactly once) with ``new`` in ``root/file``."""
    path = root / file
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {file}"
    path.write_text(text.replace(old, new))


def line_of(root: Path, file: str, needle: str) -> int:
    """1-based line of the first line of ``file`` containing ``needle``."""
    for number, line in enumerate((root / file).read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {file}")


Editor = Callable[[Path], None]
