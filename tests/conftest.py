from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "shop"


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
