"""Bounded memos for the request path: plain dicts (a hit costs a third of functools.lru_cache's)
that are emptied when full, so that clients sending ever new keys (hosts, paths) cannot grow them."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, limit: int) -> V:
    """Keep ``value`` under ``key`` (emptying ``memo`` first if it holds ``limit`` entries); returns it."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value
