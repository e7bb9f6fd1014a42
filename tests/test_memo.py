"""The request path's memos stay bounded in entries and in bytes, however many distinct keys clients
send: flooded with 4,095 distinct 16 KB keys (what one memo of one worker used to hold whole, about
63 MiB), each holds at most its byte bound, measured with tracemalloc."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from frontdoor.contract import load_contract
from frontdoor.http import paths
from frontdoor.memo import DEFAULT_MAX_BYTES, Memo, weight
from frontdoor.policy.routing import Router

from .contracts import EDGE, TEAMS, environment, service, write

FLOOD = 4095
LARGE = 16 * 1024
# what a flooded memo may still hold: its byte bound (1 MiB), plus the entries' and the dict's overhead
MEMORY_BOUND = 3 * 1024 * 1024


def _large_paths() -> Iterator[str]:
    for n in range(FLOOD):
        yield "/" + f"{n:05d}" + "a" * (LARGE - 6)


def _held_after(flood: Callable[[], None]) -> int:
    """The bytes still allocated once ``flood`` ran (what it left behind: the memo's content)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        flood()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_memo_keeps_what_it_is_given_and_answers_it() -> None:
    memo: Memo[str, int] = Memo(4)
    assert memo.get("a") is None
    assert memo.keep("a", 1) == 1
    assert memo.get("a") == 1 and "a" in memo and len(memo) == 1


def test_a_full_memo_is_emptied_before_it_takes_one_more_entry() -> None:
    memo: Memo[int, int] = Memo(3)
    for n in range(3):
        memo.keep(n, n)
    memo.keep(3, 3)
    assert len(memo) == 1 and memo.get(3) == 3 and memo.get(0) is None


def test_a_memo_is_bounded_in_bytes_as_well_as_in_entries() -> None:
    memo: Memo[str, str] = Memo(1000, max_bytes=100)
    memo.keep("k" * 30, "v" * 30)  # 60 bytes
    memo.keep("x" * 20, "y" * 20)  # 100 bytes: at the bound, kept
    assert len(memo) == 2 and memo.held_bytes == 100
    memo.keep("z", "z")  # past the bound: emptied first
    assert len(memo) == 1 and memo.held_bytes == 2
    memo.keep("h" * 101, "")  # heavier than the whole bound alone: answered, never kept
    assert "h" * 101 not in memo and len(memo) == 1


def test_weight_counts_texts_and_the_parts_of_tuples() -> None:
    assert weight(b"abc") == 3 and weight("ab") == 2 and weight(("ab", b"c", 7)) == 3 and weight(7) == 0


def test_the_path_memo_holds_at_most_its_byte_bound_under_a_flood(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "_NORMALIZED", Memo(4096))

    def flood() -> None:
        for raw in _large_paths():
            assert paths.normalize_path(raw) == raw

    held = _held_after(flood)
    assert paths._NORMALIZED.held_bytes <= DEFAULT_MAX_BYTES
    assert held < MEMORY_BOUND, f"{held} bytes held by the path memo after {FLOOD} distinct 16 KB paths"


def test_the_route_memo_holds_at_most_its_byte_bound_under_a_flood(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "teams.yaml": TEAMS,
            "edge.yaml": EDGE,
            "a.yaml": service("orders", "app-a", "- {path: /, access: public}"),
            "env.yaml": environment("dev", ["orders"]),
        },
    )
    from frontdoor.plan import compile_plan

    router = Router(compile_plan(load_contract(root).contract, "dev").entrypoints)

    def flood() -> None:
        for path in _large_paths():  # each made here, as a request's path is: kept only by the memo
            assert router.match("shop.example.com", path, "GET").status == 200

    held = _held_after(flood)
    assert held < MEMORY_BOUND, f"{held} bytes held by the route memo after {FLOOD} distinct 16 KB paths"
